"""In-app notifications and each user's choice of channels per event type."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import db, utcnow

UNREAD = sa.text("read_at IS NULL AND in_app")


class Notification(db.Model):
    """One event told to one user. The row is also the proof of sending: ``key`` is unique
    per user, so a second worker sending the same event fails on the constraint and sends
    nothing. ``in_app`` is false when the user chose not to see this event in the bell."""

    __tablename__ = "notifications"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "key", name="uq_notifications_user_key"),
        # The bell: unread count and the newest first, per user.
        sa.Index(
            "ix_notifications_unread", "user_id", "id", sqlite_where=UNREAD, postgresql_where=UNREAD
        ),
        sa.Index("ix_notifications_user", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(sa.String(80))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    url: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    record_kind: Mapped[str | None] = mapped_column(sa.String(80), nullable=True)
    record_id: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    key: Mapped[str] = mapped_column(sa.String(200))
    in_app: Mapped[bool] = mapped_column(default=True)
    read_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationPreference(db.Model):
    """A user's choice for one event and channel; without a row the event's default holds."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    event: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    enabled: Mapped[bool] = mapped_column()
