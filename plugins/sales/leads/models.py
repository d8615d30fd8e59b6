"""Web lead forms and every post to them (audit and rate limiting)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.audit.models import Audited
from core.db import BusinessMixin, db, utcnow
from plugins.sales.models import Pipeline


class LeadForm(Audited, BusinessMixin, db.Model):
    __tablename__ = "sales_lead_forms"

    name: Mapped[str] = mapped_column(sa.String(200))
    # Random and unguessable: the form's address is /forms/<key>.
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    pipeline_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sales_pipelines.id", ondelete="CASCADE")
    )
    owner_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    # Deals go round-robin to the active holders of this role when no owner is set.
    owner_role: Mapped[str] = mapped_column(sa.String(100), default="")
    source: Mapped[str] = mapped_column(sa.String(40), default="website")
    allowed_origins: Mapped[str] = mapped_column(sa.Text, default="")  # one per line
    active: Mapped[bool] = mapped_column(default=True)
    success_message: Mapped[str] = mapped_column(sa.Text, default="")
    redirect_url: Mapped[str] = mapped_column(sa.String(500), default="")

    pipeline: Mapped[Pipeline] = relationship()

    @property
    def origins(self) -> list[str]:
        return [
            line.strip().rstrip("/")
            for line in (self.allowed_origins or "").splitlines()
            if line.strip()
        ]


class LeadSubmission(db.Model):
    __tablename__ = "sales_lead_submissions"
    __table_args__ = (
        sa.Index("ix_sales_lead_submissions_ip", "ip_hash", "at"),
        sa.Index("ix_sales_lead_submissions_form", "form_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(sa.ForeignKey("sales_lead_forms.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    ip_hash: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(12))  # created, invalid, spam, limited
    deal_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sales_deals.id", ondelete="SET NULL"), nullable=True
    )
    error: Mapped[str] = mapped_column(sa.Text, default="")
