"""Documents generated for a client and their sending by e-mail, as timeline items."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.documents.models import Document, DocumentSending
from core.plugin_system.types import TimelineItem, TimelineSource
from core.reads import Read
from core.users.models import User

SENDING_LABELS = {
    "queued": _l("queued"),
    "retrying": _l("will try again"),
    "sent": _l("sent"),
    "failed": _l("failed"),
}


def document_items(client: Any, user: Any, kinds, before, limit: int) -> list[TimelineSource]:
    """Documents of ``client`` (whose timeline the user may see, so its documents too)."""
    if kinds is not None and "document" not in kinds:
        return []
    query = (
        sa.select(
            Document.id,
            Document.number,
            Document.title,
            Document.created_at,
            User.name.label("actor"),
        )
        .outerjoin(User, User.id == Document.created_by_id)
        .where(Document.client_id == client.id)
    )
    if before is not None:
        query = query.where(before.older(Document.created_at, Document.id, "document"))
    newest = (Document.created_at.desc(), Document.id.desc())
    read = Read(query, order_by=newest, limit=limit, ordered=False)
    return [TimelineSource({"documents": read}, _documents)]


def _documents(rows) -> list[TimelineItem]:
    return [
        TimelineItem(
            kind="document",
            at=created_at,
            id=document_id,
            title=f"{number} · {title}",
            url=url_for("documents.download", document_id=document_id),
            label=_("Document"),
            icon="📄",
            weight=50,
            actor=author or "",
        )
        for document_id, number, title, created_at, author in rows["documents"]
    ]


def sending_items(client: Any, user: Any, kinds, before, limit: int) -> list[TimelineSource]:
    """Each e-mail of a document to a contact person: to whom, and whether it went out."""
    if kinds is not None and "document_email" not in kinds:
        return []
    query = (
        sa.select(
            DocumentSending.id,
            DocumentSending.document_id,
            DocumentSending.to_email,
            DocumentSending.status,
            DocumentSending.error,
            DocumentSending.created_at,
            Document.number,
            User.name.label("actor"),
        )
        .join(Document, Document.id == DocumentSending.document_id)
        .outerjoin(User, User.id == DocumentSending.created_by_id)
        .where(Document.client_id == client.id)
    )
    if before is not None:
        query = query.where(
            before.older(DocumentSending.created_at, DocumentSending.id, "document_email")
        )
    newest = (DocumentSending.created_at.desc(), DocumentSending.id.desc())
    read = Read(query, order_by=newest, limit=limit, ordered=False)
    return [TimelineSource({"sendings": read}, _sendings)]


def _sendings(rows) -> list[TimelineItem]:
    out = []
    for sending in rows["sendings"]:
        number, author = sending.number, sending.actor
        status = str(SENDING_LABELS.get(sending.status, sending.status))
        body = sending.error if sending.status == "failed" else ""
        out.append(
            TimelineItem(
                kind="document_email",
                at=sending.created_at,
                id=sending.id,
                title=_(
                    "%(number)s e-mailed to %(email)s: %(status)s",
                    number=number,
                    email=sending.to_email,
                    status=status,
                ),
                body=body,
                url=url_for("documents.download", document_id=sending.document_id),
                label=_("Document e-mail"),
                icon="✉",
                weight=55,
                actor=author or "",
            )
        )
    return out
