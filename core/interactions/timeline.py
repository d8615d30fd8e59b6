"""The client's timeline: every provider's items (``timeline_items``) merged newest first,
a page at a time by the key ``(at, kind, id)``, and core's own providers.

Each provider returns at most ``limit + 1`` items after the cursor, so the newest ``limit``
of their union are the page, and one more says there is a next page: no COUNT, and a
fixed number of queries however long the page is. Providers that return
``TimelineSource``s (core's and the sales plugin's) have their reads run together, in one
statement for the whole page (core.reads); the card adds them to its own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, time
from typing import Any

import sqlalchemy as sa
from flask import current_app, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.audit.models import AuditLog
from core.clients.models import Client
from core.db import db, utcnow
from core.interactions.mentions import Mentionable, linkify
from core.interactions.models import KINDS, Comment, Interaction, comment_mentions
from core.interactions.services import to_local
from core.plugin_system.registry import CORE
from core.plugin_system.types import TimelineCursor, TimelineItem, TimelineSource
from core.reads import Read, read_together
from core.users.models import User

log = logging.getLogger(__name__)

KIND_LABELS = {
    "call": _l("Call"),
    "meeting": _l("Meeting"),
    "email": _l("E-mail"),
    "letter": _l("Letter"),
    "visit": _l("Visit"),
    "message": _l("Message"),
    "note": _l("Note"),
    "comment": _l("Comment"),
    "next_contact": _l("Next contact"),
    "task": _l("Task"),
    "document": _l("Document"),
    "document_email": _l("Document e-mail"),
    "history": _l("History"),
}
KIND_ICONS = {
    "call": "☎",
    "meeting": "👥",
    "email": "✉",
    "letter": "✉",
    "visit": "🚗",
    "message": "💬",
    "note": "📝",
    "comment": "💬",
    "next_contact": "⏰",
    "task": "☑",
    "document": "📄",
    "document_email": "✉",
    "history": "✎",
}
KIND_WEIGHTS = {kind: 10 + n for n, kind in enumerate(KINDS)} | {
    "comment": 20,
    "next_contact": 30,
    "task": 40,
    "document": 50,
    "document_email": 55,
    "history": 90,
}
DIRECTION_LABELS = {"in": _l("incoming"), "out": _l("outgoing")}


class PendingPage:
    """A timeline page whose sources' reads are still to run (see ``prepare``)."""

    def __init__(self, items: list[TimelineItem], sources: list, limit: int, kinds, before):
        self.items = items
        self.sources = sources
        self.limit = limit
        self.kinds = kinds
        self.before = before
        self.reads = {
            (n, name): read
            for n, (_plugin, source) in enumerate(sources)
            for name, read in source.reads.items()
        }

    def finish(
        self, rows: Mapping[Any, list[Any]]
    ) -> tuple[list[TimelineItem], TimelineCursor | None]:
        """The page and the next page's cursor, given the rows of ``reads``."""
        collected = list(self.items)
        for n, (plugin, source) in enumerate(self.sources):
            if any((n, name) not in rows for name in source.reads):
                if plugin == CORE:
                    raise RuntimeError("a read of core's timeline failed")
                continue  # logged by read_together
            mine = {name: rows[(n, name)] for name in source.reads}
            if plugin == CORE:
                collected.extend(source.items(mine))
                continue
            try:
                collected.extend(source.items(mine))
            except Exception:
                log.exception("plugin %s: timeline_items failed", plugin)
        kinds, before, limit = self.kinds, self.before, self.limit
        items: dict[tuple, TimelineItem] = {}
        for item in collected:
            if kinds is not None and item.kind not in kinds:
                continue
            if before is not None and not before.admits(item):
                continue
            items.setdefault(item.key, item)
        ordered = sorted(items.values(), key=lambda i: i.key, reverse=True)
        if len(ordered) <= limit:
            return ordered, None
        last = ordered[limit - 1]
        return ordered[:limit], TimelineCursor(last.at, last.kind, last.id)


def prepare(
    client: Client,
    user: Any,
    kinds: frozenset[str] | None = None,
    before: TimelineCursor | None = None,
    limit: int = 30,
) -> PendingPage:
    """Ask every provider for its items and sources; their reads run later, together
    (with the card's other reads on the card). ``user`` may be a ``Deferred``."""
    registry = current_app.extensions["crm_plugins"]
    items: list[TimelineItem] = []
    sources: list[tuple[str, TimelineSource]] = []
    for plugin, entry in registry.collect(
        "timeline_items",
        app=current_app,
        client=client,
        user=user,
        kinds=kinds,
        before=before,
        limit=limit + 1,
    ):
        if isinstance(entry, TimelineSource):
            sources.append((plugin, entry))
        else:
            items.append(entry)
    return PendingPage(items, sources, limit, kinds, before)


