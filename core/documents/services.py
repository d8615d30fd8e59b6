"""Document templates, generating numbered PDFs from them, and e-mailing them (a retried job).

No Flask request here: the views, the API, jobs and tests call the same functions.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any

import sqlalchemy as sa

from core.audit.models import AuditLog
from core.clients.models import Client, ContactPerson
from core.db import db, utcnow
from core.documents import templating, variables
from core.documents.models import (
    TYPES,
    Document,
    DocumentCounter,
    DocumentSending,
    DocumentTemplate,
)
from core.documents.salutation import LANGUAGES
from core.records import Linked
from core.security import scoped
from core.users.services import ValidationFailed

log = logging.getLogger(__name__)

SEND_RETRIES = 5
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TYPE_TITLES = {
    "en": {
        "contract": "Contract",
        "proposal": "Commercial proposal",
        "invoice": "Invoice",
        "letter": "Letter",
        "act": "Act",
    },
    "ru": {
        "contract": "Договор",
        "proposal": "Коммерческое предложение",
        "invoice": "Счёт",
        "letter": "Письмо",
        "act": "Акт",
    },
    "ro": {
        "contract": "Contract",
        "proposal": "Ofertă comercială",
        "invoice": "Factură",
        "letter": "Scrisoare",
        "act": "Act",
    },
    "de": {
        "contract": "Vertrag",
        "proposal": "Angebot",
        "invoice": "Rechnung",
        "letter": "Brief",
        "act": "Abnahmeprotokoll",
    },
}
DEFAULT_SUBJECT = "{{ document.title }} {{ document.number }}"
DEFAULT_EMAIL_BODY = {
    "en": "{{ contact.salutation }},\n\nplease find attached {{ document.title|lower }} "
    "{{ document.number }}.\n\nKind regards,\n{{ user.name }}\n{{ company.name }}\n",
    "ru": "{{ contact.salutation }}!\n\nНаправляем вам документ «{{ document.title }}» "
    "№ {{ document.number }}.\n\nС уважением,\n{{ user.name }}\n{{ company.name }}\n",
    "ro": "{{ contact.salutation }},\n\nvă transmitem atașat documentul {{ document.title }} "
    "nr. {{ document.number }}.\n\nCu stimă,\n{{ user.name }}\n{{ company.name }}\n",
    "de": "{{ contact.salutation }},\n\nanbei erhalten Sie {{ document.title }} "
    "Nr. {{ document.number }}.\n\nMit freundlichen Grüßen\n{{ user.name }}\n{{ company.name }}\n",
}


# --- templates -----------------------------------------------------------------------------


def check_body(source: str, template_type: str, language: str) -> str | None:
    """The first problem of a body or e-mail text ("line 3, column 9: ..."), or None."""
    samples = variables.plugin_values(template_type, None, None, language)
    problem = templating.check(source, samples, variables.sample_context(template_type, language))
    return str(problem) if problem else None


def save_template(
    data: dict[str, Any], template: DocumentTemplate | None = None
) -> DocumentTemplate:
    """Create or change a template; a body that does not check is refused, nothing saved."""
    errors: dict[str, list[str]] = {}
    template_type = data.get("type", template.type if template else "")
    language = data.get("language", template.language if template else "en")
    if template_type not in TYPES:
        errors["type"] = [f"Choose one of: {', '.join(TYPES)}."]
    if language not in LANGUAGES:
        errors["language"] = [f"Choose one of: {', '.join(LANGUAGES)}."]
    if "name" in data and not str(data["name"]).strip():
        errors["name"] = ["Give the template a name."]
    if not errors:
        # The saved texts too: a new type or language may change what they can use.
        for field in ("body", "email_subject", "email_body"):
            source = data.get(field, getattr(template, field, "") if template else "")
            if source:
                problem = check_body(source, template_type, language)
                if problem:
                    errors[field] = [problem]
    if errors:
        raise ValidationFailed(errors)
    template = template or DocumentTemplate()
    for key in ("type", "name", "language", "body", "email_subject", "email_body", "active"):
        if key in data:
            setattr(template, key, data[key].strip() if key == "name" else data[key])
    db.session.add(template)
    db.session.commit()
    return template


# --- generating ----------------------------------------------------------------------------


def allocate_number(template_type: str, year: int) -> str:
    """The next number of this type and year ("PROP-2026-0001"), taken in the caller's
    transaction: the counter row stays locked (PostgreSQL row lock, SQLite write lock)
    until it commits, so two documents never share a number."""
    counter = DocumentCounter.__table__
    for _ in range(5):
        taken = db.session.execute(
            sa.update(counter)
            .where(counter.c.type == template_type, counter.c.year == year)
            .values(last=counter.c.last + 1)
            .returning(counter.c.last)
        ).scalar()
        if taken is None:
            try:
                with db.session.begin_nested():
                    db.session.execute(
                        sa.insert(counter).values(type=template_type, year=year, last=1)
                    )
                taken = 1
            except sa.exc.IntegrityError:
                continue  # another transaction made the row first: take the next number
        return f"{TYPES[template_type]}-{year}-{taken:04d}"
    raise RuntimeError("could not allocate a document number")


def context_for(
    template: DocumentTemplate,
    client: Client,
    contact: ContactPerson | None,
    user: Any,
    record: Linked,
    document: dict[str, Any],
) -> dict[str, Any]:
    language = template.language
    today = variables.long_date(date.today(), language)
    return {
        **variables.plugin_values(template.type, record, user, language),
        "client": variables.client_values(client),
        "contact": variables.contact_values(contact, language),
        "user": variables.user_values(user),
        "company": variables.company_values(),
        "document": {**document, "date": today},
        "today": today,
    }


def generate(
    template: DocumentTemplate,
    client: Client,
    user: Any,
    contact: ContactPerson | None = None,
    link: Linked | None = None,
    commit: bool = True,
) -> Document:
    """Render ``template`` for ``client`` into a numbered PDF attached to the client (and to
    ``link``, the record that produced it). Raises ValidationFailed; nothing is saved then.

    With ``commit=False`` the document is only flushed (it has its id) and the caller
    commits, so what it records with the document (an invoice) is saved in the same
    transaction; the counter row of the number stays locked until then."""
    if contact is not None and contact.client_id != client.id:
        raise ValidationFailed({"contact_id": ["This person is not a contact of the client."]})
    if not template.active:
        raise ValidationFailed({"template_id": ["This template is switched off."]})
    number = allocate_number(template.type, date.today().year)
    title = TYPE_TITLES.get(template.language, TYPE_TITLES["en"])[template.type]
    record = link or Linked("client", client.id, client.name, "")
    context = context_for(
        template,
        client,
        contact,
        user,
        record,
        {"number": number, "type": template.type, "title": title},
    )
    try:
        text = templating.render(template.body, context)
    except Exception as exc:  # noqa: BLE001 - a plugin's values may break a checked body
        db.session.rollback()
        raise ValidationFailed(
            {"template_id": [f"The template does not render for this client: {exc}"]}
        ) from exc
    # reportlab (and Pillow) are loaded by the first document a worker generates, not by
    # every worker at start: about 15 MiB per web worker that never writes a PDF.
    from core.documents.pdf import render_pdf

    content = render_pdf(text, title=f"{title} {number}", author=getattr(user, "name", ""))
    document = Document(
        type=template.type,
        number=number,
        title=title,
        client_id=client.id,
        contact_person_id=contact.id if contact else None,
        template_id=template.id,
        record_kind=link.kind if link else None,
        record_id=link.id if link else None,
        size=len(content),
        content=content,
        created_by_id=getattr(user, "id", None),
    )
    db.session.add(document)
    if commit:
        db.session.commit()
    else:
        db.session.flush()
    return document


def visible_documents(user: Any) -> sa.Select:
    """Documents of live clients within ``user``'s client scope."""
    return scoped(
        sa.select(Document)
        .join(Client, Client.id == Document.client_id)
        .where(Client.deleted_at.is_(None)),
        user,
        "clients",
        Client.owner_id,
    )


