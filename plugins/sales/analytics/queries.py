"""Building blocks of the sales reports: the filters they share, the deals a user may see,
stage kinds, names of users, clients and products.

Stages, pipelines and lost reasons are small admin-edited lists, read whole; deals, lines
and stage changes are only ever read through aggregate queries.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core.clients.models import Client
from core.db import db
from core.plugin_system.types import Period, ReportFilter
from core.security import scoped
from core.users.models import User
from plugins.sales.models import Deal, Pipeline, Product, Stage

SCOPE = "sales.deals"
# Offered in the currency filter besides those the catalog and the plans use.
COMMON_CURRENCIES = ("EUR", "USD", "MDL", "RON", "RUB", "UAH", "GBP", "PLN", "CHF")


@dataclass(frozen=True)
class StageInfo:
    id: int
    pipeline_id: int
    name: str
    position: int
    kind: str
    probability: int
    removed: bool


def stages() -> dict[int, StageInfo]:
    """Every stage (removed ones too: history keeps them), by id."""
    rows = db.session.execute(
        sa.select(
            Stage.id,
            Stage.pipeline_id,
            Stage.name,
            Stage.position,
            Stage.kind,
            Stage.probability,
            Stage.removed_at,
        )
    )
    return {
        r.id: StageInfo(
            r.id, r.pipeline_id, r.name, r.position, r.kind, r.probability, r.removed_at is not None
        )
        for r in rows
    }


def stage_ids(kind: str, pipeline_id: int | None = None) -> list[int]:
    return [
        s.id
        for s in stages().values()
        if s.kind == kind and (pipeline_id is None or s.pipeline_id == pipeline_id)
    ]


def pipelines() -> list[tuple[int, str]]:
    return [
        (i, name)
        for i, name in db.session.execute(
            sa.select(Pipeline.id, Pipeline.name).order_by(Pipeline.position, Pipeline.id)
        )
    ]


def pipeline_choices() -> list[tuple[str, str]]:
    return [(str(i), name) for i, name in pipelines()]


def currency_choices() -> list[tuple[str, str]]:
    from plugins.sales.analytics.models import SalesPlan

    used = set(COMMON_CURRENCIES)
    used.update(c for (c,) in db.session.execute(sa.select(Product.currency).distinct()))
    used.update(c for (c,) in db.session.execute(sa.select(SalesPlan.currency).distinct()))
    return [(c, c) for c in sorted(used) if c]


def period_filter(label: Any = None, default: str = "this_year") -> ReportFilter:
    return ReportFilter("period", label or _l("Period"), "period", required=True, default=default)


def pipeline_filter() -> ReportFilter:
    return ReportFilter("pipeline", _l("Pipeline"), "choice", pipeline_choices)


def owner_filter() -> ReportFilter:
    return ReportFilter("owner", _l("Owner"), "user")


def team_filter() -> ReportFilter:
    return ReportFilter("team", _l("Team"), "team")


def currency_filter() -> ReportFilter:
    return ReportFilter("currency", _l("Currency"), "choice", currency_choices)


def bounds(params: dict[str, Any], name: str = "period") -> tuple[datetime, datetime]:
    period: Period = params[name]
    return period.bounds()


def pipeline_of(params: dict[str, Any]) -> int | None:
    value = params.get("pipeline")
    return int(value) if value is not None else None


def team_members(team_id: int) -> sa.Select:
    return sa.select(User.id).where(User.team_id == team_id)


def limit_people(query: sa.Select, column: Any, params: dict[str, Any], user: Any) -> sa.Select:
    """``query`` limited to the owner and team filters and the user's deal scope, all
    applied to ``column`` (a deal owner, a manager, an assignee)."""
    if params.get("owner") is not None:
        query = query.where(column == params["owner"])
    if params.get("team") is not None:
        query = query.where(column.in_(team_members(params["team"])))
    return scoped(query, user, SCOPE, column)


def limit_deals(query: sa.Select, params: dict[str, Any], user: Any) -> sa.Select:
    """``query`` (over ``Deal``) limited to the pipeline, owner, team and currency filters
    and to the deals ``user`` may see."""
    pipeline_id = pipeline_of(params)
    if pipeline_id is not None:
        query = query.where(Deal.pipeline_id == pipeline_id)
    if params.get("currency"):
        query = query.where(Deal.currency == params["currency"])
    return limit_people(query, Deal.owner_id, params, user)


def names(model: Any, ids: Iterable[int | None], column: Any = None) -> dict[int, str]:
    wanted = [i for i in set(ids) if i is not None]
    if not wanted:
        return {}
    label = column if column is not None else model.name
    out: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        out.update(db.session.execute(sa.select(model.id, label).where(model.id.in_(chunk))).all())
    return out


def user_names(ids: Iterable[int | None]) -> dict[int, str]:
    return names(User, ids)


def client_names(ids: Iterable[int | None]) -> dict[int, str]:
    return names(Client, ids)


def product_names(ids: Iterable[int | None]) -> dict[int, str]:
    return names(Product, ids)


def money(value: Any) -> Decimal:
    """A sum as SQL returns it (Decimal on PostgreSQL, float or int on SQLite), in cents."""
    if value is None:
        return Decimal("0.00")
    return Decimal(str(value)).quantize(Decimal("0.01"))


def first_rows_and_cents(query: sa.Select, keep: int) -> tuple[list[tuple], array]:
    """The first ``keep`` rows of ``query`` as the database driver returns them, and the
    last column of every row (whole cents) as a compact array, read in the session's
    transaction. For queries of hundreds of thousands of rows: building SQLAlchemy's rows
    took longer than the query (0.3 s of 220,000 clients' revenues), and keeping every row
    as a tuple grew each web worker by 10+ MiB."""
    result = db.session.connection().execute(query)
    try:
        cursor = result.cursor
        first = cursor.fetchmany(keep) if keep else []
        cents = array("q", [row[-1] for row in first])
        while rows := cursor.fetchmany(10_000):
            cents.extend([row[-1] for row in rows])
        return first, cents
    finally:
        result.close()


def cents(total: Any) -> sa.ColumnElement[int]:
    """A sum of money columns as whole cents (an exact integer on either database)."""
    return sa.cast(sa.func.round(total * 100), sa.BigInteger)


def ratio(part: Any, whole: Any) -> float | None:
    if not whole:
        return None
    return float(part) / float(whole)


def days_between(later: Any, earlier: Any) -> sa.ColumnElement[float]:
    """``later - earlier`` in days, as SQL."""
    if db.engine.dialect.name == "postgresql":
        return sa.func.extract("epoch", later - earlier) / 86400.0
    return sa.func.julianday(later) - sa.func.julianday(earlier)


def month_of(column: Any) -> sa.ColumnElement[str]:
    """A date column's month as 'YYYY-MM'."""
    if db.engine.dialect.name == "postgresql":
        return sa.func.to_char(column, "YYYY-MM")
    return sa.func.substr(column, 1, 7)


def postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


def closed_stage_in(ids: list[int]) -> sa.ColumnElement[bool]:
    """``Deal.stage_id IN ids`` for queries over deals closed in a period: on SQLite
    ``+ 0`` keeps it without statistics (before ANALYZE) from reading every deal of the
    stage by the stage index; the closed_at index then serves the range, stage included.
    PostgreSQL has statistics (autovacuum analyzes), and ``+ 0`` only hides the stage's share of the
    rows from its estimates (a few thousand deals expected for a quarter of a million)."""
    if postgresql():
        return Deal.stage_id.in_(ids or [-1])
    return (Deal.stage_id + 0).in_(ids or [-1])


def without_jit() -> None:
    """On PostgreSQL, no JIT compilation for the rest of this transaction.

    The reports' aggregates over a year of deals cost enough by the planner's estimates
    to pass ``jit_above_cost``, and compiling their expressions took longer than running
    them (0.2-0.8 s of a 2.5 s funnel at a million deals); they read rows from indexes
    and group them, where JIT has little to win."""
    if postgresql():
        db.session.execute(sa.text("SET LOCAL jit = off"))
