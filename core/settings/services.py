"""Reading and validating settings declared by core and plugins."""

from __future__ import annotations

import copy
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from core.cache import cached
from core.db import db
from core.plugin_system.types import SettingDefinition
from core.settings.models import Setting


def definitions(app: Flask | None = None) -> list[tuple[str, SettingDefinition]]:
    """(plugin name, definition) for core and every active plugin, in declaration order."""
    app = app or current_app
    return app.extensions["crm_plugins"].collect("settings", app=app)


def _definition(key: str) -> SettingDefinition | None:
    return next((d for _, d in definitions() if d.key == key), None)


def get(key: str) -> Any:
    """A setting's value, or its default; kept in the worker cache (core.cache)."""
    value = cached(("setting", key), lambda: _read(key))
    # Lists and dicts are shared by every request of the worker: each caller gets its own.
    return copy.deepcopy(value) if isinstance(value, list | dict) else value


def _read(key: str) -> Any:
    row = db.session.execute(sa.select(Setting.value).filter_by(key=key)).first()
    if row is not None:
        return row.value
    definition = _definition(key)
    return definition.default if definition else None


def coerce(definition: SettingDefinition, raw: Any) -> Any:
    """The typed value for ``raw`` or ValueError with a message for the user."""
    if definition.kind == "bool":
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("1", "true", "on", "yes", "y"):
            return True
        if str(raw).lower() in ("0", "false", "off", "no", "n", ""):
            return False
        raise ValueError("Enter yes or no.")
    if definition.kind == "int":
        if isinstance(raw, bool):
            raise ValueError("Enter a whole number.")
        try:
            number = int(str(raw).strip())
        except ValueError:
            raise ValueError("Enter a whole number.") from None
        if not definition.min_value <= number <= definition.max_value:
            raise ValueError(
                f"Enter a number from {definition.min_value} to {definition.max_value}."
            )
        return number
    value = "" if raw is None else str(raw).strip()
    if definition.kind == "choice" and value not in definition.choices:
        raise ValueError(f"Choose one of: {', '.join(definition.choices)}.")
    if len(value) > definition.max_length:
        raise ValueError(f"Use at most {definition.max_length} characters.")
    return value


def save(values: dict[str, Any]) -> dict[str, list[str]]:
    """Validate every value first; save all or nothing. Returns errors per key."""
    errors: dict[str, list[str]] = {}
    typed: dict[str, Any] = {}
    for key, raw in values.items():
        definition = _definition(key)
        if definition is None:
            errors[key] = ["Unknown setting."]
            continue
        try:
            typed[key] = coerce(definition, raw)
        except ValueError as exc:
            errors[key] = [str(exc)]
    if errors:
        return errors
    rows = {
        r.key: r
        for r in db.session.execute(sa.select(Setting).where(Setting.key.in_(typed))).scalars()
    }
    for key, value in typed.items():
        row = rows.get(key)
        if row is None:
            db.session.add(Setting(key=key, value=value))
        elif row.value != value:
            row.value = value
    db.session.commit()
    return {}
