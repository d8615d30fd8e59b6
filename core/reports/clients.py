"""Core's client reports: clients by status, source and owner, and new clients per period.

Every figure is one aggregate query (GROUP BY) over live clients within the user's scope;
grouped by status or owner with no other filter, SQLite and PostgreSQL count from the
partial indexes on (status, ...) and (owner_id, ...) without reading the table.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError

from core.clients.models import Client, ClientOption
from core.clients.services import options
from core.db import db
from core.plugin_system.types import (
    Period,
    Report,
    ReportChart,
    ReportColumn,
    ReportFilter,
    ReportResult,
)
from core.security import scoped
from core.users.models import User

GROUP = _l("Clients")
BUCKETS = {"day": _l("Day"), "week": _l("Week"), "month": _l("Month")}
MAX_BUCKETS = 400


def _option_choices(list_name: str):
    return lambda: [(o.code, o.label) for o in options(list_name)]


def client_filters(*, period_required: bool = False) -> list[ReportFilter]:
    """The filters every client report offers."""
    return [
        ReportFilter(
            "created",
            _l("Created"),
            "period",
            required=period_required,
            default="this_year" if period_required else None,
        ),
        ReportFilter("owner", _l("Owner"), "user"),
        ReportFilter("team", _l("Team"), "team"),
        ReportFilter("status", _l("Status"), "choice", _option_choices("status")),
        ReportFilter("source", _l("Source"), "choice", _option_choices("source")),
    ]


def live_clients(query: sa.Select, params: dict[str, Any], user: Any) -> sa.Select:
    """``query`` limited to live clients in ``user``'s scope that match the filters."""
    query = query.where(Client.deleted_at.is_(None))
    period: Period | None = params.get("created")
    if period is not None:
        start, end = period.bounds()
        query = query.where(Client.created_at >= start, Client.created_at < end)
    if params.get("owner") is not None:
        query = query.where(Client.owner_id == params["owner"])
    if params.get("team") is not None:
        query = query.where(
            Client.owner_id.in_(sa.select(User.id).where(User.team_id == params["team"]))
        )
    for name in ("status", "source"):
        if params.get(name) is not None:
            query = query.where(getattr(Client, name) == params[name])
    return scoped(query, user, "clients", Client.owner_id)


def _labels(list_name: str) -> dict[str, str]:
    """Every option's label, retired ones too: old clients may still carry them."""
    return dict(
        db.session.execute(
            sa.select(ClientOption.code, ClientOption.label).where(ClientOption.list == list_name)
        ).all()
    )


def _counts(dimension: str, params: dict[str, Any], user: Any) -> list[tuple[Any, int]]:
    column = getattr(Client, dimension)
    query = live_clients(sa.select(column, sa.func.count()), params, user).group_by(column)
    return [(key, count) for key, count in db.session.execute(query)]


def _by(dimension: str):
    def run(params: dict[str, Any], user: Any) -> ReportResult:
        counts = _counts(dimension, params, user)
        if dimension == "owner_id":
            ids = [key for key, _ in counts if key is not None]
            names = dict(
                db.session.execute(sa.select(User.id, User.name).where(User.id.in_(ids))).all()
            )
            label = {**names, None: str(_l("No owner"))}
        else:
            label = {**_labels(dimension), None: str(_l("Not set"))}
        total = sum(count for _, count in counts)
        rows = [
            {"group": label.get(key, key), "clients": count, "share": count / total}
            for key, count in counts
        ]
        rows.sort(key=lambda r: (-r["clients"], str(r["group"])))
        heading = {"status": _l("Status"), "source": _l("Source"), "owner_id": _l("Owner")}
        return ReportResult(
            columns=[
                ReportColumn("group", heading[dimension]),
                ReportColumn("clients", _l("Clients"), "int"),
                ReportColumn("share", _l("Share"), "percent"),
            ],
            rows=rows,
            totals={"group": _l("Total"), "clients": total, "share": 1.0 if total else None},
        )

    return run


