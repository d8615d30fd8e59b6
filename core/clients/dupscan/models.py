"""A duplicate scan (a background job with progress) and the pairs of likely duplicates it found.

A pair names two live clients, the lower id first, once: ``(client_a_id, client_b_id)`` is
unique. A later scan updates the open pairs it finds again (their ids stay), adds new ones
and deletes the open pairs it no longer finds; a pair someone dismissed as "not duplicates"
or merged keeps its decision. Purging a client deletes its pairs (ON DELETE CASCADE); pairs
whose client is in the trash are left out of the review.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import BusinessMixin, db, utcnow

SCAN_STATUSES = ("queued", "running", "done", "failed")
# What a running scan is doing: exact values, then names, then writing the pairs.
SCAN_STAGES = ("", "exact", "names", "saving")
PAIR_STATUSES = ("open", "dismissed", "merged")
REASONS = ("e-mail", "phone", "tax id", "similar name")
OPEN = sa.text("status = 'open'")


class DuplicateScan(BusinessMixin, db.Model):
    __tablename__ = "duplicate_scans"

    status: Mapped[str] = mapped_column(sa.String(12), default="queued")
    stage: Mapped[str] = mapped_column(sa.String(12), default="")
    # Live clients whose names have been read, out of the live clients when the scan began.
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int] = mapped_column(default=0)
    pairs_found: Mapped[int] = mapped_column(default=0)  # open pairs after this scan
    pairs_decided: Mapped[int] = mapped_column(default=0)  # found again, dismissed before
    # Values shared by more clients than a scan lists pairs for (an office's phone on 500
    # clients): how many, and the largest of them ({"reason", "value", "clients"}).
    groups_skipped: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    truncated: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    message: Mapped[str] = mapped_column(sa.Text, default="")

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")


class DuplicatePair(db.Model):
    __tablename__ = "duplicate_pairs"
    __table_args__ = (
        sa.UniqueConstraint("client_a_id", "client_b_id"),
        sa.CheckConstraint("client_a_id < client_b_id", name="ordered"),
        # The review lists open pairs best first: a keyset over (score, id).
        sa.Index(
            "ix_duplicate_pairs_open_score", "score", "id", sqlite_where=OPEN, postgresql_where=OPEN
        ),
        # Purging or merging a client finds its pairs on either side.
        sa.Index("ix_duplicate_pairs_client_b", "client_b_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_a_id: Mapped[int] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    client_b_id: Mapped[int] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    reasons: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    score: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(sa.String(12), default="open")
    found_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("duplicate_scans.id", ondelete="SET NULL"), nullable=True
    )
    found_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
