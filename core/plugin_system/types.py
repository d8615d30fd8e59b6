"""What hooks return: small value objects that core sorts, filters and renders."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