def page(
    client: Client,
    user: Any,
    kinds: frozenset[str] | None = None,
    before: TimelineCursor | None = None,
    limit: int = 30,
) -> tuple[list[TimelineItem], TimelineCursor | None]:
    """The newest ``limit`` items of ``client``'s timeline after ``before``, and the cursor
    of the next page (None on the last): every provider's reads in one statement.
    ``user`` may be a ``Deferred`` (see the registry)."""
    pending = prepare(client, user, kinds, before, limit)
    return pending.finish(read_together(pending.reads, skip_failed=True))


def _wanted(kinds: frozenset[str] | None, candidates: tuple[str, ...]) -> list[str]:
    return [k for k in candidates if kinds is None or k in kinds]


def interaction_items(client, user, kinds, before, limit) -> list[TimelineSource]:
    wanted = _wanted(kinds, KINDS)
    if not wanted or not user.has_permission("interactions.view"):
        return []
    query = (
        sa.select(
            Interaction.id,
            Interaction.kind,
            Interaction.occurred_at,
            Interaction.subject,
            Interaction.text,
            Interaction.outcome,
            Interaction.direction,
            Interaction.channel,
            Interaction.contact_person_id,
            Interaction.duration_minutes,
            User.name.label("actor"),
        )
        .outerjoin(User, User.id == Interaction.user_id)
        .where(Interaction.client_id == client.id)
    )
    if len(wanted) < len(KINDS):
        query = query.where(Interaction.kind.in_(wanted))
    if before is not None:
        query = query.where(
            before.older(Interaction.occurred_at, Interaction.id, Interaction.kind, KINDS)
        )
    newest = (Interaction.occurred_at.desc(), Interaction.kind.desc(), Interaction.id.desc())

    def items(rows) -> list[TimelineItem]:
        contacts = {c.id: c.full_name for c in client.contacts}
        out = []
        for row in rows["interactions"]:
            facts = [
                str(DIRECTION_LABELS[row.direction]) if row.direction else "",
                row.channel,
                contacts.get(row.contact_person_id, ""),
                _("%(minutes)s min", minutes=row.duration_minutes) if row.duration_minutes else "",
            ]
            body = row.text
            if row.outcome:
                body = f"{body}\n{_('Outcome')}: {row.outcome}".strip()
            title = row.subject or str(KIND_LABELS[row.kind])
            fact_line = " · ".join(f for f in facts if f)
            out.append(
                TimelineItem(
                    kind=row.kind,
                    at=row.occurred_at,
                    id=row.id,
                    title=f"{title} ({fact_line})" if fact_line else title,
                    body=body,
                    url=url_for("interactions.edit", interaction_id=row.id),
                    label=str(KIND_LABELS[row.kind]),
                    icon=KIND_ICONS[row.kind],
                    weight=KIND_WEIGHTS[row.kind],
                    actor=row.actor or "",
                )
            )
        return out

    read = Read(query, order_by=newest, limit=limit, ordered=False)
    return [TimelineSource({"interactions": read}, items)]


def comment_items(client, user, kinds, before, limit) -> list[TimelineSource]:
    if kinds is not None and "comment" not in kinds:
        return []
    conditions = [Comment.record_kind == "client", Comment.record_id == client.id]
    if before is not None:
        conditions.append(before.older(Comment.created_at, Comment.id, "comment"))
    newest = (Comment.created_at.desc(), Comment.id.desc())
    comments = sa.select(Comment.id, Comment.created_at, Comment.body, User.name.label("actor"))
    comments = comments.outerjoin(User, User.id == Comment.author_id).where(*conditions)
    # The users mentioned in the comments of the page: the same comments, as a subquery.
    shown = sa.select(Comment.id).where(*conditions).order_by(*newest).limit(limit)
    mentions = (
        sa.select(
            comment_mentions.c.comment_id,
            User.id.label("user_id"),
            User.name,
            User.email,
        )
        .join(User, User.id == comment_mentions.c.user_id)
        .where(comment_mentions.c.comment_id.in_(shown))
    )

    def items(rows) -> list[TimelineItem]:
        mentioned: dict[int, list[Mentionable]] = {}
        for comment_id, user_id, name, email in rows["mentions"]:
            mentioned.setdefault(comment_id, []).append(Mentionable(user_id, name, email))
        return [
            TimelineItem(
                kind="comment",
                at=row.created_at,
                id=row.id,
                title=_("Comment"),
                body=linkify(row.body, mentioned.get(row.id, [])),
                label=str(KIND_LABELS["comment"]),
                icon=KIND_ICONS["comment"],
                weight=KIND_WEIGHTS["comment"],
                actor=row.actor or "",
            )
            for row in rows["comments"]
        ]

    reads = {
        "comments": Read(comments, order_by=newest, limit=limit, ordered=False),
        "mentions": Read(
            mentions, order_by=(comment_mentions.c.comment_id, comment_mentions.c.user_id)
        ),
    }
    return [TimelineSource(reads, items)]


