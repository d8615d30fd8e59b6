"""Tables of the catalog beyond products and groups: price lists with their prices, and the
record of each product import (its file and problems, for the downloadable report)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.audit.models import Audited
from core.db import BusinessMixin, db, utcnow
from plugins.sales.models import MONEY, Product


class PriceList(Audited, BusinessMixin, db.Model):
    """Prices of some products in one currency, valid for a span of dates (open-ended when
    a date is empty)."""

    __tablename__ = "sales_price_lists"

    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    currency: Mapped[str] = mapped_column(sa.String(3))
    active: Mapped[bool] = mapped_column(default=True)
    valid_from: Mapped[date | None] = mapped_column(nullable=True)
    valid_to: Mapped[date | None] = mapped_column(nullable=True)


class PriceListItem(Audited, BusinessMixin, db.Model):
    __tablename__ = "sales_price_list_items"
    __table_args__ = (
        sa.UniqueConstraint(
            "price_list_id", "product_id", name="uq_sales_price_list_items_product"
        ),
        sa.Index("ix_sales_price_list_items_product", "product_id"),
    )

    price_list_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sales_price_lists.id", ondelete="CASCADE")
    )
    product_id: Mapped[int] = mapped_column(sa.ForeignKey("sales_products.id", ondelete="CASCADE"))
    price: Mapped[Decimal] = mapped_column(MONEY)

    price_list: Mapped[PriceList] = relationship()
    product: Mapped[Product] = relationship()


class ProductImport(db.Model):
    """One run of a product import: the file as uploaded, the mapping used, the figures and
    every problem found (line, column, value, reason)."""

    __tablename__ = "sales_product_imports"
    __table_args__ = (sa.Index("ix_sales_product_imports_created", "created_by_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    filename: Mapped[str] = mapped_column(sa.String(255), default="")
    file_kind: Mapped[str] = mapped_column(sa.String(10), default="csv")
    encoding: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    delimiter: Mapped[str | None] = mapped_column(sa.String(2), nullable=True)
    header: Mapped[list] = mapped_column(sa.JSON, default=list)
    mapping: Mapped[list] = mapped_column(sa.JSON, default=list)
    content: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    status: Mapped[str] = mapped_column(sa.String(12), default="uploaded")  # uploaded, done
    total_rows: Mapped[int] = mapped_column(default=0)
    created_count: Mapped[int] = mapped_column(default=0)
    updated_count: Mapped[int] = mapped_column(default=0)
    unchanged_count: Mapped[int] = mapped_column(default=0)
    failed_count: Mapped[int] = mapped_column(default=0)
    seconds: Mapped[float] = mapped_column(sa.Float, default=0.0)
    # [[line, column, value, reason], ...] in file order.
    problems: Mapped[list] = mapped_column(sa.JSON, default=list)
