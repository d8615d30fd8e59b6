"""Invoices issued for deals: the PDF is a core document, the invoice keeps its number,
amounts and payment state (issued, partly paid, paid, cancelled)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.audit.models import Audited
from core.clients.models import Client
from core.db import BusinessMixin, db
from core.documents.models import Document
from plugins.sales.models import MONEY, Deal

STATUSES = ("issued", "partly_paid", "paid", "cancelled")


class Invoice(Audited, BusinessMixin, db.Model):
    __tablename__ = "sales_invoices"
    __table_args__ = (
        sa.Index("ix_sales_invoices_client", "client_id", "id"),
        sa.Index("ix_sales_invoices_deal", "deal_id", "id"),
        sa.Index("ix_sales_invoices_issued", "issued_on", "id"),
        sa.Index("ix_sales_invoices_status", "status", "issued_on"),
    )

    # Kept for the accounts: neither a deal nor a client is deleted while it has invoices.
    deal_id: Mapped[int] = mapped_column(sa.ForeignKey("sales_deals.id", ondelete="RESTRICT"))
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("clients.id", ondelete="RESTRICT"))
    document_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("documents.id", ondelete="SET NULL"), nullable=True
    )
    # The document's number ("INV-2026-0042"): numbered per year by core's documents.
    number: Mapped[str] = mapped_column(sa.String(40), unique=True)
    issued_on: Mapped[date] = mapped_column()
    due_on: Mapped[date | None] = mapped_column(nullable=True)
    currency: Mapped[str] = mapped_column(sa.String(3))
    net_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    vat_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    total_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    status: Mapped[str] = mapped_column(sa.String(16), default="issued")
    paid_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    paid_on: Mapped[date | None] = mapped_column(nullable=True)

    deal: Mapped[Deal] = relationship()
    client: Mapped[Client] = relationship()
    document: Mapped[Document | None] = relationship()

    @property
    def outstanding(self) -> Decimal:
        return max(Decimal("0"), self.total_amount - self.paid_amount)
