"""Custom client fields an admin defines: their definitions and the validation of values."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from core.cache import cached
from core.clients.models import CustomField
from core.db import db

KINDS = ("text", "number", "date", "choice", "multi", "bool")
KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_CHOICES = 200


@dataclass(frozen=True)
class FieldDef:
    """An active custom field as lists, cards, forms and validation read it."""

    id: int
    key: str
    label: str
    kind: str
    choices: tuple[str, ...]
    required: bool
    position: int


def active_fields() -> tuple[FieldDef, ...]:
    """The active custom fields in order; kept in the worker cache (core.cache)."""

    def load() -> tuple[FieldDef, ...]:
        rows = db.session.execute(
            sa.select(
                CustomField.id,
                CustomField.key,
                CustomField.label,
                CustomField.kind,
                CustomField.choices,
                CustomField.required,
                CustomField.position,
            )
            .filter_by(active=True)
            .order_by(CustomField.position, CustomField.id)
        )
        return tuple(
            FieldDef(i, key, label, kind, tuple(choices or ()), bool(required), position)
            for i, key, label, kind, choices, required, position in rows
        )

    return cached("custom_fields", load)


def coerce(field: FieldDef | CustomField, raw: Any) -> Any:
    """The stored form of ``raw`` for ``field`` (None for empty); ValueError with a reason."""
    if raw is None or raw == "" or raw == []:
        return None
    if field.kind == "text":
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            raise ValueError("Enter text.")
        value = str(raw).strip()
        if len(value) > 1000:
            raise ValueError("Use at most 1000 characters.")
        return value or None
    if field.kind == "number":
        if isinstance(raw, bool):
            raise ValueError("Enter a number.")
        try:
            number = float(str(raw).replace(",", ".").strip())
        except ValueError:
            raise ValueError("Enter a number.") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError("Enter a number.")
        return int(number) if number.is_integer() else number
    if field.kind == "date":
        if isinstance(raw, date):
            return raw.isoformat()
        try:
            return date.fromisoformat(str(raw).strip()).isoformat()
        except ValueError:
            raise ValueError("Enter a date as YYYY-MM-DD.") from None
    if field.kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "y", "on", "да", "ja", "da"):
            return True
        if text in ("0", "false", "no", "n", "off", "нет", "nein", "nu"):
            return False
        raise ValueError("Enter yes or no.")
    if field.kind == "choice":
        value = str(raw).strip()
        if value not in field.choices:
            raise ValueError(f"Choose one of: {', '.join(field.choices)}.")
        return value
    if field.kind == "multi":
        values = raw if isinstance(raw, list) else [v for v in str(raw).split(";")]
        values = [str(v).strip() for v in values if str(v).strip()]
        bad = [v for v in values if v not in field.choices]
        if bad:
            raise ValueError(f"{', '.join(bad)} not among: {', '.join(field.choices)}.")
        return list(dict.fromkeys(values)) or None
    raise ValueError("Unknown field kind.")


def validate_custom(merged: dict[str, Any], submitted: dict[str, Any]) -> dict[str, list[str]]:
    """Errors keyed ``custom.<key>``; ``submitted`` values are coerced in place."""
    errors: dict[str, list[str]] = {}
    fields = {f.key: f for f in active_fields()}
    for key in submitted:
        if key not in fields:
            errors[f"custom.{key}"] = ["Unknown custom field."]
    for key, field in fields.items():
        if key in submitted:
            try:
                submitted[key] = coerce(field, submitted[key])
                merged[key] = submitted[key]
            except ValueError as exc:
                errors[f"custom.{key}"] = [str(exc)]
                continue
        if field.required and merged.get(key) in (None, "", []):
            errors[f"custom.{key}"] = [f"{field.label} is required."]
    return errors


def save_field(field: CustomField, data: dict[str, Any]) -> CustomField:
    from core.users.services import ValidationFailed

    errors: dict[str, list[str]] = {}
    key = data.get("key", field.key)
    if field.id is None:
        if not key or not KEY.match(key):
            errors["key"] = ["Use lower-case letters, digits and _, starting with a letter."]
        elif db.session.execute(sa.select(CustomField.id).filter_by(key=key)).first():
            errors["key"] = ["A custom field with this key exists already."]
    kind = data.get("kind", field.kind)
    if kind not in KINDS:
        errors["kind"] = [f"Choose one of: {', '.join(KINDS)}."]
    if field.id is not None and "kind" in data and data["kind"] != field.kind:
        errors["kind"] = ["The kind of an existing field cannot change."]
    choices = [c.strip() for c in data.get("choices", field.choices or []) if c and c.strip()]
    if kind in ("choice", "multi"):
        # The same rules for the API's POST and PATCH and the settings page. ";" separates
        # choices in that page and in imported cells: a choice holding one would be split.
        if not choices:
            errors["choices"] = ["Give at least one choice."]
        elif len(choices) > MAX_CHOICES:
            errors["choices"] = [f"Give at most {MAX_CHOICES} choices."]
        elif any(len(c) > 120 for c in choices):
            errors["choices"] = ["Use at most 120 characters for a choice."]
        elif any(";" in c for c in choices):
            errors["choices"] = ["A choice cannot contain ; (it separates choices)."]
    if not (data.get("label", field.label) or "").strip():
        errors["label"] = ["Enter a label."]
    if errors:
        raise ValidationFailed(errors)
    if field.id is None:
        field.key = key
        field.kind = kind
    field.label = data.get("label", field.label).strip()
    field.choices = list(dict.fromkeys(choices)) if kind in ("choice", "multi") else []
    for attr in ("required", "position", "active"):
        if attr in data:
            setattr(field, attr, data[attr])
    if field.id is None:
        db.session.add(field)
    db.session.commit()
    return field
