"""Reading the audit log: newest first, keyset-paged, filtered by entity and user."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from core.audit.models import AuditLog
from core.db import db


def page(filters: dict[str, Any], limit: int = 50) -> tuple[list[AuditLog], int | None]:
    query = sa.select(AuditLog).order_by(AuditLog.id.desc())
    if filters.get("entity"):
        query = query.where(AuditLog.entity == filters["entity"])
    if filters.get("entity_id") is not None:
        query = query.where(AuditLog.entity_id == filters["entity_id"])
    if filters.get("user_id") is not None:
        query = query.where(AuditLog.user_id == filters["user_id"])
    if filters.get("before") is not None:
        query = query.where(AuditLog.id < filters["before"])
    rows = db.session.execute(query.limit(limit + 1)).scalars().all()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)
