"""Tables of the sales plugin (prefixed ``sales_``): the product catalog, pipelines with
their stages, deals with their lines and the history of every stage change."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.audit.models import Audited
from core.clients.models import Client, ContactPerson
from core.clients.normalise import name_key
from core.db import BusinessMixin, db, utcnow
from core.users.models import User

MONEY = sa.Numeric(14, 2)
QUANTITY = sa.Numeric(14, 3)
PERCENT = sa.Numeric(5, 2)
STAGE_KINDS = ("open", "won", "lost")


class ProductGroup(Audited, BusinessMixin, db.Model):
    __tablename__ = "sales_product_groups"

    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sales_product_groups.id", ondelete="SET NULL"), nullable=True
    )


class Product(Audited, BusinessMixin, db.Model):
    """A product or service: the one catalog deals, invoices and accounting sync refer to."""

    __tablename__ = "sales_products"
    __table_args__ = (
        sa.Index("ix_sales_products_name_key", "name_key", "id"),
        sa.Index("ix_sales_products_sku_key", "sku_key", unique=True),
    )

    name: Mapped[str] = mapped_column(sa.String(300))
    # Case- and accent-insensitive forms, kept by the listeners below: the name for prefix
    # search and sorting, the SKU for lookups and uniqueness that ignores case.
    name_key: Mapped[str] = mapped_column(sa.String(300), default="")
    sku_key: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    sku: Mapped[str | None] = mapped_column(sa.String(64), unique=True, nullable=True)
    kind: Mapped[str] = mapped_column(sa.String(10), default="product")  # product, service
    group_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sales_product_groups.id", ondelete="SET NULL"), nullable=True, index=True
    )
    unit: Mapped[str] = mapped_column(sa.String(20), default="pcs")
    price: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    currency: Mapped[str] = mapped_column(sa.String(3))
    vat_rate: Mapped[Decimal] = mapped_column(PERCENT, default=Decimal("0"))
    active: Mapped[bool] = mapped_column(default=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")

    group: Mapped[ProductGroup | None] = relationship()


def sku_key(sku: str | None) -> str | None:
    """The SKU as compared: trimmed and case-folded; None for none."""
    sku = (sku or "").strip()
    return sku.casefold()[:64] or None


@event.listens_for(Product, "before_insert")
@event.listens_for(Product, "before_update")
def _product_keys(mapper, connection, product: Product) -> None:
    product.name_key = name_key(product.name or "")[:300]
    product.sku_key = sku_key(product.sku)


class Pipeline(Audited, BusinessMixin, db.Model):
    """A sales funnel: ordered stages a deal moves through."""

    __tablename__ = "sales_pipelines"

    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    stages: Mapped[list[Stage]] = relationship(
        back_populates="pipeline",
        order_by="Stage.position",
        primaryjoin="and_(Stage.pipeline_id == Pipeline.id, Stage.removed_at.is_(None))",
        viewonly=True,
    )


class Stage(Audited, BusinessMixin, db.Model):
    """A stage of a pipeline. Removed stages stay (``removed_at``) so history keeps them."""

    __tablename__ = "sales_stages"
    __table_args__ = (sa.Index("ix_sales_stages_pipeline", "pipeline_id", "position"),)

    pipeline_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sales_pipelines.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(sa.String(120))
    position: Mapped[int] = mapped_column(default=0)
    probability: Mapped[int] = mapped_column(default=0)  # win probability, percent
    target_hours: Mapped[int | None] = mapped_column(nullable=True)  # target time in stage
    kind: Mapped[str] = mapped_column(sa.String(10), default="open")  # open, won, lost
    removed_at: Mapped[datetime | None] = mapped_column(nullable=True)

    pipeline: Mapped[Pipeline] = relationship(back_populates="stages")


class LostReason(Audited, BusinessMixin, db.Model):
    __tablename__ = "sales_lost_reasons"

    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)


class Deal(Audited, BusinessMixin, db.Model):
    __tablename__ = "sales_deals"
    __table_args__ = (
        sa.Index("ix_sales_deals_board", "pipeline_id", "stage_id", "id"),
        sa.Index("ix_sales_deals_owner", "owner_id", "id"),
        # The newest cards of a column for one owner (scope "own", a team, the owner filter)
        # in order. Owner first: the board of every deal keeps ix_sales_deals_board.
        sa.Index("ix_sales_deals_owner_board", "owner_id", "pipeline_id", "stage_id", "id"),
        sa.Index("ix_sales_deals_client", "client_id"),
        sa.Index("ix_sales_deals_closed", "closed_at"),
        sa.Index("ix_sales_deals_expected", "expected_close_on"),
        sa.Index("ix_sales_deals_created", "created_at", "id"),
        # Counts and sums per column of the board are read from this index alone.
        sa.Index("ix_sales_deals_stage_sums", "pipeline_id", "stage_id", "owner_id", "amount"),
        sa.Index(
            "ix_sales_deals_title",
            "title_key",
            "id",
            postgresql_ops={"title_key": "text_pattern_ops"},
        ),
    )

    title: Mapped[str] = mapped_column(sa.String(300))
    # The title case- and accent-folded, for the indexed prefix search.
    title_key: Mapped[str] = mapped_column(sa.String(300), default="")
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("clients.id", ondelete="RESTRICT"))
    contact_person_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contact_persons.id", ondelete="SET NULL"), nullable=True
    )
    pipeline_id: Mapped[int] = mapped_column(sa.ForeignKey("sales_pipelines.id"))
    stage_id: Mapped[int] = mapped_column(sa.ForeignKey("sales_stages.id"))
    owner_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    currency: Mapped[str] = mapped_column(sa.String(3))
    expected_close_on: Mapped[date | None] = mapped_column(nullable=True)
    source: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    campaign: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    utm: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # utm_source, utm_medium, ...
    lost_reason_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sales_lost_reasons.id", ondelete="SET NULL"), nullable=True
    )
    lost_note: Mapped[str] = mapped_column(sa.Text, default="")
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)  # won or lost
    stage_entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    notes: Mapped[str] = mapped_column(sa.Text, default="")

    client: Mapped[Client] = relationship()
    contact_person: Mapped[ContactPerson | None] = relationship()
    pipeline: Mapped[Pipeline] = relationship()
    stage: Mapped[Stage] = relationship()
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    lost_reason: Mapped[LostReason | None] = relationship()
    lines: Mapped[list[DealLine]] = relationship(
        back_populates="deal", order_by="DealLine.position", cascade="all, delete-orphan"
    )


class DealLine(db.Model):
    """A line of a deal: a product (or free text), quantity, price, discount and VAT.
    The amounts are computed on every save and stored, for reports."""

    __tablename__ = "sales_deal_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    deal_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sales_deals.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sales_products.id", ondelete="SET NULL"), nullable=True, index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(sa.String(300))
    unit: Mapped[str] = mapped_column(sa.String(20), default="pcs")
    quantity: Mapped[Decimal] = mapped_column(QUANTITY, default=Decimal("1"))
    price: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    discount_percent: Mapped[Decimal] = mapped_column(PERCENT, default=Decimal("0"))
    vat_rate: Mapped[Decimal] = mapped_column(PERCENT, default=Decimal("0"))
    net_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    vat_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    total_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))

    deal: Mapped[Deal] = relationship(back_populates="lines")
    product: Mapped[Product | None] = relationship()


class StageChange(db.Model):
    """Every entry of a deal into a stage (its creation included): who, when, from where.
    The basis of conversion and cycle-time reports; its id identifies the entry, so stage
    rules run once per entry."""

    __tablename__ = "sales_stage_changes"
    __table_args__ = (
        sa.Index("ix_sales_stage_changes_deal", "deal_id", "at", "to_stage_id"),
        sa.Index("ix_sales_stage_changes_stage", "to_stage_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deal_id: Mapped[int] = mapped_column(sa.ForeignKey("sales_deals.id", ondelete="CASCADE"))
    pipeline_id: Mapped[int] = mapped_column(sa.ForeignKey("sales_pipelines.id"))
    from_stage_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sales_stages.id"), nullable=True
    )
    to_stage_id: Mapped[int] = mapped_column(sa.ForeignKey("sales_stages.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    note: Mapped[str] = mapped_column(sa.Text, default="")
    # When this deal last entered the same stage before this entry (NULL for its first
    # entry into the stage). Set by a database trigger (migration 0010_stage_entries), never
    # by the app: the funnel subtracts the entries whose previous entry is in its period.
    previous_at: Mapped[datetime | None] = mapped_column(nullable=True)


class StageTotal(db.Model):
    """How many deals, and for how much, sit in a stage per owner, currency and source: the
    board's column counts and sums without reading the deals. Kept by database triggers on
    ``sales_deals`` (migration ``0008_stage_totals``), so every path that writes deals
    (the services, bulk moves when a stage is removed, an owner's deletion setting
    ``owner_id`` to NULL, imports) keeps it right in the same transaction. ``owner_key`` is
    the owner's id, 0 for a deal without an owner; the amount is in cents."""

    __tablename__ = "sales_stage_totals"

    stage_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sales_stages.id", ondelete="CASCADE"), primary_key=True
    )
    owner_key: Mapped[int] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(sa.String(3), primary_key=True)
    source_key: Mapped[str] = mapped_column(sa.String(40), primary_key=True)  # "" for none
    deals: Mapped[int] = mapped_column(default=0)
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class StageEntry(db.Model):
    """How many times deals entered a stage on a day (UTC), per deal owner and currency:
    the funnel's counts without reading every stage change. Kept by database triggers on
    ``sales_stage_changes`` and ``sales_deals`` (migration ``0010_stage_entries``), which
    also move a deal's entries when its owner or currency changes and subtract them when
    it is deleted. ``owner_key`` is the owner's id, 0 for a deal without an owner."""

    __tablename__ = "sales_stage_entries"
    __table_args__ = {"sqlite_with_rowid": False}

    stage_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sales_stages.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    owner_key: Mapped[int] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(sa.String(3), primary_key=True)
    entries: Mapped[int] = mapped_column(default=0)
