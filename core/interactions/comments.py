"""Comments on records of any kind, with @mentions stored and the mentioned users told."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from core import records
from core.db import db
from core.interactions.mentions import Mentionable, find_mentions, notify_mentioned
from core.interactions.models import Comment, comment_mentions
from core.security import load_principal
from core.users.models import User
from core.users.services import ValidationFailed


class RecordNotVisible(LookupError):
    """The record does not exist, is not the user's to see, or its kind is unknown."""


def add_comment(record_kind: str, record_id: int, body: str, author: Any) -> Comment:
    """A comment by ``author`` on a record they may see; mentioned users who may see the
    record too are notified (the author is never told about their own comment)."""
    if records.visible(record_kind, record_id, author) is None:
        raise RecordNotVisible(f"{record_kind} {record_id}")
    body = (body or "").strip()
    if not body:
        raise ValidationFailed({"body": ["Write something."]})
    comment = Comment(record_kind=record_kind, record_id=record_id, author_id=author.id, body=body)
    db.session.add(comment)
    db.session.flush()
    mentioned = find_mentions(body)
    if mentioned:
        db.session.execute(
            sa.insert(comment_mentions),
            [{"comment_id": comment.id, "user_id": user_id} for user_id in mentioned],
        )
    db.session.commit()
    recipients = [
        user_id
        for user_id in mentioned
        if user_id != author.id and _may_see(user_id, record_kind, record_id)
    ]
    notify_mentioned(comment, recipients)
    return comment


def _may_see(user_id: int, record_kind: str, record_id: int) -> bool:
    principal = load_principal(user_id)
    return (
        principal is not None
        and principal.active
        and records.visible(record_kind, record_id, principal) is not None
    )


def page(
    record_kind: str, record_id: int, before: int | None = None, limit: int = 50
) -> tuple[list[Comment], int | None]:
    """Comments on one record, newest first, with ``mentions`` (user ids) set on each."""
    query = (
        sa.select(Comment)
        .where(Comment.record_kind == record_kind, Comment.record_id == record_id)
        .order_by(Comment.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(Comment.id < before)
    rows = db.session.execute(query).scalars().all()
    more = len(rows) > limit
    rows = rows[:limit]
    by_comment = mentions_of([c.id for c in rows])
    for comment in rows:
        comment.mentions = [u.id for u in by_comment.get(comment.id, [])]
    return rows, (rows[-1].id if more and rows else None)


def mentions_of(comment_ids: list[int]) -> dict[int, list[Mentionable]]:
    """The users each comment mentions, in one query."""
    if not comment_ids:
        return {}
    out: dict[int, list[Mentionable]] = {}
    for comment_id, user_id, name, email in db.session.execute(
        sa.select(comment_mentions.c.comment_id, User.id, User.name, User.email)
        .join(User, User.id == comment_mentions.c.user_id)
        .where(comment_mentions.c.comment_id.in_(comment_ids))
    ):
        out.setdefault(comment_id, []).append(Mentionable(user_id, name, email))
    return out
