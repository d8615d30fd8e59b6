"""@mentions in comments: finding the users a text names, showing them as links, and
telling the mentioned users."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from markupsafe import Markup, escape

from core.cache import cached
from core.db import db
from core.users.models import User

EMAIL_MENTION = re.compile(r"@([\w.+-]+@[\w-]+(?:\.[\w-]+)+)")


@dataclass(frozen=True)
class Mentionable:
    id: int
    name: str
    email: str


def active_users() -> tuple[Mentionable, ...]:
    """Active users, longest names first; kept in the worker cache (core.cache)."""

    def load() -> tuple[Mentionable, ...]:
        rows = db.session.execute(sa.select(User.id, User.name, User.email).where(User.active))
        return tuple(sorted((Mentionable(*r) for r in rows), key=lambda u: -len(u.name)))

    return cached("mentionable_users", load)


def find_mentions(body: str) -> list[int]:
    """Ids of the active users ``body`` mentions as ``@e-mail`` or ``@Full Name`` (case does
    not matter; the longest name wins, so "@Anna Maria" is not "@Anna")."""
    users = active_users()
    by_email = {u.email.casefold(): u.id for u in users}
    found: list[int] = []
    taken: set[int] = set()
    for match in EMAIL_MENTION.finditer(body):
        user_id = by_email.get(match.group(1).casefold().rstrip("."))
        if user_id is not None:
            found.append(user_id)
            taken.add(match.start())
    folded = body.casefold()
    for match in re.finditer("@", body):
        start = match.start() + 1
        if match.start() in taken:
            continue
        for user in users:
            name = user.name.casefold()
            end = start + len(name)
            if name and folded.startswith(name, start) and not _word_char(folded, end):
                found.append(user.id)
                break
    return list(dict.fromkeys(found))


def _word_char(text: str, index: int) -> bool:
    return index < len(text) and (text[index].isalnum() or text[index] == "_")


def linkify(body: str, mentioned: list[Mentionable]) -> Markup:
    """``body`` escaped, line breaks kept by the page's CSS, with each mention of a user in
    ``mentioned`` as a link to write to them."""
    if not mentioned:
        return escape(body)
    spellings: dict[str, Mentionable] = {}
    for user in mentioned:
        spellings[f"@{user.email}".casefold()] = user
        spellings[f"@{user.name}".casefold()] = user
    pattern = re.compile(
        "|".join(re.escape(s) for s in sorted(spellings, key=len, reverse=True)), re.IGNORECASE
    )
    out, last = [], 0
    for match in pattern.finditer(body):
        user = spellings.get(match.group(0).casefold())
        if user is None or _word_char(body, match.end()):
            continue
        out.append(escape(body[last : match.start()]))
        out.append(
            Markup('<a class="mention" href="mailto:{}" title="{}">@{}</a>').format(
                user.email, user.email, user.name
            )
        )
        last = match.end()
    out.append(escape(body[last:]))
    return Markup("").join(out)


def notify_mentioned(comment: Any, user_ids: list[int]) -> None:
    """Tell each user in ``user_ids`` that ``comment`` mentions them (the "mention" event,
    through each user's chosen channels; once per comment and user)."""
    from flask_babel import gettext as _

    from core.notifications import notify
    from core.records import resolve

    if not user_ids:
        return
    author = db.session.get(User, comment.author_id) if comment.author_id else None
    linked = resolve([(comment.record_kind, comment.record_id)], _anyone()).get(
        (comment.record_kind, comment.record_id)
    )
    title = linked.title if linked else f"{comment.record_kind} #{comment.record_id}"
    subject = _(
        "%(author)s mentioned you on %(record)s",
        author=author.name if author else _("Someone"),
        record=title,
    )
    notify(
        "mention",
        list(user_ids),
        subject,
        comment.body[:2000],
        url=linked.url if linked else None,
        record=(comment.record_kind, comment.record_id),
        key=f"comment:{comment.id}",
    )


def _anyone() -> Any:
    """Who may see every record: to name the record in a message to users who may see it."""
    from core.security import Principal

    return Principal(
        id=0,
        email="",
        name="",
        team_id=None,
        locale="en",
        timezone="UTC",
        active=True,
        session_token="",
        is_admin=True,
        permissions=frozenset(),
    )
