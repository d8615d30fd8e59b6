"""Merging duplicate clients into one without losing anything.

The surviving client takes the chosen field values; every phone, e-mail, address, tag,
contact person, relation and custom value of the others moves to it (nothing is thrown
away: notes are joined, empty fields filled). The merged clients stay in the trash with
``merged_into_id`` set, so their history still reads, and core's parts and the plugins
move their own references in the ``client_merged`` hook. Everything happens in one
transaction, committed once at the end: if any part fails, nothing is merged.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from core.audit.models import AuditLog, current_actor_id
from core.clients import normalise, search
from core.clients.dupscan import services as dupscan
from core.clients.models import (
    Address,
    Client,
    ClientRelation,
    ContactMove,
    ContactPerson,
    Email,
    Phone,
    client_tags,
)
from core.clients.services import SIMPLE_FIELDS
from core.db import caller_commits, db, utcnow
from core.plugin_system.registry import HookFailed
from core.users.services import ValidationFailed

log = logging.getLogger(__name__)

# Fields a user picks from one of the clients; notes are joined instead.
CHOOSABLE = tuple(f for f in SIMPLE_FIELDS if f != "notes")


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def merge(survivor: Client, others: list[Client], choose: dict[str, int]) -> Client:
    """Merge ``others`` into ``survivor``; ``choose``: field -> id of the client to take it from."""
    by_id = {c.id: c for c in [survivor, *others]}
    errors: dict[str, list[str]] = {}
    if not others:
        errors["merged_ids"] = ["Choose at least one client to merge."]
    if any(o.id == survivor.id for o in others):
        errors["merged_ids"] = ["A client cannot be merged into itself."]
    if any(c.deleted_at is not None for c in by_id.values()):
        errors["merged_ids"] = ["Clients in the trash cannot be merged; restore them first."]
    for field, source in choose.items():
        if field not in CHOOSABLE:
            errors[f"fields.{field}"] = ["This field cannot be chosen."]
        elif source not in by_id:
            errors[f"fields.{field}"] = ["Take it from one of the merged clients."]
    if errors:
        raise ValidationFailed(errors)

    merged_ids = [o.id for o in others]
    changes: dict[str, Any] = {"merged": [None, merged_ids]}
    with db.session.no_autoflush:
        for field in CHOOSABLE:
            current = getattr(survivor, field)
            if field in choose:
                value = getattr(by_id[choose[field]], field)
            elif current in (None, ""):
                # Fill what the survivor lacks from the first other client that has it.
                value = next(
                    (getattr(o, field) for o in others if getattr(o, field) not in (None, "")),
                    current,
                )
            else:
                value = current
            if value != current:
                changes[field] = [_plain(current), _plain(value)]
                setattr(survivor, field, value)
        survivor.name_key = normalise.name_key(survivor.name)
        survivor.tax_id_key = normalise.tax_id(survivor.tax_id) if survivor.tax_id else None
        notes = [survivor.notes or ""] + [o.notes for o in others if o.notes]
        joined = "\n\n".join(n for n in dict.fromkeys(notes) if n)
        if joined != (survivor.notes or ""):
            survivor.notes = joined
            changes["notes"] = ["…", "joined"]
        custom = dict(survivor.custom or {})
        for other in others:
            for key, value in (other.custom or {}).items():
                custom.setdefault(key, value)
        if custom != (survivor.custom or {}):
            changes["custom"] = [survivor.custom, custom]
            survivor.custom = custom

    _move_children(survivor.id, merged_ids)
    now, actor = utcnow(), current_actor_id()
    for other in others:
        other.deleted_at = now
        other.deleted_by_id = actor
        other.merged_into_id = survivor.id
    survivor.updated_at = now
    db.session.flush()
    db.session.execute(
        sa.insert(AuditLog),
        [
            {
                "at": now,
                "user_id": actor,
                "entity": "clients",
                "entity_id": survivor.id,
                "action": "merge",
                "changes": changes,
            },
            *(
                {
                    "at": now,
                    "user_id": actor,
                    "entity": "clients",
                    "entity_id": other_id,
                    "action": "merge",
                    "changes": {"merged_into": [None, survivor.id]},
                }
                for other_id in merged_ids
            ),
        ],
    )
    search.reindex([survivor.id, *merged_ids])
    dupscan.mark_merged(survivor.id, merged_ids, actor)
    _plugins_move(survivor, merged_ids)
    db.session.commit()
    return survivor


def _plugins_move(survivor: Client, merged_ids: list[int]) -> None:
    """Let core's parts and every active plugin move their references (``client_merged``)
    in this transaction. If one fails, everything is rolled back and ValidationFailed
    says whose part failed: a merge is saved whole or not at all."""
    app = current_app._get_current_object()
    registry = app.extensions["crm_plugins"]
    try:
        with caller_commits("client_merged") as check:
            registry.call_each_or_fail(
                "client_merged", after_each=check, app=app, survivor=survivor, merged_ids=merged_ids
            )
    except HookFailed as exc:
        db.session.rollback()
        if isinstance(exc.error, ValidationFailed):
            raise exc.error from exc  # the plugin refuses the merge, with its reasons
        log.error("merge of %s into %s cancelled: %s", merged_ids, survivor.id, exc, exc_info=exc)
        title = registry.title(exc.plugin_name)
        message = _(
            "Nothing was merged: %(plugin)s could not move its records to the surviving "
            "client. The details are in the server log.",
            plugin=title,
        )
        raise ValidationFailed({"merged_ids": [message]}, 409) from exc


def _move_children(survivor_id: int, merged_ids: list[int]) -> None:
    """Re-point every row that belongs to a merged client at the survivor, without doubles."""
    for model in (ContactPerson, Address):
        db.session.execute(
            sa.update(model).where(model.client_id.in_(merged_ids)).values(client_id=survivor_id)
        )
    for model, key in ((Phone, Phone.e164), (Email, Email.email)):
        db.session.execute(
            sa.update(model).where(model.client_id.in_(merged_ids)).values(client_id=survivor_id)
        )
        # The same number or address twice on the company itself: keep the oldest row.
        keep = (
            sa.select(sa.func.min(model.id))
            .where(model.client_id == survivor_id, model.contact_person_id.is_(None))
            .group_by(key)
        )
        db.session.execute(
            sa.delete(model).where(
                model.client_id == survivor_id,
                model.contact_person_id.is_(None),
                model.id.not_in(keep),
            )
        )
    tag_ids = set(
        db.session.execute(
            sa.select(client_tags.c.tag_id).where(
                client_tags.c.client_id.in_([survivor_id, *merged_ids])
            )
        ).scalars()
    )
    db.session.execute(
        sa.delete(client_tags).where(client_tags.c.client_id.in_([survivor_id, *merged_ids]))
    )
    if tag_ids:
        db.session.execute(
            sa.insert(client_tags),
            [{"client_id": survivor_id, "tag_id": t} for t in sorted(tag_ids)],
        )
    relations = (
        db.session.execute(
            sa.select(ClientRelation).where(
                sa.or_(
                    ClientRelation.client_id.in_(merged_ids),
                    ClientRelation.other_id.in_(merged_ids),
                )
            )
        )
        .scalars()
        .all()
    )
    seen = set(
        db.session.execute(
            sa.select(ClientRelation.client_id, ClientRelation.other_id, ClientRelation.kind).where(
                ClientRelation.client_id == survivor_id
            )
        ).all()
    )
    for relation in relations:
        client_id = survivor_id if relation.client_id in merged_ids else relation.client_id
        other_id = survivor_id if relation.other_id in merged_ids else relation.other_id
        if client_id == other_id or (client_id, other_id, relation.kind) in seen:
            db.session.delete(relation)  # a relation between merged clients, or a double
            continue
        seen.add((client_id, other_id, relation.kind))
        relation.client_id, relation.other_id = client_id, other_id
    for column in (ContactMove.from_client_id, ContactMove.to_client_id):
        db.session.execute(
            sa.update(ContactMove).where(column.in_(merged_ids)).values({column.key: survivor_id})
        )
