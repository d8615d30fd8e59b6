"""Reading deals: the filters shared by the board, the list, the export and the API, a
keyset page, and the board's columns (a fixed number of queries however many deals)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import sqlalchemy as sa

from core import security
from core.clients.models import Client
from core.db import db
from core.ids import parse_id
from core.users.models import User
from core.users.services import user_names
from plugins.sales.deals.services import SCOPE_AREA, cents, scoped, title_starts
from plugins.sales.models import Deal, Stage, StageTotal


@dataclass
class DealFilter:
    pipeline_id: int | None = None
    stage_id: int | None = None
    owner_id: int | None = None
    client_id: int | None = None
    source: str | None = None
    status: str | None = None  # open, won, lost
    q: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    expected_from: date | None = None
    expected_to: date | None = None

    @classmethod
    def from_args(cls, args: Any) -> DealFilter:
        """From a page's query string; what does not parse is ignored (a filter form)."""
        out = cls()
        for f in fields(cls):
            raw = (args.get(f.name) or "").strip()
            if not raw:
                continue
            if f.name.endswith("_id"):
                setattr(out, f.name, parse_id(raw))
            elif f.name.endswith(("_from", "_to")):
                try:
                    setattr(out, f.name, date.fromisoformat(raw))
                except ValueError:
                    pass
            elif f.name == "status":
                out.status = raw if raw in ("open", "won", "lost") else None
            else:
                setattr(out, f.name, raw[:200])
        return out

    def by_totals(self) -> bool:
        """No filter but the pipeline, the owner and the source: the board reads its
        totals table."""
        return all(
            getattr(self, f.name) in (None, "")
            for f in fields(self)
            if f.name not in ("pipeline_id", "owner_id", "source")
        )

    def args(self) -> dict[str, str]:
        """As query-string arguments (for links and the export)."""
        return {
            f.name: str(getattr(self, f.name))
            for f in fields(self)
            if getattr(self, f.name) not in (None, "")
        }

    def apply(self, query: sa.Select) -> sa.Select:
        for name in ("pipeline_id", "stage_id", "owner_id", "client_id", "source"):
            value = getattr(self, name)
            if value is not None:
                query = query.where(getattr(Deal, name) == value)
        if self.status is not None:
            query = query.where(
                Deal.stage_id.in_(sa.select(Stage.id).where(Stage.kind == self.status))
            )
        if self.q:
            query = query.where(title_starts(self.q))
        if self.created_from is not None:
            query = query.where(Deal.created_at >= datetime.combine(self.created_from, time()))
        if self.created_to is not None:
            end = datetime.combine(self.created_to + timedelta(days=1), time())
            query = query.where(Deal.created_at < end)
        if self.expected_from is not None:
            query = query.where(Deal.expected_close_on >= self.expected_from)
        if self.expected_to is not None:
            query = query.where(Deal.expected_close_on <= self.expected_to)
        return query


def page(
    flt: DealFilter, user: Any, cursor: int | None = None, limit: int = 50
) -> tuple[list[Deal], int | None]:
    """Deals ``user`` may see, newest first, ``limit`` at a time; the cursor is the last id."""
    query = scoped(flt.apply(sa.select(Deal)), user)
    if cursor is not None:
        query = query.where(Deal.id < cursor)
    rows = list(db.session.execute(query.order_by(Deal.id.desc()).limit(limit + 1)).scalars())
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


def rows_with_names(flt: DealFilter, user: Any, cursor: int | None, limit: int) -> tuple[list, Any]:
    """Like ``page`` but as rows with the client's, stage's and owner's names (one query)."""
    query = (
        sa.select(
            Deal,
            Client.name.label("client_name"),
            Stage.name.label("stage_name"),
            Stage.kind.label("stage_kind"),
            User.name.label("owner_name"),
        )
        .join(Client, Client.id == Deal.client_id)
        .join(Stage, Stage.id == Deal.stage_id)
        .outerjoin(User, User.id == Deal.owner_id)
    )
    query = scoped(flt.apply(query), user)
    if cursor is not None:
        query = query.where(Deal.id < cursor)
    rows = db.session.execute(query.order_by(Deal.id.desc()).limit(limit + 1)).all()
    return rows[:limit], (rows[limit - 1].Deal.id if len(rows) > limit else None)


class BoardCard(NamedTuple):
    """A deal as its card on the board shows it. A tuple with named fields: the template
    reads 140 of them, and an attribute of a tuple is the cheapest thing Jinja can read
    (a dict key costs it a failed attribute lookup first)."""

    id: int
    version: int
    title: str
    client: str
    amount: str  # as shown: "12,345.60"
    currency: str
    owner: str
    overdue: bool  # longer in its stage than the stage's target time


