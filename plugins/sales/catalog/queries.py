"""The catalog list: search by name or SKU prefix, group and active filters, keyset pages.

Products are listed by name (``name_key``, id); a search is a range on the indexed name and
SKU keys, and a page continues after the last row it showed (an opaque cursor), so a page
costs the same at row 50 or at row 50,000 and no COUNT is ever run.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import sqlalchemy as sa

from core.clients.normalise import name_key
from core.db import db
from plugins.sales.catalog import services
from plugins.sales.models import Product, sku_key


class BadCursor(ValueError):
    pass


def encode_cursor(product: Any) -> str:
    raw = json.dumps([product.name_key, product.id], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, ident = json.loads(raw)
        if isinstance(key, str) and isinstance(ident, int) and 0 < ident < 2**63:
            return key, ident
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        pass
    raise BadCursor("This page link is not valid; start from the first page.")


def search_condition(q: str) -> Any:
    """Products whose name or SKU starts with ``q`` (case and accents ignored)."""
    conditions = []
    key = name_key(q)
    if key:
        conditions.append(sa.and_(Product.name_key >= key, Product.name_key < key + "\uffff"))
    sku = sku_key(q)
    if sku:
        conditions.append(sa.and_(Product.sku_key >= sku, Product.sku_key < sku + "\uffff"))
    return sa.or_(*conditions) if conditions else sa.true()


def filtered(
    q: str | None = None,
    group_id: int | None = None,
    active: bool | None = None,
    kind: str | None = None,
    subgroups: bool = True,
) -> sa.Select:
    query = sa.select(Product)
    if q and q.strip():
        query = query.where(search_condition(q.strip()))
    if group_id is not None:
        ids = services.descendants(group_id) if subgroups else {group_id}
        query = query.where(Product.group_id.in_(sorted(ids)))
    if active is not None:
        query = query.where(Product.active.is_(active))
    if kind:
        query = query.where(Product.kind == kind)
    return query


def page(query: sa.Select, cursor: str | None, limit: int) -> tuple[list[Product], str | None]:
    """One page of ``query`` by name, after ``cursor``; and the cursor of the next page."""
    if cursor:
        key, ident = decode_cursor(cursor)
        query = query.where(sa.tuple_(Product.name_key, Product.id) > sa.tuple_(key, ident))
    rows = (
        db.session.execute(query.order_by(Product.name_key, Product.id).limit(limit + 1))
        .scalars()
        .all()
    )
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return list(rows[:limit]), next_cursor
