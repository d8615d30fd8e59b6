"""The catalog as CSV or XLSX, in the columns the import reads back (formulas neutralised by
core.spreadsheets)."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa

from core.db import db
from core.spreadsheets import csv_chunks, xlsx_file
from plugins.sales.catalog import services
from plugins.sales.models import Product

HEADER = [
    "sku",
    "name",
    "kind",
    "group",
    "unit",
    "price",
    "currency",
    "vat_rate",
    "active",
    "description",
]
BATCH = 2000


def rows(query: sa.Select) -> Iterator[list]:
    """The header, then a row per product of ``query`` by name, read in keyset batches."""
    yield HEADER
    paths = services.group_paths()
    columns = (
        Product.id,
        Product.name_key,
        Product.sku,
        Product.name,
        Product.kind,
        Product.group_id,
        Product.unit,
        Product.price,
        Product.currency,
        Product.vat_rate,
        Product.active,
        Product.description,
    )
    base = query.with_only_columns(*columns)
    after = None
    while True:
        page = base
        if after is not None:
            page = page.where(sa.tuple_(Product.name_key, Product.id) > sa.tuple_(*after))
        batch = db.session.execute(page.order_by(Product.name_key, Product.id).limit(BATCH)).all()
        for r in batch:
            yield [
                r.sku or "",
                r.name,
                r.kind,
                paths.get(r.group_id, "") if r.group_id else "",
                r.unit,
                f"{r.price:.2f}",
                r.currency,
                f"{r.vat_rate:.2f}",
                "yes" if r.active else "no",
                r.description,
            ]
        if len(batch) < BATCH:
            return
        after = (batch[-1].name_key, batch[-1].id)


def csv_stream(query: sa.Select) -> Iterator[str]:
    return csv_chunks(rows(query))


def xlsx(query: sa.Select):
    return xlsx_file(rows(query), "Products")
