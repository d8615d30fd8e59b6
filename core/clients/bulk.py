"""Changing many clients at once: a selection or everything a filter matches, within scope.

Assign an owner, set a status, add or remove tags, or move to the trash. Each changed client
gets its own audit entry (who, when, old and new value) and its own ``client_updated`` or
``client_deleted`` event, exactly as if it had been edited alone.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from flask import current_app

from core.audit.models import AuditLog, current_actor_id
from core.clients import queries, search, services
from core.clients.models import Client, Tag, client_tags
from core.db import db, utcnow
from core.security import scoped
from core.users.models import User
from core.users.services import ValidationFailed

ACTIONS = {
    "assign_owner": "clients.edit",
    "set_status": "clients.edit",
    "add_tags": "clients.edit",
    "remove_tags": "clients.edit",
    "trash": "clients.delete",
}
# Larger jobs are refused with a message rather than holding a worker for minutes.
MAX_CLIENTS = 50_000
BATCH = 500


def target_ids(user: Any, ids: list[int] | None, params: queries.ClientQuery | None) -> list[int]:
    """The live clients ``user`` may see among ``ids``, or all that ``params`` matches."""
    if ids is not None:
        query = scoped(
            sa.select(Client.id).where(Client.id.in_(ids), Client.deleted_at.is_(None)),
            user,
            "clients",
            Client.owner_id,
        )
        return sorted(db.session.execute(query).scalars())
    query, _id_col, _words = queries.build(replace(params, cursor=None), user)
    query = query.with_only_columns(Client.id, maintain_column_froms=True).limit(MAX_CLIENTS + 1)
    found = sorted(set(db.session.execute(query).scalars()))
    if len(found) > MAX_CLIENTS:
        raise ValidationFailed(
            {
                "filter": [
                    f"The filter matches more than {MAX_CLIENTS:,} clients; narrow it down first."
                ]
            }
        )
    return found


def _validate(action: str, value: Any) -> Any:
    if action not in ACTIONS:
        raise ValidationFailed({"action": [f"Choose one of: {', '.join(ACTIONS)}."]})
    if action == "assign_owner":
        owner = db.session.get(User, value) if isinstance(value, int) else None
        if owner is None or not owner.active:
            raise ValidationFailed({"value": ["Choose an active user as the owner."]})
        return owner.id
    if action == "set_status":
        if value not in {o.code for o in services.options("status")}:
            raise ValidationFailed({"value": ["Choose one of the statuses."]})
        return value
    if action in ("add_tags", "remove_tags"):
        names = [str(v).strip()[:60] for v in (value or []) if str(v).strip()]
        if not names:
            raise ValidationFailed({"value": ["Give at least one tag."]})
        return names
    return None


def apply(user: Any, action: str, value: Any, ids: list[int]) -> int:
    """Apply ``action`` to the clients ``ids`` (already scoped); return how many changed."""
    value = _validate(action, value)
    if not ids:
        return 0
    now, actor = utcnow(), current_actor_id()
    changed: list[tuple[int, dict[str, Any]]] = []
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        changed.extend(_apply_chunk(action, value, chunk, now, actor))
    db.session.commit()
    app = current_app._get_current_object()
    registry = app.extensions["crm_plugins"]
    for client in db.session.execute(
        sa.select(Client).where(Client.id.in_([cid for cid, _ in changed]))
    ).scalars():
        if action == "trash":
            registry.notify("client_deleted", app=app, client=client)
        else:
            changes = dict(changed)[client.id]
            registry.notify("client_updated", app=app, client=client, changes=changes)
    return len(changed)


def _apply_chunk(action: str, value: Any, chunk: list[int], now, actor) -> list[tuple[int, dict]]:
    result: list[tuple[int, dict]] = []
    if action in ("assign_owner", "set_status", "trash"):
        column = {
            "assign_owner": Client.owner_id,
            "set_status": Client.status,
            "trash": Client.deleted_at,
        }[action]
        new = now if action == "trash" else value
        rows = db.session.execute(
            sa.select(Client.id, column).where(Client.id.in_(chunk), column.is_distinct_from(new))
        ).all()
        ids = [r[0] for r in rows]
        if not ids:
            return []
        values = {column.key: new, "updated_at": now, "version": Client.version + 1}
        if action == "trash":
            values["deleted_by_id"] = actor
        db.session.execute(sa.update(Client).where(Client.id.in_(ids)).values(values))
        for client_id, old in rows:
            change = {
                column.key: [
                    old.isoformat() if hasattr(old, "isoformat") else old,
                    new.isoformat() if hasattr(new, "isoformat") else new,
                ]
            }
            result.append((client_id, change))
    else:
        tag_ids = _tag_ids(value, create=action == "add_tags")
        before = _tags_of(chunk)
        if action == "add_tags":
            rows = [
                {"client_id": c, "tag_id": t}
                for c in chunk
                for t in tag_ids
                if t not in before.get(c, {})
            ]
            if rows:
                db.session.execute(sa.insert(client_tags), rows)
        elif tag_ids:
            db.session.execute(
                sa.delete(client_tags).where(
                    client_tags.c.client_id.in_(chunk), client_tags.c.tag_id.in_(tag_ids)
                )
            )
        after = _tags_of(chunk)
        names = dict(db.session.execute(sa.select(Tag.id, Tag.name)).all())
        for client_id in chunk:
            old, new = before.get(client_id, set()), after.get(client_id, set())
            if old != new:
                result.append(
                    (
                        client_id,
                        {"tags": [sorted(names[t] for t in old), sorted(names[t] for t in new)]},
                    )
                )
        touched = [cid for cid, _ in result]
        if touched:
            db.session.execute(
                sa.update(Client)
                .where(Client.id.in_(touched))
                .values(updated_at=now, version=Client.version + 1)
            )
            search.reindex(touched)
    if result:
        db.session.execute(
            sa.insert(AuditLog),
            [
                {
                    "at": now,
                    "user_id": actor,
                    "entity": "clients",
                    "entity_id": client_id,
                    "action": "delete" if action == "trash" else "update",
                    "changes": change,
                }
                for client_id, change in result
            ],
        )
    return result


def _tag_ids(names: list[str], create: bool) -> list[int]:
    found = dict(db.session.execute(sa.select(Tag.name, Tag.id).where(Tag.name.in_(names))).all())
    for name in names:
        if name not in found and create:
            tag = Tag(name=name)
            db.session.add(tag)
            db.session.flush()
            found[name] = tag.id
    return [found[n] for n in names if n in found]


def _tags_of(ids: list[int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for client_id, tag_id in db.session.execute(
        sa.select(client_tags.c.client_id, client_tags.c.tag_id).where(
            client_tags.c.client_id.in_(ids)
        )
    ):
        out.setdefault(client_id, set()).add(tag_id)
    return out
