"""Enabling and disabling plugins: the one implementation behind the UI, the API and the CLI."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, current_app

from core.db import db
from core.plugin_system.models import PluginState
from core.plugin_system.registry import PluginRegistry

log = logging.getLogger(__name__)


class PluginError(Exception):
    """A refused toggle; ``status`` is the HTTP status the API answers with."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class PluginView:
    name: str
    title: str
    version: str
    description: str
    requires: list[str]
    required_by: list[str]
    distribution: str
    enabled: bool
    # False when the code itself cannot run here (import error, bad hook, missing requirement).
    loadable: bool
    state: str  # enabled, disabled or failed
    error: str | None
    schema_revision: str | None


def registry(app: Flask | None = None) -> PluginRegistry:
    return (app or current_app).extensions["crm_plugins"]


def _row(name: str) -> PluginState:
    row = db.session.execute(db.select(PluginState).filter_by(name=name)).scalar_one_or_none()
    if row is None:
        row = PluginState(name=name, enabled=False, status="ok")
        db.session.add(row)
    return row


def sync_discovered(app: Flask) -> list[str]:
    """Give every newly discovered plugin a state row (disabled); return their names."""
    reg = registry(app)
    known = set(db.session.execute(db.select(PluginState.name)).scalars())
    new = [name for name in reg.plugins if name not in known]
    for name in new:
        db.session.add(PluginState(name=name, enabled=False, status="ok"))
    db.session.commit()
    reg.refresh(force=True)
    return new


def overview(app: Flask | None = None) -> list[PluginView]:
    reg = registry(app)
    reg.refresh()
    rows = {r.name: r for r in db.session.execute(db.select(PluginState)).scalars()}
    views = []
    for name, info in sorted(reg.plugins.items()):
        row = rows.get(name)
        enabled = bool(row and row.enabled)
        error = info.load_error or (row.error if row and row.status == "failed" else None)
        if error is None and enabled and not reg.is_active(name):
            error = reg.inactive_reason(name)
        state = "failed" if error else ("enabled" if enabled else "disabled")
        views.append(
            PluginView(
                name=name,
                title=info.title or name,
                version=info.version,
                description=info.description,
                requires=list(info.requires),
                required_by=sorted(n for n, i in reg.plugins.items() if name in i.requires),
                distribution=info.distribution,
                enabled=enabled,
                loadable=info.loaded,
                state=state,
                error=error,
                schema_revision=row.schema_revision if row else None,
            )
        )
    return views


def get(name: str, app: Flask | None = None) -> PluginView:
    for view in overview(app):
        if view.name == name:
            return view
    raise PluginError(f"unknown plugin {name!r}", status=404)


def _serialise_toggles() -> None:
    """One toggle at a time across processes (PostgreSQL; SQLite serialises its writers)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(db.text("SELECT pg_advisory_xact_lock(7312650001)"))
        db.session.expire_all()  # read the state as the previous toggle left it


def enable(name: str, app: Flask | None = None) -> PluginView:
    app = app or current_app._get_current_object()
    reg = registry(app)
    info = reg.plugins.get(name)
    if info is None:
        raise PluginError(f"unknown plugin {name!r}", status=404)
    _serialise_toggles()
    if not info.loaded:
        raise PluginError(f"plugin {name!r} cannot be enabled: {info.load_error}")
    reg.refresh(force=True)
    missing = [r for r in info.requires if not reg.is_active(r)]
    if missing:
        raise PluginError(
            f"plugin {name!r} requires {', '.join(repr(m) for m in missing)}, "
            "which must be enabled first"
        )
    row = _row(name)
    if row.enabled and row.status == "ok":
        return get(name, app)
    revision = row.schema_revision
    if info.migrations_path is not None:
        from core.plugin_system import migrations  # Alembic: only when a plugin is enabled

        try:
            revision = migrations.upgrade(db.engine, info.migrations_path, name)
        except Exception as exc:  # noqa: BLE001 - any migration failure marks the plugin failed
            db.session.rollback()
            row = _row(name)
            row.status = "failed"
            row.error = f"migration failed: {type(exc).__name__}: {exc}"
            db.session.commit()
            log.exception("plugin %s: migration failed", name)
            raise PluginError(f"plugin {name!r} could not be enabled: {row.error}") from exc
    row.enabled = True
    row.status = "ok"
    row.error = None
    row.schema_revision = revision
    row.installed_version = info.version
    db.session.commit()
    reg.refresh(force=True)
    reg.notify("plugin_enabled", app=app, name=name)
    log.info("plugin %s enabled", name)
    return get(name, app)


def disable(name: str, app: Flask | None = None) -> PluginView:
    app = app or current_app._get_current_object()
    reg = registry(app)
    if name not in reg.plugins:
        raise PluginError(f"unknown plugin {name!r}", status=404)
    _serialise_toggles()
    reg.refresh(force=True)
    dependents = sorted(n for n in reg.active if name in reg.plugins[n].requires)
    if dependents:
        raise PluginError(
            f"plugin {name!r} cannot be disabled: {', '.join(repr(d) for d in dependents)} "
            "requires it; disable that first"
        )
    row = _row(name)
    if not row.enabled:
        return get(name, app)
    row.enabled = False
    db.session.commit()
    reg.refresh(force=True)
    reg.notify("plugin_disabled", app=app, name=name)
    log.info("plugin %s disabled", name)
    return get(name, app)


def upgrade_enabled(app: Flask) -> list[tuple[str, str | None]]:
    """Upgrade the schema of every enabled plugin (``crm db upgrade``); return new revisions."""
    reg = registry(app)
    from core.plugin_system import migrations  # Alembic is not loaded by every web worker

    done = []
    rows = db.session.execute(db.select(PluginState).filter_by(enabled=True)).scalars().all()
    for row in rows:
        info = reg.plugins.get(row.name)
        if info is None or not info.loaded or info.migrations_path is None:
            continue
        try:
            row.schema_revision = migrations.upgrade(db.engine, info.migrations_path, row.name)
            row.status, row.error = "ok", None
        except Exception as exc:  # noqa: BLE001
            db.session.rollback()
            row = _row(row.name)
            row.status = "failed"
            row.error = f"migration failed: {type(exc).__name__}: {exc}"
            log.error("plugin %s: %s", row.name, row.error)
        db.session.commit()
        done.append((row.name, row.schema_revision))
    reg.refresh(force=True)
    return done
