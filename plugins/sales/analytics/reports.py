"""The sales reports: funnel, won/lost, managers, lead sources, ABC, forecast, plan vs actual.

Each report runs a few aggregate queries (GROUP BY) over deals, stage changes and lines
within the user's "sales.deals" scope (applied to the deal owner), then arranges the few
grouped rows it gets back. Periods are the user's days, stored timestamps are naive UTC.

Definitions (also in docs/sales-reports.md):

- Funnel: a deal counts at a stage when it entered that stage during the period (once,
  however often it came back); "to next" is the next stage's count over this one's, "to
  won" the won stage's count over this one's; the totals line is the first stage to won.
- Won/lost: deals closed (moved to a won or lost stage) in the period; the cycle is the
  time from creation to closing.
- ABC: revenue of won deals closed in the period, sorted from the largest; an item
  belongs to A while the revenue before it is under 80 % of the total (so the item that
  crosses 80 % is still A), to B while it is under 95 %, and to C after that.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import itertools
from array import array
from collections import defaultdict
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError

from core.clients.models import ClientOption
from core.db import db, utcnow
from core.interactions.models import Interaction
from core.plugin_system.types import Report, ReportChart, ReportColumn, ReportFilter, ReportResult
from core.security import scoped
from core.tasks.models import ACTIVE_STATUSES, Task
from plugins.sales.analytics import queries as q
from plugins.sales.analytics.models import PLAN_KINDS, SalesPlan
from plugins.sales.models import (
    Deal,
    DealLine,
    LostReason,
    Product,
    ProductGroup,
    StageChange,
    StageEntry,
)

GROUP = _l("Sales")
PERMISSION = "sales.reports"
A_SHARE, B_SHARE = 0.80, 0.95
ITEMS_LIMIT = 1000


# --- 1. funnel ---------------------------------------------------------------------------


def _deals_of(params: dict[str, Any], user: Any) -> sa.Select | None:
    """The ids of the deals of the owner, team, currency and scope; None for every deal."""
    people = any(params.get(k) is not None for k in ("owner", "team"))
    if not (people or params.get("currency") or user.scope_for(q.SCOPE) != "all"):
        return None
    deals = sa.select(Deal.id)
    if params.get("currency"):
        deals = deals.where(Deal.currency == params["currency"])
    return q.limit_people(deals, Deal.owner_id, params, user)


def entered_counts(stage_ids: list[int], params: dict[str, Any], user: Any) -> dict[int, int]:
    """How many deals entered each stage in the period, each deal once per stage.

    Counted as entries minus repeated entries. The entries of whole UTC days come from
    ``sales_stage_entries`` (per stage, day, owner and currency, kept by triggers), those
    of the partial days at either end of the period (a user's midnight in another time
    zone) from the stage changes themselves. A deal that entered a stage k times in the
    period has k - 1 entries whose previous entry into that stage (``previous_at``) is in
    the period too; those are read from the partial index of re-entries, a few percent of
    the stage changes.

    Limited to some deals (owner, team, scope), the totals are limited by their owner and
    currency keys, and the stage changes as ``deal_id IN (those deals)``.
    """
    start, end = q.bounds(params)
    deals = _deals_of(params, user)
    counts: dict[int, int] = defaultdict(int)
    first_day = start.date() if start.time() == dt.time() else start.date() + dt.timedelta(1)
    last_day = end.date()  # the whole days are [first_day, last_day)
    if first_day < last_day:
        totals = sa.select(StageEntry.stage_id, sa.func.sum(StageEntry.entries)).where(
            StageEntry.stage_id.in_(stage_ids),
            StageEntry.day >= first_day,
            StageEntry.day < last_day,
        )
        if params.get("currency"):
            totals = totals.where(StageEntry.currency == params["currency"])
        totals = q.limit_people(totals, StageEntry.owner_key, params, user)
        for stage_id, n in db.session.execute(totals.group_by(StageEntry.stage_id)):
            counts[stage_id] += int(n or 0)
        edges = [
            (start, dt.datetime.combine(first_day, dt.time())),
            (dt.datetime.combine(last_day, dt.time()), end),
        ]
    else:
        edges = [(start, end)]
    for since, until in edges:
        if since >= until:
            continue
        conditions = [StageChange.at >= since, StageChange.at < until]
        stage = StageChange.to_stage_id
        if deals is not None:
            conditions.append(StageChange.deal_id.in_(deals))
            stage = StageChange.to_stage_id + 0
        entries = (
            sa.select(StageChange.to_stage_id, sa.func.count())
            .where(stage.in_(stage_ids), *conditions)
            .group_by(StageChange.to_stage_id)
        )
        for stage_id, n in db.session.execute(entries):
            counts[stage_id] += n
    repeated = sa.select(StageChange.to_stage_id, sa.func.count()).where(
        StageChange.previous_at.is_not(None),
        StageChange.previous_at >= start,
        StageChange.at >= start,
        StageChange.at < end,
        StageChange.to_stage_id.in_(stage_ids),
    )
    if deals is not None:
        repeated = repeated.where(StageChange.deal_id.in_(deals))
    for stage_id, n in db.session.execute(repeated.group_by(StageChange.to_stage_id)):
        counts[stage_id] -= n
    return {stage_id: n for stage_id, n in counts.items() if n}


def funnel(params: dict[str, Any], user: Any) -> ReportResult:
    pipeline_id = q.pipeline_of(params)
    known = q.pipelines()
    chosen = [p for p in known if pipeline_id is None or p[0] == pipeline_id]
    wanted = {p[0] for p in chosen}
    stage_ids = [s.id for s in q.stages().values() if s.pipeline_id in wanted]
    counts = entered_counts(stage_ids, params, user) if stage_ids else {}
    all_stages = q.stages()
    rows: list[dict[str, Any]] = []
    first_total = won_total = 0
    order = {"open": 0, "won": 1, "lost": 2}
    for pid, pname in chosen:
        mine = sorted(
            (
                s
                for s in all_stages.values()
                if s.pipeline_id == pid and (not s.removed or counts.get(s.id))
            ),
            key=lambda s: (order.get(s.kind, 3), s.position, s.id),
        )
        if not mine:
            continue
        won = sum(counts.get(s.id, 0) for s in mine if s.kind == "won")
        path = [s for s in mine if s.kind != "lost"]
        open_path = [s for s in path if s.kind == "open"]
        first_total += counts.get(path[0].id, 0) if path else 0
        won_total += won
        for s in mine:
            n = counts.get(s.id, 0)
            to_next = to_won = None
            if s.kind == "open":
                index = open_path.index(s)
                following = (
                    counts.get(open_path[index + 1].id, 0) if index + 1 < len(open_path) else won
                )
                to_next, to_won = q.ratio(following, n), q.ratio(won, n)
            label = s.name if pipeline_id is not None else f"{pname}: {s.name}"
            rows.append(
                {"stage": label, "kind": s.kind, "entered": n, "to_next": to_next, "to_won": to_won}
            )
    return ReportResult(
        columns=[
            ReportColumn("stage", _l("Stage")),
            ReportColumn("entered", _l("Deals entered"), "int"),
            ReportColumn("to_next", _l("Conversion to next stage"), "percent"),
            ReportColumn("to_won", _l("Conversion to won"), "percent"),
        ],
        rows=rows,
        totals={
            "stage": _l("First stage to won"),
            "entered": first_total,
            "to_won": q.ratio(won_total, first_total),
        },
    )


# --- 2. won / lost -----------------------------------------------------------------------


def won_lost(params: dict[str, Any], user: Any) -> ReportResult:
    start, end = q.bounds(params)
    won_ids, lost_ids = q.stage_ids("won"), q.stage_ids("lost")
    cycle = q.days_between(Deal.closed_at, Deal.created_at)
    query = sa.select(
        Deal.stage_id.in_(won_ids or [-1]).label("won"),
        Deal.lost_reason_id,
        sa.func.count(),
        sa.func.sum(Deal.amount),
        sa.func.sum(cycle),
    ).where(
        Deal.closed_at >= start,
        Deal.closed_at < end,
        q.closed_stage_in([*won_ids, *lost_ids] or [-1]),
    )
    query = q.limit_deals(query, params, user).group_by(sa.text("1"), Deal.lost_reason_id)
    outcome = {True: [0, Decimal(0), 0.0], False: [0, Decimal(0), 0.0]}
    reasons: dict[int | None, list] = {}
    for is_won, reason_id, count, amount, days in db.session.execute(query):
        figures = outcome[bool(is_won)]
        figures[0] += count
        figures[1] += q.money(amount)
        figures[2] += float(days or 0)
        if not is_won:
            reasons[reason_id] = [count, q.money(amount), float(days or 0)]
    closed = outcome[True][0] + outcome[False][0]
    reason_names = q.names(LostReason, reasons)

    def row(label: Any, figures: list, whole: int) -> dict[str, Any]:
        count, amount, days = figures
        return {
            "outcome": label,
            "deals": count,
            "share": q.ratio(count, whole),
            "amount": amount,
            "average": (amount / count).quantize(Decimal("0.01")) if count else None,
            "cycle_days": round(days / count, 1) if count else None,
        }

    rows = [row(_l("Won"), outcome[True], closed), row(_l("Lost"), outcome[False], closed)]
    lost = outcome[False][0]
    for reason_id, figures in sorted(reasons.items(), key=lambda kv: (-kv[1][0], kv[0] or 0)):
        name = reason_names.get(reason_id) if reason_id else None
        label = _l("Lost: %(reason)s", reason=name or _l("no reason given"))
        rows.append(row(label, figures, lost))
    total_amount = outcome[True][1] + outcome[False][1]
    return ReportResult(
        columns=[
            ReportColumn("outcome", _l("Outcome")),
            ReportColumn("deals", _l("Deals"), "int"),
            ReportColumn("share", _l("Share"), "percent"),
            ReportColumn("amount", _l("Amount"), "money"),
            ReportColumn("average", _l("Average deal"), "money"),
            ReportColumn("cycle_days", _l("Average cycle, days"), "money"),
        ],
        rows=rows,
        totals={
            "outcome": _l("Closed"),
            "deals": closed,
            "amount": total_amount,
            "average": (total_amount / closed).quantize(Decimal("0.01")) if closed else None,
            "cycle_days": round((outcome[True][2] + outcome[False][2]) / closed, 1)
            if closed
            else None,
        },
    )


# --- 3. per manager ----------------------------------------------------------------------

MANAGER_KEYS = ("created", "won", "lost", "won_amount", "calls", "meetings", "tasks_overdue")


def managers(params: dict[str, Any], user: Any) -> ReportResult:
    start, end = q.bounds(params)
    won_ids, lost_ids = q.stage_ids("won") or [-1], q.stage_ids("lost") or [-1]
    figures: dict[int, dict[str, Any]] = defaultdict(dict)
    deal_params = {k: params.get(k) for k in ("owner", "team", "pipeline", "currency")}

    created = q.limit_deals(
        sa.select(Deal.owner_id, sa.func.count()).where(
            Deal.created_at >= start, Deal.created_at < end
        ),
        deal_params,
        user,
    ).group_by(Deal.owner_id)
    for uid, n in db.session.execute(created):
        figures[uid]["created"] = n
    is_won = Deal.stage_id.in_(won_ids)
    closed = q.limit_deals(
        sa.select(
            Deal.owner_id,
            sa.func.sum(sa.case((is_won, 1), else_=0)),
            sa.func.sum(sa.case((Deal.stage_id.in_(lost_ids), 1), else_=0)),
            sa.func.sum(sa.case((is_won, Deal.amount), else_=0)),
        ).where(
            Deal.closed_at >= start,
            Deal.closed_at < end,
            q.closed_stage_in([*won_ids, *lost_ids]),
        ),
        deal_params,
        user,
    ).group_by(Deal.owner_id)
    for uid, won, lost, amount in db.session.execute(closed):
        figures[uid].update(won=won or 0, lost=lost or 0, won_amount=q.money(amount))
    # Calls and meetings in one pass: nothing indexes interactions by date, so each
    # query reads the whole table (two passes took 1.3 s of 5,000,000 on PostgreSQL).
    keys = {"call": "calls", "meeting": "meetings"}
    contacts = q.limit_people(
        sa.select(Interaction.user_id, Interaction.kind, sa.func.count()).where(
            Interaction.kind.in_(list(keys)),
            Interaction.occurred_at >= start,
            Interaction.occurred_at < end,
        ),
        Interaction.user_id,
        params,
        user,
    ).group_by(Interaction.user_id, Interaction.kind)
    for uid, kind, n in db.session.execute(contacts):
        figures[uid][keys[kind]] = n
    now = utcnow()
    late = sa.or_(
        sa.and_(Task.status.in_(ACTIVE_STATUSES), Task.due_at < now),
        sa.and_(Task.status == "done", Task.completed_at > Task.due_at),
    )
    overdue = q.limit_people(
        sa.select(Task.assignee_id, sa.func.count()).where(
            Task.due_at >= start, Task.due_at < end, late
        ),
        Task.assignee_id,
        params,
        user,
    ).group_by(Task.assignee_id)
    for uid, n in db.session.execute(overdue):
        figures[uid]["tasks_overdue"] = n
    figures.pop(None, None)  # type: ignore[call-overload]
    people = q.user_names(figures)
    rows = sorted(
        (
            {
                "manager": people.get(uid, f"#{uid}"),
                **{k: f.get(k, Decimal("0.00") if k == "won_amount" else 0) for k in MANAGER_KEYS},
            }
            for uid, f in figures.items()
        ),
        key=lambda r: str(r["manager"]).casefold(),
    )
    return ReportResult(
        columns=[
            ReportColumn("manager", _l("Manager")),
            ReportColumn("created", _l("Deals created"), "int"),
            ReportColumn("won", _l("Won"), "int"),
            ReportColumn("lost", _l("Lost"), "int"),
            ReportColumn("won_amount", _l("Won amount"), "money"),
            ReportColumn("calls", _l("Calls"), "int"),
            ReportColumn("meetings", _l("Meetings"), "int"),
            ReportColumn("tasks_overdue", _l("Tasks overdue"), "int"),
        ],
        rows=rows,
        totals={"manager": _l("Total"), **{k: sum(r[k] for r in rows) for k in MANAGER_KEYS}},
    )


# --- 4. lead sources ---------------------------------------------------------------------


def sources(params: dict[str, Any], user: Any) -> ReportResult:
    start, end = q.bounds(params)
    is_won = Deal.stage_id.in_(q.stage_ids("won") or [-1])
    query = q.limit_deals(
        sa.select(
            Deal.source,
            sa.func.count(),
            sa.func.sum(sa.case((is_won, 1), else_=0)),
            sa.func.sum(sa.case((is_won, Deal.amount), else_=0)),
        ).where(Deal.created_at >= start, Deal.created_at < end),
        params,
        user,
    ).group_by(Deal.source)
    labels = dict(
        db.session.execute(
            sa.select(ClientOption.code, ClientOption.label).where(ClientOption.list == "source")
        ).all()
    )
    rows = []
    for source, leads, won, amount in db.session.execute(query):
        rows.append(
            {
                "source": labels.get(source, source) if source else _l("Not set"),
                "leads": leads,
                "won": won or 0,
                "won_amount": q.money(amount),
                "conversion": q.ratio(won or 0, leads),
            }
        )
    rows.sort(key=lambda r: (-r["leads"], str(r["source"])))
    leads = sum(r["leads"] for r in rows)
    won = sum(r["won"] for r in rows)
    return ReportResult(
        columns=[
            ReportColumn("source", _l("Source")),
            ReportColumn("leads", _l("Leads"), "int"),
            ReportColumn("won", _l("Won deals"), "int"),
            ReportColumn("won_amount", _l("Won amount"), "money"),
            ReportColumn("conversion", _l("Conversion"), "percent"),
        ],
        rows=rows,
        totals={
            "source": _l("Total"),
            "leads": leads,
            "won": won,
            "won_amount": sum((r["won_amount"] for r in rows), Decimal("0.00")),
            "conversion": q.ratio(won, leads),
        },
    )


# --- 5. ABC ------------------------------------------------------------------------------

ABC_VIEWS = (("classes", _l("Classes")), ("items", _l("Every item")))


def _revenues(
    kind: str, params: dict[str, Any], user: Any, items: bool
) -> tuple[list[tuple], array]:
    """Revenue per client or product from won deals closed in the period, ranked (the
    largest first, equal ones by item id): with ``items`` the first ``ITEMS_LIMIT``
    ``(item, cents)`` rows, and every revenue in cents in rank order.

    The classes alone need only the revenues in order: SQLite sorting (revenue, item) rows
    and handing over both columns cost more than sorting plain integers here (~15 % of
    the report at 220,000 clients), so then only the revenues are read, unsorted.

    Clients are read from ``ix_sales_deals_won`` (won stage, closing time, then every
    column the filters and the sum need), so only won deals of the period are visited;
    the ``+ 0`` on the pipeline keeps SQLite (no statistics before ANALYZE) from reading
    every deal of the pipeline by the board's indexes instead."""
    start, end = q.bounds(params)
    won = q.stage_ids("won") or [-1]
    if kind == "clients":
        query = (
            sa.select(
                Deal.client_id.label("item"), q.cents(sa.func.sum(Deal.amount)).label("cents")
            )
            .where(Deal.stage_id.in_(won), Deal.closed_at >= start, Deal.closed_at < end)
            .group_by(Deal.client_id)
        )
        pipeline_id = q.pipeline_of(params)
        if pipeline_id is not None:
            pipeline = Deal.pipeline_id if q.postgresql() else Deal.pipeline_id + 0
            query = query.where(pipeline == pipeline_id)
        if params.get("currency"):
            query = query.where(Deal.currency == params["currency"])
        query = q.limit_people(query, Deal.owner_id, params, user)
    else:
        query = (
            sa.select(
                DealLine.product_id.label("item"),
                q.cents(sa.func.sum(DealLine.total_amount)).label("cents"),
            )
            .select_from(Deal)
            .join(DealLine, DealLine.deal_id == Deal.id)
            .where(
                DealLine.product_id.is_not(None),
                Deal.closed_at >= start,
                Deal.closed_at < end,
                q.closed_stage_in(won),
            )
            .group_by(DealLine.product_id)
        )
        query = q.limit_deals(query, params, user)
    if not items:
        _, cents = q.first_rows_and_cents(query.with_only_columns(query.selected_columns[1]), 0)
        return [], array("q", sorted(cents, reverse=True))
    ranked = query.order_by(sa.desc("cents"), sa.asc("item"))
    return q.first_rows_and_cents(ranked, ITEMS_LIMIT)


