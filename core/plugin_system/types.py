"""What hooks return: small value objects that core sorts, filters and renders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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