@dataclass
class Column:
    stage: Stage
    count: int
    sums: dict[str, Decimal]  # currency -> sum
    cards: list[BoardCard]

    @property
    def more(self) -> bool:
        return self.count > len(self.cards)


def board(
    stages: list[Stage], flt: DealFilter, user: Any, per_column: int, now: datetime
) -> list[Column]:
    """The board's columns: counts and sums per stage (one grouped query) and the newest
    ``per_column`` cards of every stage (one query of one limited part per stage). Each
    card carries its amount as shown and whether it has been in its stage longer than the
    stage's target time at ``now``: worked out here, once per card, the template only
    prints them (a board shows 140 cards)."""
    if not stages:
        return []
    stage_ids = [s.id for s in stages]
    counts, sums = _totals(stage_ids, flt, user)
    parts = []
    for stage_id in stage_ids:
        if not counts.get(stage_id):
            continue
        part = scoped(
            flt.apply(
                sa.select(
                    Deal.id,
                    Deal.stage_id,
                    Deal.title,
                    Deal.amount,
                    Deal.currency,
                    Deal.owner_id,
                    Deal.client_id,
                    Deal.stage_entered_at,
                    Deal.version,
                ).where(Deal.pipeline_id == stages[0].pipeline_id, Deal.stage_id == stage_id)
            ),
            user,
        )
        parts.append(sa.select(part.order_by(Deal.id.desc()).limit(per_column).subquery()))
    cards: dict[int, list[BoardCard]] = {}
    if parts:
        rows = db.session.execute(sa.union_all(*parts) if len(parts) > 1 else parts[0]).all()
        names = _names(rows)
        clients, users = names["clients"], names["users"]
        limits = {s.id: now - timedelta(hours=s.target_hours) for s in stages if s.target_hours}
        for row in sorted(rows, key=lambda r: -r.id):
            limit = limits.get(row.stage_id)
            cards.setdefault(row.stage_id, []).append(
                BoardCard(
                    row.id,
                    row.version,
                    row.title,
                    clients.get(row.client_id, ""),
                    f"{row.amount:,.2f}",
                    row.currency,
                    users.get(row.owner_id, ""),
                    bool(limit and row.stage_entered_at and row.stage_entered_at < limit),
                )
            )
    return [
        Column(stage, counts.get(stage.id, 0), sums.get(stage.id, {}), cards.get(stage.id, []))
        for stage in stages
    ]


def _totals(
    stage_ids: list[int], flt: DealFilter, user: Any
) -> tuple[dict[int, int], dict[int, dict[str, Decimal]]]:
    """Deals and sums per stage and currency. Without filters other than the owner they
    come from ``sales_stage_totals`` (a few rows per stage, owner and source, kept by
    triggers), so the board costs the same with a million deals; other filters (dates, the
    title) group the deals."""
    counts: dict[int, int] = {}
    sums: dict[int, dict[str, Decimal]] = {}
    if flt.by_totals():
        query = sa.select(
            StageTotal.stage_id,
            StageTotal.currency,
            sa.func.sum(StageTotal.deals),
            sa.func.sum(StageTotal.amount_cents),
        ).where(StageTotal.stage_id.in_(stage_ids))
        if flt.owner_id is not None:
            query = query.where(StageTotal.owner_key == flt.owner_id)
        if flt.source:
            query = query.where(StageTotal.source_key == flt.source)
        query = security.scoped(query, user, SCOPE_AREA, StageTotal.owner_key)
        rows = db.session.execute(query.group_by(StageTotal.stage_id, StageTotal.currency))
        totals = [(s, c, n, Decimal(int(t or 0)) / 100) for s, c, n, t in rows if n]
    else:
        grouped = scoped(
            flt.apply(
                sa.select(Deal.stage_id, Deal.currency, sa.func.count(), sa.func.sum(Deal.amount))
                .where(Deal.stage_id.in_(stage_ids))
                .group_by(Deal.stage_id, Deal.currency)
            ),
            user,
        )
        totals = list(db.session.execute(grouped))
    for stage_id, currency, count, total in totals:
        counts[stage_id] = counts.get(stage_id, 0) + count
        sums.setdefault(stage_id, {})[currency] = cents(Decimal(str(total or 0)))
    return counts, sums


def _names(rows: list[Any]) -> dict[str, dict[int, str]]:
    client_ids = {r.client_id for r in rows}
    user_ids = {r.owner_id for r in rows if r.owner_id}
    clients = (
        dict(
            db.session.execute(
                sa.select(Client.id, Client.name).where(Client.id.in_(client_ids))
            ).all()
        )
        if client_ids
        else {}
    )
    return {"clients": clients, "users": user_names(user_ids) if user_ids else {}}
