"""Audit log rows and the session listener that writes them for every model that opts in."""

from __future__ import annotations

import contextvars
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, inspect
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import db, utcnow

# Who is acting outside a request (CLI, jobs); a request uses the logged-in user.
audit_actor: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "audit_actor", default=None
)


class AuditLog(db.Model):
    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_entity", "entity", "entity_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    entity: Mapped[str] = mapped_column(sa.String(64))
    entity_id: Mapped[int] = mapped_column()
    action: Mapped[str] = mapped_column(sa.String(16))
    # {field: [old, new]}; excluded fields appear as ["***", "***"] so the change is still seen.
    changes: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class Audited:
    """Mixin: changes to this model are written to the audit log."""

    __audit_exclude__: tuple[str, ...] = ()


_SKIP = {"updated_at", "created_at", "version"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "id") and hasattr(value, "__table__"):
        return value.id
    return value


def field_changes(obj: Any, action: str) -> dict[str, Any]:
    state = inspect(obj)
    exclude = set(getattr(obj, "__audit_exclude__", ()))
    out: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in _SKIP or key == "id":
            continue
        hist = state.attrs[key].history
        if action == "create":
            value = getattr(obj, key)
            if value is None:
                continue
            out[key] = ["***", "***"] if key in exclude else [None, _plain(value)]
        elif action == "delete":
            value = (
                hist.unchanged[0] if hist.unchanged else (hist.deleted[0] if hist.deleted else None)
            )
            if value is not None:
                out[key] = ["***", "***"] if key in exclude else [_plain(value), None]
        elif hist.has_changes():
            old = hist.deleted[0] if hist.deleted else None
            new = hist.added[0] if hist.added else None
            if old == new:
                continue
            out[key] = ["***", "***"] if key in exclude else [_plain(old), _plain(new)]
    for rel in state.mapper.relationships:
        if rel.secondary is None or action == "delete":
            continue
        hist = state.attrs[rel.key].history
        if action == "create":
            # A user created with the administrator role must show it in the history.
            added = sorted(o.id for o in hist.added)
            if added:
                out[rel.key] = [None, added]
        elif hist.added or hist.deleted:
            before = sorted({o.id for o in hist.unchanged} | {o.id for o in hist.deleted})
            after = sorted({o.id for o in hist.unchanged} | {o.id for o in hist.added})
            out[rel.key] = [before, after]
    return out


def current_actor_id() -> int | None:
    actor = audit_actor.get()
    if actor is not None:
        return actor
    try:
        from flask import g, has_request_context

        if has_request_context():
            user = g.get("crm_user")
            return getattr(user, "id", None)
    except Exception:  # noqa: BLE001 - auditing must never break a write
        return None
    return None


@event.listens_for(Session, "before_flush")
def _stamp_author(session: Session, flush_context, instances) -> None:
    """Fill ``created_by_id`` of new business records with whoever is acting."""
    actor = None
    for obj in session.new:
        if hasattr(obj, "created_by_id") and obj.created_by_id is None:
            actor = actor if actor is not None else current_actor_id()
            if actor is None:
                return
            obj.created_by_id = actor


@event.listens_for(Session, "after_flush")
def _write_audit(session: Session, flush_context) -> None:
    rows = []
    for action, objects in (
        ("create", session.new),
        ("update", session.dirty),
        ("delete", session.deleted),
    ):
        for obj in objects:
            if not isinstance(obj, Audited):
                continue
            if action == "update" and not session.is_modified(obj):
                continue
            changes = field_changes(obj, action)
            if action == "update" and not changes:
                continue
            rows.append(
                {
                    "at": utcnow(),
                    "user_id": current_actor_id(),
                    "entity": obj.__tablename__,
                    "entity_id": inspect(obj).identity[0] if inspect(obj).identity else obj.id,
                    "action": action,
                    "changes": changes,
                }
            )
    if rows:
        session.connection().execute(sa.insert(AuditLog.__table__), rows)
