"""Stage rules, the record of each rule's run per entry into a stage, and the stage time
limit notices already sent."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.audit.models import Audited
from core.db import BusinessMixin, db, utcnow
from plugins.sales.models import Stage

TRIGGERS = ("enter", "invoice_paid")


class StageRule(Audited, BusinessMixin, db.Model):
    """What happens when a deal enters ``stage`` (trigger "enter"), or when an invoice of a
    deal standing in ``stage`` becomes paid in full (trigger "invoice_paid")."""

    __tablename__ = "sales_stage_rules"
    __table_args__ = (sa.Index("ix_sales_stage_rules_stage", "stage_id", "position"),)

    stage_id: Mapped[int] = mapped_column(sa.ForeignKey("sales_stages.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    trigger: Mapped[str] = mapped_column(sa.String(20), default="enter")
    action: Mapped[str] = mapped_column(sa.String(60))
    params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    active: Mapped[bool] = mapped_column(default=True)

    stage: Mapped[Stage] = relationship()


class RuleRun(db.Model):
    """One rule run for one entry into a stage: inserting the row claims the run, so a
    rule runs once per entry however many workers try."""

    __tablename__ = "sales_rule_runs"
    __table_args__ = (
        sa.UniqueConstraint("rule_id", "stage_change_id", name="uq_sales_rule_runs_rule_change"),
        sa.Index("ix_sales_rule_runs_change", "stage_change_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(sa.ForeignKey("sales_stage_rules.id", ondelete="CASCADE"))
    stage_change_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sales_stage_changes.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(sa.String(10), default="running")  # running, done, failed
    error: Mapped[str] = mapped_column(sa.Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class StageAlert(db.Model):
    """A stage time limit notice sent for one entry: "owner", then "head"."""

    __tablename__ = "sales_stage_alerts"
    __table_args__ = (
        sa.UniqueConstraint("stage_change_id", "kind", name="uq_sales_stage_alerts_change_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_change_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sales_stage_changes.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(sa.String(10))
    at: Mapped[datetime] = mapped_column(default=utcnow)
