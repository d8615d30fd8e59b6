"""The stored state of each plugin: enabled or not, healthy or failed, its schema revision."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.audit.models import Audited
from core.db import db, utcnow


class PluginState(Audited, db.Model):
    __tablename__ = "plugins"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    enabled: Mapped[bool] = mapped_column(default=False)
    # "ok", or "failed" when its migrations failed (the reason is in ``error``).
    status: Mapped[str] = mapped_column(sa.String(16), default="ok")
    error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    schema_revision: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    installed_version: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