def visible_document(document_id: int, user: Any) -> Document | None:
    return db.session.execute(
        visible_documents(user).where(Document.id == document_id)
    ).scalar_one_or_none()


def client_documents(client_id: int, limit: int = 50) -> list[Document]:
    return list(
        db.session.execute(
            sa.select(Document)
            .where(Document.client_id == client_id)
            .order_by(Document.id.desc())
            .limit(limit)
        ).scalars()
    )


def client_sendings(document_ids: list[int]) -> dict[int, list[DocumentSending]]:
    out: dict[int, list[DocumentSending]] = {}
    if not document_ids:
        return out
    for sending in db.session.execute(
        sa.select(DocumentSending)
        .where(DocumentSending.document_id.in_(document_ids))
        .order_by(DocumentSending.id)
    ).scalars():
        out.setdefault(sending.document_id, []).append(sending)
    return out


def pdf_filename(document: Document) -> str:
    return f"{document.number}.pdf"


# --- sending -------------------------------------------------------------------------------


def queue_sending(
    document: Document,
    user: Any,
    contact: ContactPerson | None = None,
    email: str | None = None,
) -> DocumentSending:
    """Record an e-mail of ``document`` to a contact person of its client (their first
    e-mail unless ``email`` is given) or to a typed address, and queue the delivery job."""
    from core.jobs import enqueue

    errors: dict[str, list[str]] = {}
    if contact is not None and contact.client_id != document.client_id:
        errors["contact_id"] = ["This person is not a contact of the document's client."]
    address = (email or "").strip() or (
        contact.emails[0].email if contact and contact.emails else ""
    )
    if not errors and not address:
        errors["email" if contact is None else "contact_id"] = [
            "Give an e-mail address (this contact person has none)."
        ]
    elif not errors and (not EMAIL_RE.match(address) or len(address) > 254):
        errors["email"] = ["This is not an e-mail address."]
    if errors:
        raise ValidationFailed(errors)
    template = document.template
    language = template.language if template else "en"
    client = db.session.get(Client, document.client_id)
    context = context_for(
        template or DocumentTemplate(type=document.type, language="en"),
        client,
        contact,
        user,
        Linked(document.record_kind or "client", document.record_id or client.id, "", ""),
        {"number": document.number, "type": document.type, "title": document.title},
    )
    subject_source = (template.email_subject if template else "") or DEFAULT_SUBJECT
    body_source = (template.email_body if template else "") or DEFAULT_EMAIL_BODY.get(
        language, DEFAULT_EMAIL_BODY["en"]
    )
    try:
        subject = " ".join(templating.render(subject_source, context).split())[:300]
        body = templating.render(body_source, context)
    except Exception as exc:  # noqa: BLE001 - as in generate()
        raise ValidationFailed(
            {"template_id": [f"The e-mail text does not render: {exc}"]}
        ) from exc
    sending = DocumentSending(
        document_id=document.id,
        contact_person_id=contact.id if contact else None,
        to_email=address,
        subject=subject,
        body=body,
        status="queued",
        created_by_id=getattr(user, "id", None),
    )
    db.session.add(sending)
    db.session.flush()
    db.session.add(
        AuditLog(
            user_id=getattr(user, "id", None),
            entity="documents",
            entity_id=document.id,
            action="send",
            changes={"to": [None, address], "sending_id": [None, sending.id]},
        )
    )
    # Committed before the job is queued: the worker must find the row (and SQLite's write
    # lock must be free for it).
    db.session.commit()
    enqueue("core.send_document", sending_id=sending.id)
    return sending