@dataclasses.dataclass
class Ranking:
    """Revenues in rank order (cents) with their ABC classes.

    ``before[i]`` is the revenue of the items ranked above item ``i`` (``before[n]`` is
    the total). The classes are computed in integers, exactly: A while ``before`` is under
    80 % of the total, B while it is under 95 %, C after that."""

    values: array
    before: array
    total: int

    @classmethod
    def of(cls, values: array) -> Ranking:
        before = array("q", itertools.accumulate(values, initial=0))
        return cls(values, before, before[-1])

    def abc(self, index: int) -> str:
        """The class of the item ranked ``index`` (0 for the first)."""
        scaled = self.before[index] * 100
        if scaled < self.total * round(A_SHARE * 100):
            return "A"
        if scaled < self.total * round(B_SHARE * 100):
            return "B"
        return "C"

    def classes(self) -> dict[str, tuple[int, int]]:
        """Per class: how many items and their revenue in cents."""
        n = len(self.values)
        if n and self.values[-1] < 0:
            # Negative revenues make ``before`` fall again: item by item.
            found = {abc: (0, 0) for abc in "ABC"}
            for index, value in enumerate(self.values):
                count, cents = found[self.abc(index)]
                found[self.abc(index)] = (count + 1, cents + value)
            return found
        # ``before`` only grows: each class is one run of ranks, up to the first whose
        # ``before`` reaches the share, ceil(total * share).
        a = bisect.bisect_left(self.before, -(-self.total * round(A_SHARE * 100) // 100), 0, n)
        b = bisect.bisect_left(self.before, -(-self.total * round(B_SHARE * 100) // 100), a, n)
        return {
            "A": (a, self.before[a]),
            "B": (b - a, self.before[b] - self.before[a]),
            "C": (n - b, self.total - self.before[b]),
        }


def _cents(value: int) -> Decimal:
    return Decimal(int(value)).scaleb(-2)


def _abc(kind: str):
    heading = _l("Client") if kind == "clients" else _l("Product")

    def run(params: dict[str, Any], user: Any) -> ReportResult:
        classes = (params.get("view") or "classes") == "classes"
        first, cents = _revenues(kind, params, user, items=not classes)
        ranking = Ranking.of(cents)
        total = _cents(ranking.total)
        if classes:
            found = ranking.classes()
            rows = [
                {
                    "abc": abc,
                    "items": found[abc][0],
                    "revenue": _cents(found[abc][1]),
                    "share": q.ratio(_cents(found[abc][1]), total),
                }
                for abc in "ABC"
            ]
            return ReportResult(
                columns=[
                    ReportColumn("abc", _l("Class")),
                    ReportColumn(
                        "items", _l("Clients") if kind == "clients" else _l("Products"), "int"
                    ),
                    ReportColumn("revenue", _l("Revenue"), "money"),
                    ReportColumn("share", _l("Share of revenue"), "percent"),
                ],
                rows=rows,
                totals={
                    "abc": _l("Total"),
                    "items": len(ranking.values),
                    "revenue": total,
                    "share": 1.0,
                },
                chart=ReportChart("bar", "abc", ("revenue",)),
            )
        label = q.client_names if kind == "clients" else q.product_names
        known = label(item for item, _ in first)
        rows, running = [], Decimal("0.00")
        for index, (item, cents) in enumerate(first):
            revenue = _cents(cents)
            running += revenue
            rows.append(
                {
                    "rank": index + 1,
                    "item": known.get(item, f"#{item}"),
                    "revenue": revenue,
                    "share": q.ratio(revenue, total),
                    "cumulative": q.ratio(running, total),
                    "abc": ranking.abc(index),
                }
            )
        return ReportResult(
            columns=[
                ReportColumn("rank", "#", "int"),
                ReportColumn("item", heading),
                ReportColumn("revenue", _l("Revenue"), "money"),
                ReportColumn("share", _l("Share"), "percent"),
                ReportColumn("cumulative", _l("Cumulative share"), "percent"),
                ReportColumn("abc", _l("Class")),
            ],
            rows=rows,
            chart=None,
        )

    return run


# --- 6. forecast -------------------------------------------------------------------------


def forecast(params: dict[str, Any], user: Any) -> ReportResult:
    all_stages = q.stages()
    open_ids = [s.id for s in all_stages.values() if s.kind == "open"] or [-1]
    month = q.month_of(Deal.expected_close_on).label("month")
    query = sa.select(month, Deal.stage_id, sa.func.count(), sa.func.sum(Deal.amount)).where(
        Deal.stage_id.in_(open_ids)
    )
    if params.get("expected") is not None:
        period = params["expected"]
        query = query.where(
            Deal.expected_close_on >= period.start, Deal.expected_close_on <= period.end
        )
    query = q.limit_deals(query, params, user).group_by(month, Deal.stage_id)
    months: dict[str | None, list] = {}
    for key, stage_id, count, amount in db.session.execute(query):
        figures = months.setdefault(key, [0, Decimal("0.00"), Decimal("0.00")])
        amount = q.money(amount)
        figures[0] += count
        figures[1] += amount
        figures[2] += amount * all_stages[stage_id].probability / 100
    rows = [
        {
            "month": key or _l("No expected date"),
            "deals": f[0],
            "amount": f[1],
            "weighted": f[2].quantize(Decimal("0.01")),
        }
        for key, f in sorted(months.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
    ]
    return ReportResult(
        columns=[
            ReportColumn("month", _l("Expected close month")),
            ReportColumn("deals", _l("Open deals"), "int"),
            ReportColumn("amount", _l("Amount"), "money"),
            ReportColumn("weighted", _l("Weighted amount"), "money"),
        ],
        rows=rows,
        totals={
            "month": _l("Total"),
            "deals": sum(r["deals"] for r in rows),
            "amount": sum((r["amount"] for r in rows), Decimal("0.00")),
            "weighted": sum((r["weighted"] for r in rows), Decimal("0.00")),
        },
    )


# --- 7. plan vs actual -------------------------------------------------------------------

PLAN_KIND_LABELS = {
    "seller": _l("Seller"),
    "client": _l("Client"),
    "product_group": _l("Product group"),
}


def plan_kind_choices() -> list[tuple[str, str]]:
    return [(k, str(PLAN_KIND_LABELS[k])) for k in PLAN_KINDS]


def _plans(kind: str, params: dict[str, Any], user: Any) -> dict[int, Decimal]:
    period = params["period"]
    first = period.start.replace(day=1)
    query = sa.select(SalesPlan.dimension_id, sa.func.sum(SalesPlan.amount)).where(
        SalesPlan.kind == kind,
        SalesPlan.period_month >= first,
        SalesPlan.period_month <= period.end,
    )
    if params.get("currency"):
        query = query.where(SalesPlan.currency == params["currency"])
    if kind == "seller":
        query = q.limit_people(query, SalesPlan.dimension_id, params, user)
    elif kind == "client":
        from core.clients.models import Client

        visible = scoped(sa.select(Client.id), user, "clients", Client.owner_id)
        query = query.where(SalesPlan.dimension_id.in_(visible))
    query = query.group_by(SalesPlan.dimension_id)
    return {i: q.money(a) for i, a in db.session.execute(query)}


def _actuals(kind: str, params: dict[str, Any], user: Any) -> dict[int | None, Decimal]:
    start, end = q.bounds(params)
    won = q.closed_stage_in(q.stage_ids("won") or [-1])
    if kind == "product_group":
        query = (
            sa.select(Product.group_id, sa.func.sum(DealLine.total_amount))
            .select_from(Deal)
            .join(DealLine, DealLine.deal_id == Deal.id)
            .join(Product, Product.id == DealLine.product_id)
            .group_by(Product.group_id)
        )
    else:
        column = Deal.owner_id if kind == "seller" else Deal.client_id
        query = sa.select(column, sa.func.sum(Deal.amount)).group_by(column)
    query = query.where(Deal.closed_at >= start, Deal.closed_at < end, won)
    query = q.limit_deals(query, params, user)
    return {i: q.money(a) for i, a in db.session.execute(query)}


def plan_actual(params: dict[str, Any], user: Any) -> ReportResult:
    kind = params.get("kind") or "seller"
    plans = _plans(kind, params, user)
    actuals = _actuals(kind, params, user)
    keys = set(plans) | {k for k in actuals if k is not None}
    if kind == "seller":
        labels = q.user_names(keys)
    elif kind == "client":
        labels = q.client_names(keys)
    else:
        labels = q.names(ProductGroup, keys)
    rows = []
    for key in keys:
        plan, actual = plans.get(key), actuals.get(key, Decimal("0.00"))
        rows.append(
            {
                "name": labels.get(key, f"#{key}"),
                "plan": plan,
                "actual": actual,
                "deviation": actual - plan if plan is not None else None,
                "completion": q.ratio(actual, plan),
            }
        )
    rows.sort(key=lambda r: str(r["name"]).casefold())
    if actuals.get(None):
        rows.append(
            {
                "name": _l("No product group") if kind == "product_group" else _l("No owner"),
                "plan": None,
                "actual": actuals[None],
                "deviation": None,
                "completion": None,
            }
        )
    plan_total = sum(plans.values(), Decimal("0.00"))
    actual_total = sum(actuals.values(), Decimal("0.00"))
    return ReportResult(
        columns=[
            ReportColumn("name", PLAN_KIND_LABELS[kind]),
            ReportColumn("plan", _l("Plan"), "money"),
            ReportColumn("actual", _l("Actual"), "money"),
            ReportColumn("deviation", _l("Deviation"), "money"),
            ReportColumn("completion", _l("Completion"), "percent"),
        ],
        rows=rows,
        totals={
            "name": _l("Total"),
            "plan": plan_total,
            "actual": actual_total,
            "deviation": actual_total - plan_total,
            "completion": q.ratio(actual_total, plan_total),
        },
    )


def _check_pipeline_exists(run):
    """Choices are checked by core; this guards a pipeline removed between form and run."""

    def checked(params: dict[str, Any], user: Any) -> ReportResult:
        pipeline_id = q.pipeline_of(params)
        if pipeline_id is not None and pipeline_id not in dict(q.pipelines()):
            raise ValidationError({"pipeline": [str(_l("No such pipeline."))]})
        return run(params, user)

    return checked


def _without_jit(run):
    """``run`` with PostgreSQL's JIT off for its queries (see ``queries.without_jit``)."""

    def prepared(params: dict[str, Any], user: Any) -> ReportResult:
        q.without_jit()
        return run(params, user)

    return prepared


def reports() -> list[Report]:
    return [dataclasses.replace(r, run=_without_jit(r.run)) for r in _reports()]


def _reports() -> list[Report]:
    deal_filters = [q.pipeline_filter(), q.owner_filter(), q.team_filter()]
    money_filters = [*deal_filters, q.currency_filter()]
    return [
        Report(
            "sales.funnel",
            _l("Funnel conversion"),
            PERMISSION,
            [q.period_filter(_l("Entered a stage")), *deal_filters],
            _check_pipeline_exists(funnel),
            chart=ReportChart("bar", "stage", ("entered",)),
            weight=10,
            group=GROUP,
            description=_l(
                "Deals that entered each stage in the period, conversion to the next stage "
                "and to won."
            ),
        ),
        Report(
            "sales.won_lost",
            _l("Won and lost deals"),
            PERMISSION,
            [q.period_filter(_l("Closed"), "this_month"), *money_filters],
            won_lost,
            chart=ReportChart("bar", "outcome", ("deals",)),
            weight=20,
            group=GROUP,
            description=_l(
                "Deals closed in the period: amounts, average deal, cycle time, lost reasons."
            ),
        ),
        Report(
            "sales.managers",
            _l("Sales per manager"),
            PERMISSION,
            [q.period_filter(default="this_month"), *money_filters],
            managers,
            chart=ReportChart("bar", "manager", ("created", "won", "lost")),
            weight=30,
            group=GROUP,
            description=_l(
                "Deals created, won and lost, won amount, calls, meetings and overdue tasks."
            ),
        ),
        Report(
            "sales.sources",
            _l("Lead sources"),
            PERMISSION,
            [q.period_filter(_l("Created")), *money_filters],
            sources,
            chart=ReportChart("bar", "source", ("leads", "won")),
            weight=40,
            group=GROUP,
            description=_l("Leads created in the period per source, won deals and conversion."),
        ),
        Report(
            "sales.abc_clients",
            _l("ABC analysis of clients"),
            PERMISSION,
            [
                q.period_filter(_l("Won")),
                *money_filters,
                ReportFilter("view", _l("Show"), "choice", ABC_VIEWS, default="classes"),
            ],
            _abc("clients"),
            weight=50,
            group=GROUP,
            description=_l(
                "Revenue of won deals per client: A up to 80 %, B the next 15 %, C the rest."
            ),
        ),
        Report(
            "sales.abc_products",
            _l("ABC analysis of products"),
            PERMISSION,
            [
                q.period_filter(_l("Won")),
                *money_filters,
                ReportFilter("view", _l("Show"), "choice", ABC_VIEWS, default="classes"),
            ],
            _abc("products"),
            weight=60,
            group=GROUP,
            description=_l(
                "Line totals of won deals per product: A up to 80 %, B the next 15 %, C the rest."
            ),
        ),
        Report(
            "sales.forecast",
            _l("Sales forecast"),
            PERMISSION,
            [
                ReportFilter("expected", _l("Expected close"), "period"),
                *money_filters,
            ],
            forecast,
            chart=ReportChart("bar", "month", ("amount", "weighted")),
            weight=70,
            group=GROUP,
            description=_l(
                "Open deals by expected close month, weighted by their stage's probability."
            ),
        ),
        Report(
            "sales.plan_actual",
            _l("Plan vs actual"),
            PERMISSION,
            [
                q.period_filter(default="this_month"),
                ReportFilter(
                    "kind", _l("Plans for"), "choice", plan_kind_choices, default="seller"
                ),
                *money_filters,
            ],
            plan_actual,
            chart=ReportChart("bar", "name", ("plan", "actual")),
            weight=80,
            group=GROUP,
            description=_l("Turnover planned by the head of sales against won deals."),
        ),
    ]
