"""Interactions with clients, and comments (with their @mentions) on records of any kind."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.audit.models import Audited
from core.db import BusinessMixin, db

KINDS = ("call", "meeting", "email", "letter", "visit", "message", "note")
DIRECTIONS = ("in", "out")


class Interaction(Audited, BusinessMixin, db.Model):
    """One contact with a client (a call, a meeting, a letter, ...) or a note about it.

    ``occurred_at`` is UTC; forms take it in the user's own timezone.
    """

    __tablename__ = "interactions"
    __table_args__ = (
        # The timeline and the API list read a client's interactions newest first.
        sa.Index("ix_interactions_client_occurred", "client_id", "occurred_at", "id"),
    )

    client_id: Mapped[int] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    contact_person_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contact_persons.id", ondelete="SET NULL"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    # "in", "out", or None (notes have no direction).
    direction: Mapped[str | None] = mapped_column(sa.String(3), nullable=True)
    channel: Mapped[str] = mapped_column(sa.String(60), default="")
    subject: Mapped[str] = mapped_column(sa.String(300), default="")
    text: Mapped[str] = mapped_column(sa.Text, default="")
    outcome: Mapped[str] = mapped_column(sa.String(500), default="")
    duration_minutes: Mapped[int | None] = mapped_column(nullable=True)
    occurred_at: Mapped[datetime] = mapped_column()
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )

    user = relationship("User", foreign_keys=[user_id])
    contact_person = relationship("ContactPerson", foreign_keys=[contact_person_id])


comment_mentions = sa.Table(
    "comment_mentions",
    db.metadata,
    sa.Column("comment_id", sa.ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    # "Where was I mentioned?" reads by user.
    sa.Index("ix_comment_mentions_user", "user_id", "comment_id"),
)


class Comment(Audited, BusinessMixin, db.Model):
    """A comment on any record ("client" 42, "sales.deal" 7: see ``core.records``)."""

    __tablename__ = "comments"
    __table_args__ = (sa.Index("ix_comments_record", "record_kind", "record_id", "created_at"),)

    record_kind: Mapped[str] = mapped_column(sa.String(40))
    record_id: Mapped[int] = mapped_column()
    author_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    body: Mapped[str] = mapped_column(sa.Text)
    edited_at: Mapped[datetime | None] = mapped_column(nullable=True)

    author = relationship("User", foreign_keys=[author_id])
