"""Document templates, generated documents and their numbering, sendings, attachments."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from core.audit.models import Audited
from core.db import BusinessMixin, db, utcnow

# type -> the prefix of its numbers ("PROP-2026-0001").
TYPES = {"contract": "CON", "proposal": "PROP", "invoice": "INV", "letter": "LET", "act": "ACT"}
SENDING_STATUSES = ("queued", "retrying", "sent", "failed")


class DocumentTemplate(Audited, BusinessMixin, db.Model):
    __tablename__ = "document_templates"

    type: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(200))
    # Of the salutation and dates: en, ru, ro, de.
    language: Mapped[str] = mapped_column(sa.String(8), default="en")
    body: Mapped[str] = mapped_column(sa.Text, default="")
    email_subject: Mapped[str] = mapped_column(sa.String(300), default="")
    email_body: Mapped[str] = mapped_column(sa.Text, default="")
    active: Mapped[bool] = mapped_column(default=True)


class DocumentCounter(db.Model):
    """The last number given per type and year; its row is locked while a number is taken."""

    __tablename__ = "document_counters"

    type: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


class Document(Audited, BusinessMixin, db.Model):
    __tablename__ = "documents"
    __audit_exclude__ = ("content",)
    __table_args__ = (sa.Index("ix_documents_client", "client_id", "id"),)

    type: Mapped[str] = mapped_column(sa.String(20))
    number: Mapped[str] = mapped_column(sa.String(40), unique=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    contact_person_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contact_persons.id", ondelete="SET NULL"), nullable=True
    )
    template_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("document_templates.id", ondelete="SET NULL"), nullable=True
    )
    # The record that produced it ("sales.deal" 7), through core.records.
    record_kind: Mapped[str | None] = mapped_column(sa.String(60), nullable=True)
    record_id: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    size: Mapped[int] = mapped_column(default=0)
    # The PDF; read only when it is downloaded or sent.
    content: Mapped[bytes] = deferred(mapped_column(sa.LargeBinary))

    template: Mapped[DocumentTemplate | None] = relationship()


class DocumentSending(db.Model):
    """One e-mail of a document: queued, retrying, sent (with its Message-ID) or failed."""

    __tablename__ = "document_sendings"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(
        sa.ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    contact_person_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contact_persons.id", ondelete="SET NULL"), nullable=True
    )
    to_email: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(sa.Text, default="")
    message_id: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Attachment(Audited, BusinessMixin, db.Model):
    """A file uploaded to a record; the bytes live under instance/attachments/."""

    __tablename__ = "attachments"
    __table_args__ = (sa.Index("ix_attachments_record", "record_kind", "record_id", "id"),)

    record_kind: Mapped[str] = mapped_column(sa.String(60))
    record_id: Mapped[int] = mapped_column(sa.BigInteger)
    filename: Mapped[str] = mapped_column(sa.String(255))
    stored_name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    mimetype: Mapped[str] = mapped_column(sa.String(120))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
