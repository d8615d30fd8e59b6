"""Links from one record to another ("client" 42, "sales.deal" 7), whatever module owns it.

Tasks, comments, documents and attachments point at records of any kind declared through
the ``record_types`` hook. A link is made only to a record the user may see, and shown
only to users who may see it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app

from core.plugin_system.types import RecordType


@dataclass(frozen=True)
class Linked:
    kind: str
    id: int
    title: str
    url: str


def types() -> dict[str, RecordType]:
    """The record kinds of core and every active plugin."""
    registry = current_app.extensions["crm_plugins"]
    return {t.kind: t for _, t in registry.collect("record_types", app=current_app)}


def resolve(links: Iterable[tuple[str, int]], user: Any) -> dict[tuple[str, int], Linked]:
    """The records among ``links`` that ``user`` may see, one query per kind."""
    wanted: dict[str, set[int]] = {}
    for kind, record_id in links:
        wanted.setdefault(kind, set()).add(record_id)
    known = types()
    out: dict[tuple[str, int], Linked] = {}
    for kind, ids in wanted.items():
        record_type = known.get(kind)
        if record_type is None:
            continue  # its plugin is disabled or gone: the link shows as unavailable
        for record_id, (title, url) in record_type.resolve(sorted(ids), user).items():
            out[(kind, record_id)] = Linked(kind, record_id, title, url)
    return out


def visible(kind: str, record_id: int, user: Any) -> Linked | None:
    """The record if ``user`` may see it; None when it does not exist, is hidden from the
    user or its kind is unknown (callers refuse the link with one message for all three)."""
    return resolve([(kind, record_id)], user).get((kind, record_id))


def resolve_clients(ids: list[int], user: Any) -> dict[int, tuple[str, str]]:
    """``RecordType.resolve`` for clients: live clients in the user's scope, for a user
    who may see clients at all."""
    if not user.has_permission("clients.view"):
        return {}
    import sqlalchemy as sa
    from flask import url_for

    from core.clients.models import Client
    from core.db import db
    from core.security import scoped

    query = scoped(
        sa.select(Client.id, Client.name).where(Client.id.in_(ids), Client.deleted_at.is_(None)),
        user,
        "clients",
        Client.owner_id,
    )
    return {
        client_id: (name, url_for("clients.card", client_id=client_id))
        for client_id, name in db.session.execute(query)
    }


def forget(kind: str, record_id: int, move_tasks_to: tuple[str, int] | None = None) -> list:
    """Before a record is deleted for good, what points at it by kind and id, which would
    otherwise outlive it and show on a later record given the same id (SQLite hands out
    the highest id again): its comments and attachments are deleted, the documents and
    notifications made from it keep their text but lose the link, and its tasks move to
    ``move_tasks_to`` (a deal's go to its client) or are deleted. In the caller's
    transaction; returns the attachments' files, to remove once that is committed."""
    import sqlalchemy as sa

    from core.db import db
    from core.documents.attachments import path_of
    from core.documents.models import Attachment, Document
    from core.interactions.models import Comment
    from core.notifications.models import Notification
    from core.tasks.models import Task

    def linked(model):  # noqa: ANN001, ANN202
        return sa.and_(model.record_kind == kind, model.record_id == record_id)

    files = [
        path_of(a)
        for a in db.session.execute(sa.select(Attachment).where(linked(Attachment))).scalars()
    ]
    db.session.execute(sa.delete(Attachment).where(linked(Attachment)))
    db.session.execute(sa.delete(Comment).where(linked(Comment)))
    for model in (Document, Notification):
        db.session.execute(
            sa.update(model).where(linked(model)).values(record_kind=None, record_id=None)
        )
    if move_tasks_to is None:
        db.session.execute(sa.delete(Task).where(linked(Task)))
    else:
        new_kind, new_id = move_tasks_to
        db.session.execute(
            sa.update(Task).where(linked(Task)).values(record_kind=new_kind, record_id=new_id)
        )
    return files