def deliver_sending(sending_id: int) -> bool:
    """The job: hand one sending to the SMTP server. A refusal is recorded on the row
    (retrying, then failed after the last retry) and re-raised so the queue retries."""
    from core.mail import Attachment, MailError, send_mail

    sending = db.session.get(DocumentSending, sending_id)
    if sending is None or sending.status == "sent":
        return False
    document = db.session.get(Document, sending.document_id)
    if document is None:
        return False
    sending.attempts += 1
    try:
        message_id = send_mail(
            sending.to_email,
            sending.subject,
            sending.body,
            attachments=[Attachment(pdf_filename(document), document.content, "application/pdf")],
            sender_name=variables.company_values()["name"] or None,
        )
    except MailError as exc:
        sending.status = "failed" if sending.attempts > SEND_RETRIES else "retrying"
        sending.error = str(exc)[:2000]
        db.session.commit()
        raise
    sending.status = "sent"
    sending.error = ""
    sending.message_id = message_id
    sending.sent_at = utcnow()
    db.session.commit()
    log.info("document %s sent to %s", document.number, sending.to_email)
    return True


def retry_sending(sending: DocumentSending) -> None:
    """Queue a failed sending again (after the mail server is fixed)."""
    from core.jobs import enqueue

    sending.status = "queued"
    sending.attempts = 0
    db.session.commit()
    enqueue("core.send_document", sending_id=sending.id)
