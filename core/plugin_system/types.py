"""What hooks return: small value objects that core sorts, filters and renders."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


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
class NotificationEvent:
    """A kind of event users are told about ("task_overdue", "sales.deal_won").

    ``default_channels`` are the channels a user gets it through until they choose
    otherwise on their profile page (e.g. ``("in_app", "email")``).
    """

    code: str
    label: str
    default_channels: tuple[str, ...] = ("in_app",)


@dataclass(frozen=True)
class CardPanel:
    """A section of a record's card (the client card now, deal and ticket cards later).

    ``render(client, user)`` returns the panel's HTML, or a ``PanelSource`` whose reads
    core runs together with every other panel's, in one statement for the card."""

    name: str
    title: str
    render: Callable[..., str | PanelSource]
    permission: str | None = None
    weight: int = 100


@dataclass(frozen=True)
class PanelSource:
    """A card panel that reads what it shows together with the card's other panels.

    ``reads`` maps names to ``core.reads.Read``s; after running every panel's reads in one
    statement, core calls ``render(rows)`` with ``{name: rows}`` (each row a named tuple of
    the read's columns, in the read's order) for the panel's HTML. A panel whose read
    fails is left out (logged), as one whose ``render`` raises."""

    reads: Mapping[str, Any]
    render: Callable[[Mapping[str, list[Any]]], str]


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
class Period:
    """A date range a report runs over, as the user chose it (``preset`` "this_month", ...,
    or "custom"); ``start`` and ``end`` are both included, in the user's ``timezone``."""

    start: date
    end: date
    preset: str = "custom"
    timezone: str = "UTC"

    def bounds(self) -> tuple[datetime, datetime]:
        """``[from, to)`` as naive UTC datetimes, the form timestamps are stored in."""
        zone = ZoneInfo(self.timezone)

        def utc(day: date) -> datetime:
            local = datetime.combine(day, time.min, tzinfo=zone)
            return local.astimezone(UTC).replace(tzinfo=None)

        return utc(self.start), utc(self.end + timedelta(days=1))


@dataclass(frozen=True)
class ReportFilter:
    """One field of a report's filter form; core renders, parses and validates it.

    ``kind`` is one of:

    - ``"period"``: a date range with presets (this month, last month, this quarter, last
      quarter, this year, last year, custom dates); the report gets a ``Period``, or None
      for "any time" when the filter is not ``required``. ``default`` names a preset.
    - ``"user"``: one user (by id; core offers every user), the report gets an int or None.
    - ``"team"``: one team (by id), an int or None.
    - ``"choice"``: one code of ``choices``, a str or None.

    ``choices`` is a sequence of ``(code, label)`` pairs, or a callable returning one
    (called when the form is shown or checked, so admin-edited lists stay current).
    """

    name: str
    label: str
    kind: str = "choice"
    choices: Sequence[tuple[str, str]] | Callable[[], Sequence[tuple[str, str]]] = ()
    default: Any = None
    required: bool = False


@dataclass(frozen=True)
class ReportColumn:
    """A column of a report's table; ``kind`` (text, int, money, percent, date) decides how
    its cells are shown and exported. Percent values are fractions (0.25 is 25 %)."""

    key: str
    label: str
    kind: str = "text"


@dataclass(frozen=True)
class ReportChart:
    """What to draw: ``kind`` "bar" or "line", labels from column ``x``, one series per
    column key in ``y``. Core draws it as SVG (no JavaScript), the same for the page and
    for PDF documents."""

    kind: str
    x: str
    y: tuple[str, ...]


@dataclass(frozen=True)
class ReportResult:
    """What ``Report.run`` returns: ``rows`` are dicts keyed by the columns' keys, ``totals``
    an optional dict of the same keys for the closing line (missing keys show empty), and
    ``chart`` overrides the report's own chart for this result (None keeps it)."""

    columns: Sequence[ReportColumn]
    rows: Sequence[dict[str, Any]]
    totals: dict[str, Any] | None = None
    chart: ReportChart | None = None


@dataclass(frozen=True)
class Report:
    """A report users run from the Reports page and ``/api/v1/reports/<name>``.

    ``run(params, user)`` receives the validated filter values (``{filter name: value}``)
    and the user running it, whose record scopes it must apply (``core.security.scoped``),
    and returns a ``ReportResult``. It runs aggregate SQL: reports read whole tables.
    """

    name: str
    title: str
    permission: str
    filters: Sequence[ReportFilter]
    run: Callable[[dict[str, Any], Any], ReportResult]
    chart: ReportChart | None = None
    weight: int = 100
    # The heading the Reports page lists it under ("Clients", "Sales", ...).
    group: str = ""
    description: str = ""


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


@dataclass(frozen=True)
class TimelineSource:
    """Timeline items from queries that core runs together with every other provider's,
    in one statement for the whole page (``timeline_items`` may return these instead of
    items, or beside them).

    ``reads`` maps names to ``core.reads.Read``s (the newest ``limit`` rows after the
    cursor, as a provider's own query would select them); ``items(rows)`` gets
    ``{name: rows}`` (each row a named tuple of the read's columns, in the read's order)
    and returns the ``TimelineItem``s. A source whose read fails is left out (logged).
    """

    reads: Mapping[str, Any]
    items: Callable[[Mapping[str, list[Any]]], list[TimelineItem]]


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
