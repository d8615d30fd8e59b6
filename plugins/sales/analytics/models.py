"""Sales plans (entered by the head of sales) and the indexes the sales reports read by."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.audit.models import Audited
from core.db import BusinessMixin, db
from plugins.sales.models import MONEY, Deal, DealLine, StageChange

PLAN_KINDS = ("product_group", "seller", "client")


class SalesPlan(Audited, BusinessMixin, db.Model):
    """A turnover target for one month and one product group, seller (user) or client."""

    __tablename__ = "sales_plans"
    __table_args__ = (
        sa.UniqueConstraint(
            "period_month", "kind", "dimension_id", "currency", name="uq_sales_plans_target"
        ),
        sa.Index("ix_sales_plans_kind_month", "kind", "period_month"),
    )

    period_month: Mapped[date] = mapped_column()  # the first day of the month
    kind: Mapped[str] = mapped_column(sa.String(20))  # product_group, seller, client
    dimension_id: Mapped[int] = mapped_column()
    amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    currency: Mapped[str] = mapped_column(sa.String(3))


# Covering indexes of the reports (created by migration 0004_plans). The funnel counts stage
# entries from (to_stage_id, at) and finds the few backward moves (the only way a deal can
# enter a stage twice) from (to_stage_id, from_stage_id, at); won/lost, ABC, managers and
# plans read the deals closed in a period, managers and sources the deals created in one,
# and the forecast the open deals by stage, all from the index alone.
sa.Index(
    "ix_sales_stage_changes_moves",
    StageChange.__table__.c.to_stage_id,
    StageChange.__table__.c.from_stage_id,
    StageChange.__table__.c.at,
    StageChange.__table__.c.deal_id,
)
# Only the re-entries of a deal into a stage (migration 0010_stage_entries): the funnel
# subtracts those whose previous entry falls in its period.
sa.Index(
    "ix_sales_stage_changes_reentries",
    StageChange.__table__.c.to_stage_id,
    StageChange.__table__.c.at,
    StageChange.__table__.c.previous_at,
    StageChange.__table__.c.deal_id,
    sqlite_where=StageChange.__table__.c.previous_at.is_not(None),
    postgresql_where=StageChange.__table__.c.previous_at.is_not(None),
)
sa.Index(
    "ix_sales_deals_closed_report",
    Deal.__table__.c.closed_at,
    Deal.__table__.c.stage_id,
    Deal.__table__.c.owner_id,
    Deal.__table__.c.client_id,
    Deal.__table__.c.amount,
    Deal.__table__.c.lost_reason_id,
    Deal.__table__.c.created_at,
)
# ABC of clients: the won deals closed in a period with what it sums and filters by
# (migration 0010_stage_entries).
sa.Index(
    "ix_sales_deals_won",
    Deal.__table__.c.stage_id,
    Deal.__table__.c.closed_at,
    Deal.__table__.c.client_id,
    Deal.__table__.c.amount,
    Deal.__table__.c.owner_id,
    Deal.__table__.c.pipeline_id,
    Deal.__table__.c.currency,
)
sa.Index(
    "ix_sales_deals_created_report",
    Deal.__table__.c.created_at,
    Deal.__table__.c.owner_id,
    Deal.__table__.c.stage_id,
    Deal.__table__.c.source,
    Deal.__table__.c.amount,
)
sa.Index(
    "ix_sales_deals_forecast",
    Deal.__table__.c.stage_id,
    Deal.__table__.c.expected_close_on,
    Deal.__table__.c.owner_id,
    Deal.__table__.c.amount,
)
sa.Index(
    "ix_sales_deal_lines_report",
    DealLine.__table__.c.deal_id,
    DealLine.__table__.c.product_id,
    DealLine.__table__.c.total_amount,
)