def _bucket_sql(bucket: str, offset_minutes: int) -> sa.ColumnElement[str]:
    """The first day of a client's bucket as 'YYYY-MM-DD', in the user's time zone."""
    if db.engine.dialect.name == "postgresql":
        shifted = Client.created_at + sa.func.make_interval(0, 0, 0, 0, 0, offset_minutes)
        return sa.func.to_char(sa.func.date_trunc(bucket, shifted), "YYYY-MM-DD")
    shift = f"{offset_minutes:+d} minutes"
    if bucket == "day":
        return sa.func.date(Client.created_at, shift)
    if bucket == "week":  # back to Monday: on to Sunday, then six days back
        return sa.func.date(Client.created_at, shift, "weekday 0", "-6 days")
    return sa.func.strftime("%Y-%m-01", Client.created_at, shift)


def bucket_starts(bucket: str, start: date, end: date) -> list[date]:
    if bucket == "day":
        first, step = start, None
    elif bucket == "week":
        first, step = start - timedelta(days=start.weekday()), None
    else:
        first, step = start.replace(day=1), "month"
    out, day = [], first
    while day <= end:
        out.append(day)
        if step == "month":
            day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            day += timedelta(days=7 if bucket == "week" else 1)
    return out


def _new_clients(params: dict[str, Any], user: Any) -> ReportResult:
    period: Period = params["created"]
    bucket = params.get("bucket") or "month"
    starts = bucket_starts(bucket, period.start, period.end)
    if len(starts) > MAX_BUCKETS:
        raise ValidationError(
            {
                "bucket": [
                    str(
                        _l(
                            "%(count)s rows are too many; choose a longer step or a shorter "
                            "period.",
                            count=len(starts),
                        )
                    )
                ]
            }
        )
    # A fixed offset (the one at the period's start): buckets may be off by an hour
    # around a daylight-saving change inside the period.
    offset = ZoneInfo(period.timezone).utcoffset(datetime.combine(period.start, time.min))
    key = _bucket_sql(bucket, int(offset.total_seconds() // 60)).label("bucket")
    query = live_clients(sa.select(key, sa.func.count()), params, user).group_by(key)
    counts = {day: count for day, count in db.session.execute(query)}
    rows = [{"period": day, "clients": counts.get(day.isoformat(), 0)} for day in starts]
    return ReportResult(
        columns=[
            ReportColumn("period", BUCKETS[bucket], "date"),
            ReportColumn("clients", _l("New clients"), "int"),
        ],
        rows=rows,
        totals={"period": _l("Total"), "clients": sum(counts.values())},
        chart=ReportChart("bar" if len(rows) <= 31 else "line", "period", ("clients",)),
    )


def reports() -> list[Report]:
    counted = ReportChart("bar", "group", ("clients",))
    return [
        Report(
            "clients_by_status",
            _l("Clients by status"),
            "clients.view",
            client_filters(),
            _by("status"),
            chart=counted,
            weight=10,
            group=GROUP,
        ),
        Report(
            "clients_by_source",
            _l("Clients by source"),
            "clients.view",
            client_filters(),
            _by("source"),
            chart=counted,
            weight=20,
            group=GROUP,
        ),
        Report(
            "clients_by_owner",
            _l("Clients by owner"),
            "clients.view",
            client_filters(),
            _by("owner_id"),
            chart=counted,
            weight=30,
            group=GROUP,
        ),
        Report(
            "new_clients",
            _l("New clients per period"),
            "clients.view",
            [
                *client_filters(period_required=True),
                ReportFilter(
                    "bucket",
                    _l("Per"),
                    "choice",
                    lambda: [(code, str(label)) for code, label in BUCKETS.items()],
                    default="month",
                ),
            ],
            _new_clients,
            chart=ReportChart("bar", "period", ("clients",)),
            weight=40,
            group=GROUP,
        ),
    ]