def _newest_first() -> sa.ColumnElement:
    """``at`` descending; on SQLite as ``+audit_log.at`` (no index's column) so that it does
    not choose the time index over the entity index for a client's few entries."""
    if db.engine.dialect.name == "sqlite":
        return sa.literal_column("+audit_log.at").desc()
    return AuditLog.at.desc()


def history_items(client, user, kinds, before, limit) -> list[TimelineSource]:
    if kinds is not None and "history" not in kinds:
        return []
    # The history of clients merged into this one, and of its contact persons, reads here.
    # One id list (the client, then the clients merged into it) and, on SQLite, the order
    # by "+at": SQLite then looks the entries up by (entity, entity_id) and sorts the few
    # it finds, instead of walking the whole audit log newest first and testing each one.
    merged = sa.select(Client.id).where(Client.merged_into_id == client.id)
    ids = sa.union_all(sa.select(sa.literal(client.id)), merged)
    if db.engine.dialect.name == "postgresql":
        # As an array: "= ANY(array(...))" is an index condition of (entity, entity_id);
        # "IN (subquery)" was a filter, and PostgreSQL walked the whole audit log newest
        # first testing each entry (5.7 s a card with 2,000,000 entries).
        in_ids = AuditLog.entity_id == sa.any_(sa.func.array(ids.scalar_subquery()))
    else:
        in_ids = AuditLog.entity_id.in_(ids)
    condition = sa.and_(AuditLog.entity == "clients", in_ids)
    contact_ids = [c.id for c in client.contacts]
    if contact_ids:
        condition = sa.or_(
            condition,
            sa.and_(AuditLog.entity == "contact_persons", AuditLog.entity_id.in_(contact_ids)),
        )
    query = (
        sa.select(
            AuditLog.id,
            AuditLog.at,
            AuditLog.entity,
            AuditLog.action,
            AuditLog.changes,
            User.name.label("actor"),
        )
        .outerjoin(User, User.id == AuditLog.user_id)
        .where(condition)
    )
    if before is not None:
        query = query.where(before.older(AuditLog.at, AuditLog.id, "history"))
    read = Read(query, order_by=(_newest_first(), AuditLog.id.desc()), limit=limit, ordered=False)
    return [TimelineSource({"history": read}, _history)]


def _history(rows) -> list[TimelineItem]:
    out = []
    for row in rows["history"]:
        title = _(row.action)
        if row.entity != "clients":
            title = f"{title} ({_('contact person')})"
        if row.action == "create" and (row.changes or {}).get("import"):
            lines = [_("imported from %(file)s", file=row.changes["import"][1])]
        elif row.action == "create":
            lines = []
        else:
            lines = [
                f"{field}: {'—' if pair[0] is None else pair[0]} → "
                f"{'—' if pair[1] is None else pair[1]}"
                for field, pair in (row.changes or {}).items()
                if isinstance(pair, list) and len(pair) == 2
            ]
        out.append(
            TimelineItem(
                kind="history",
                at=row.at,
                id=row.id,
                title=title,
                body="\n".join(lines),
                label=str(KIND_LABELS["history"]),
                icon=KIND_ICONS["history"],
                weight=KIND_WEIGHTS["history"],
                actor=row.actor or _("system"),
            )
        )
    return out


def next_contact_items(client, user, kinds, before, limit) -> list[TimelineItem]:
    """A due next contact date (today or past, in the user's timezone) as one item."""
    due = client.next_contact_on
    if due is None or (kinds is not None and "next_contact" not in kinds):
        return []
    today = to_local(utcnow(), getattr(user, "timezone", None)).date()
    if due > today:
        return []
    title = (
        _("Next contact is due today")
        if due == today
        else _("Next contact was due on %(date)s", date=due.isoformat())
    )
    item = TimelineItem(
        kind="next_contact",
        at=datetime.combine(due, time()),
        id=client.id,
        title=title,
        url=url_for("clients.edit", client_id=client.id),
        label=str(KIND_LABELS["next_contact"]),
        icon=KIND_ICONS["next_contact"],
        weight=KIND_WEIGHTS["next_contact"],
    )
    return [item] if before is None or before.admits(item) else []


PROVIDERS = (interaction_items, comment_items, history_items, next_contact_items)


def core_items(client, user, kinds, before, limit) -> list[TimelineItem | TimelineSource]:
    """Core's ``timeline_items``: interactions, comments, history and the next contact."""
    return [item for provider in PROVIDERS for item in provider(client, user, kinds, before, limit)]
