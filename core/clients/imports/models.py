"""An import of a client file: the uploaded file, its mapping, progress and per-row problems.

The file itself is kept in the database (``client_import_files``), not on the web host's
disk, so a ``crm worker`` on another host can run the import.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, deferred, mapped_column

from core.db import BusinessMixin, db

STATUSES = ("uploaded", "queued", "running", "done", "failed")
ON_DUPLICATE = ("skip", "update", "create")


class ClientImport(BusinessMixin, db.Model):
    __tablename__ = "client_imports"

    filename: Mapped[str] = mapped_column(sa.String(255))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    file_kind: Mapped[str] = mapped_column(sa.String(8))  # csv or xlsx
    encoding: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    delimiter: Mapped[str | None] = mapped_column(sa.String(1), nullable=True)
    header: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # Exact for CSV; for XLSX the sheet's own figure until the run has counted.
    total_rows: Mapped[int] = mapped_column(default=0)
    # One target field per column ("name", "phone", "custom:inn", ...; None skips it).
    mapping: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    on_duplicate: Mapped[str] = mapped_column(sa.String(10), default="skip")
    default_owner_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    dry_run: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(sa.String(12), default="uploaded")
    processed: Mapped[int] = mapped_column(default=0)
    created_count: Mapped[int] = mapped_column(default=0)
    updated_count: Mapped[int] = mapped_column(default=0)
    skipped_count: Mapped[int] = mapped_column(default=0)
    failed_count: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    message: Mapped[str] = mapped_column(sa.Text, default="")


class ClientImportFile(db.Model):
    __tablename__ = "client_import_files"

    import_id: Mapped[int] = mapped_column(
        sa.ForeignKey("client_imports.id", ondelete="CASCADE"), primary_key=True
    )
    content: Mapped[bytes] = deferred(mapped_column(sa.LargeBinary))


class ClientImportIssue(db.Model):
    """A row that failed (``error``) or was left alone as a duplicate (``skipped``)."""

    __tablename__ = "client_import_issues"
    __table_args__ = (sa.Index("ix_client_import_issues_import", "import_id", "row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(sa.ForeignKey("client_imports.id", ondelete="CASCADE"))
    row: Mapped[int] = mapped_column()
    column: Mapped[str] = mapped_column(sa.String(200), default="")
    value: Mapped[str] = mapped_column(sa.String(500), default="")
    message: Mapped[str] = mapped_column(sa.String(500))
    kind: Mapped[str] = mapped_column(sa.String(8), default="error")
