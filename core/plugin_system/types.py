"""What hooks return: small value objects that core sorts, filters and renders."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class MenuItem:
    label: str
    endpoint: str
    permission: str | None = None
    weight: int = 100
    # Which section of the navigation: "main" or "admin".
    section: str = "main"
    url_values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DashboardWidget:
    name: str
    title: str
    render: Callable[..., str]
    permission: str | None = None
    weight: int = 100
    # Bootstrap grid columns out of 12 on wide screens.
    width: int = 6


@dataclass(frozen=True)
class Permission:
    code: str
    label: str


@dataclass(frozen=True)
class ScopeArea:
    code: str
    label: str


@dataclass(frozen=True)
class SettingDefinition:
    key: str
    label: str
    kind: str = "text"  # text, int, bool, choice
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""
    max_length: int = 500
    # Bounds of an "int" setting.
    min_value: int = 0
    max_value: int = 1_000_000


@dataclass(frozen=True)
class Job:
    name: str
    func: Callable[..., Any]
    schedule: Any = None
    retries: int = 3


@dataclass(frozen=True)
class NotificationChannel:
    name: str
    label: str
    send: Callable[..., None]


@dataclass(frozen=True)
class CardPanel:
    """A section of a record's card (the client card now, deal and ticket cards later)."""

    name: str
    title: str
    render: Callable[..., str]
    permission: str | None = None
    weight: int = 100


@dataclass(frozen=True)
class SearchResult:
    kind: str  # "client", "deal", "article", ...
    title: str
    url: str
    subtitle: str = ""
    weight: int = 100
    # The heading of this kind's group on the search page ("Clients", "Articles").
    group: str = ""


@dataclass(frozen=True)
class RecordType:
    """A kind of record other records can point to: tasks, comments, documents and
    attachments link to "client" 42 or (from plugins) "sales.deal" 7.

    ``resolve(ids, user)`` returns ``{id: (title, url)}`` for the ids of this kind that
    ``user`` may see; ids the user may not see (or that do not exist) are left out, so a
    link to them is refused or shown as unavailable, never leaked.
    """

    kind: str
    label: str
    resolve: Callable[[list[int], Any], dict[int, tuple[str, str]]]


@dataclass(frozen=True)
class TimelineItem:
    """One entry of a client's timeline: a call, a comment, a change, a task, a document.

    ``at`` is a naive UTC datetime; ``(at, kind, id)`` must be unique, as it is the page
    key: ``id`` is the row's id within ``kind``. ``body`` is plain text (shown escaped,
    line breaks kept) unless it is a ``markupsafe.Markup``. ``label`` names the kind in
    the UI ("Call", "Task") and ``icon`` is a short symbol or emoji shown before it;
    ``weight`` orders the kinds in the timeline's filter (core 10-90, plugins 100+).
    """

    kind: str
    at: datetime
    id: int
    title: str
    body: str = ""
    url: str | None = None
    label: str = ""
    icon: str = ""
    weight: int = 100
    # Who did it (a user's name), if anyone.
    actor: str = ""

    @property
    def key(self) -> tuple[datetime, str, int]:
        return (self.at, self.kind, self.id)


class BadCursor(ValueError):
    """A timeline cursor that was not made by ``TimelineCursor.encode``."""


@dataclass(frozen=True)
class TimelineCursor:
    """Where the previous timeline page ended: items strictly older come next.

    The timeline runs newest first by ``(at, kind, id)``; ``admits(item)`` tells whether an
    item belongs after the cursor and ``older(at_column, id_column, kind)`` is the same
    test as a SQL condition, for a provider's query.
    """

    at: datetime
    kind: str
    id: int

    def admits(self, item: TimelineItem) -> bool:
        return item.key < (self.at, self.kind, self.id)

    def older(self, at_column: Any, id_column: Any, kind: Any, kinds: Any = ()) -> Any:
        """A SQL condition for rows after the cursor.

        ``kind`` is the rows' kind as a string, or a column holding it; with a column,
        ``kinds`` lists every value it can hold (compared here, in Python, so that the
        database's collation cannot reorder them).
        """
        import sqlalchemy as sa

        newer_kind: Any
        if isinstance(kind, str):
            if kind < self.kind:
                return at_column <= self.at
            if kind > self.kind:
                return at_column < self.at
            newer_kind = id_column < self.id
        else:
            lower = [k for k in kinds if k < self.kind]
            newer_kind = sa.or_(
                kind.in_(lower) if lower else sa.false(),
                sa.and_(kind == self.kind, id_column < self.id),
            )
        return sa.or_(at_column < self.at, sa.and_(at_column == self.at, newer_kind))

    def encode(self) -> str:
        raw = json.dumps([self.at.isoformat(), self.kind, self.id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> TimelineCursor:
        try:
            padded = text + "=" * (-len(text) % 4)
            at, kind, ident = json.loads(base64.urlsafe_b64decode(padded.encode()))
            cursor = cls(datetime.fromisoformat(at).replace(tzinfo=None), str(kind), int(ident))
        except (ValueError, TypeError, UnicodeDecodeError, binascii.Error) as exc:
            raise BadCursor("The cursor is not one this timeline gave out.") from exc
        return cursor
