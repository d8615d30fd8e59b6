"""Pages: the admin's template list and editor, generating and e-mailing documents from the
client card, and the card's document and attachment panels."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from core import records
from core.api import _flatten
from core.clients import queries
from core.clients.models import Client, ContactPerson
from core.db import db
from core.documents import attachments, services, templating
from core.documents.models import TYPES, Attachment, Document, DocumentSending, DocumentTemplate
from core.documents.salutation import LANGUAGES
from core.documents.schemas import TemplateInSchema
from core.ids import parse_id
from core.plugin_system.types import PanelSource
from core.reads import Read
from core.security import current_actor, current_principal, login_required_only, requires
from core.users.services import ValidationFailed

bp = Blueprint("documents", __name__, url_prefix="/documents")


def pdf_response(document: Document):
    import io

    response = send_file(
        io.BytesIO(document.content),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=services.pdf_filename(document),
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def attachment_response(attachment: Attachment):
    path = attachments.path_of(attachment)
    if not path.is_file():
        abort(404)
    response = send_file(
        path, mimetype=attachment.mimetype, as_attachment=True, download_name=attachment.filename
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _card(client_id: int, panel: str):
    return redirect(url_for("clients.card", client_id=client_id) + f"#panel-core-{panel}")


def _flash_errors(errors: dict[str, list[str]]) -> None:
    flash("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()), "error")


# --- panels on the client card --------------------------------------------------------------

# As many as ``services.client_documents`` and ``attachments.record_attachments`` list.
PANEL_DOCUMENTS = 50
PANEL_ATTACHMENTS = 100


def render_documents_panel(client: Client, user: Any) -> PanelSource:
    """The client's last 50 documents with their sendings, and the templates to generate
    one from (for those who may)."""
    newest = (Document.id.desc(),)
    documents = sa.select(
        Document.id,
        Document.number,
        Document.title,
        Document.created_at,
        Document.contact_person_id,
    ).where(Document.client_id == client.id)
    shown = sa.select(Document.id).where(Document.client_id == client.id)
    sendings = sa.select(
        DocumentSending.id,
        DocumentSending.document_id,
        DocumentSending.to_email,
        DocumentSending.status,
        DocumentSending.sent_at,
        DocumentSending.error,
    ).where(DocumentSending.document_id.in_(shown.order_by(*newest).limit(PANEL_DOCUMENTS)))
    reads = {
        "documents": Read(documents, newest, limit=PANEL_DOCUMENTS),
        "sendings": Read(sendings, (DocumentSending.id,)),
    }
    if user.has_permission("documents.generate"):
        templates = sa.select(
            DocumentTemplate.id, DocumentTemplate.name, DocumentTemplate.type
        ).where(DocumentTemplate.active.is_(True))
        reads["templates"] = Read(templates, (DocumentTemplate.type, DocumentTemplate.name))

    def render(rows) -> str:
        by_document: dict[int, list[Any]] = {}
        for sending in rows["sendings"]:
            by_document.setdefault(sending.document_id, []).append(sending)
        return render_template(
            "documents/panel_documents.html",
            client=client,
            documents=rows["documents"],
            sendings=by_document,
            templates=rows.get("templates", []),
        )

    return PanelSource(reads, render)


def render_attachments_panel(client: Client, user: Any) -> PanelSource:
    files = sa.select(
        Attachment.id,
        Attachment.filename,
        Attachment.size,
        Attachment.created_at,
        Attachment.created_by_id,
    ).where(Attachment.record_kind == "client", Attachment.record_id == client.id)

    def render(rows) -> str:
        return render_template(
            "documents/panel_attachments.html",
            **attachments.panel("client", client.id, user, files=rows["files"]),
        )

    newest = (Attachment.id.desc(),)
    return PanelSource({"files": Read(files, newest, limit=PANEL_ATTACHMENTS)}, render)


# --- documents ------------------------------------------------------------------------------


def _contact_of(client: Client, raw: str | None) -> ContactPerson | None:
    contact_id = parse_id(raw or "")
    if contact_id is None:
        return None
    contact = db.session.get(ContactPerson, contact_id)
    return contact if contact is not None and contact.client_id == client.id else None


@bp.route("/generate/<int:client_id>", methods=["POST"])
@requires("documents.generate")
def generate(client_id: int):
    client = queries.get_visible(client_id, current_principal()) or abort(404)
    template_id = parse_id(request.form.get("template_id", ""))
    template = db.session.get(DocumentTemplate, template_id) if template_id else None
    if template is None:
        flash(_("Choose a template."), "error")
        return _card(client.id, "documents")
    try:
        document = services.generate(
            template, client, current_actor(), _contact_of(client, request.form.get("contact_id"))
        )
        flash(_("Document %(number)s is ready.", number=document.number), "success")
    except ValidationFailed as exc:
        _flash_errors(exc.errors)
    return _card(client.id, "documents")


@bp.route("/<int:document_id>.pdf")
@requires("clients.view")
def download(document_id: int):
    document = services.visible_document(document_id, current_principal()) or abort(404)
    return pdf_response(document)


@bp.route("/<int:document_id>/send", methods=["POST"])
@requires("documents.generate")
def send(document_id: int):
    document = services.visible_document(document_id, current_principal()) or abort(404)
    client = db.session.get(Client, document.client_id)
    try:
        sending = services.queue_sending(
            document,
            current_actor(),
            _contact_of(client, request.form.get("contact_id")),
            request.form.get("email"),
        )
        db.session.refresh(sending)
        if sending.status == "sent":
            flash(_("Sent to %(email)s.", email=sending.to_email), "success")
        else:
            flash(_("The e-mail to %(email)s is queued.", email=sending.to_email), "info")
    except ValidationFailed as exc:
        _flash_errors(exc.errors)
    return _card(document.client_id, "documents")


@bp.route("/sendings/<int:sending_id>/retry", methods=["POST"])
@requires("documents.generate")
def retry(sending_id: int):
    sending = db.session.get(DocumentSending, sending_id) or abort(404)
    document = services.visible_document(sending.document_id, current_principal()) or abort(404)
    if sending.status == "failed":
        services.retry_sending(sending)
    return _card(document.client_id, "documents")


# --- attachments ----------------------------------------------------------------------------


def _back_to(kind: str, record_id: int):
    if kind == "client":
        return _card(record_id, "attachments")
    linked = records.visible(kind, record_id, current_principal())
    return redirect(linked.url if linked and linked.url else url_for("web.dashboard"))


@bp.route("/attachments/<kind>/<int:record_id>", methods=["POST"])
@requires("documents.attach")
def upload(kind: str, record_id: int):
    """Attach a file to a record of any kind declared through ``record_types``."""
    if records.visible(kind, record_id, current_principal()) is None:
        abort(404)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a file."), "error")
        return _back_to(kind, record_id)
    try:
        attachments.save_upload(
            kind, record_id, upload.filename, upload.stream, current_principal()
        )
        flash(_("The file is attached."), "success")
    except ValidationFailed as exc:
        _flash_errors(exc.errors)
    return _back_to(kind, record_id)


# Whoever may see the record a file belongs to (a client, a deal, ...) may open it: the
# record's kind decides (core.records), not a permission of clients.
@bp.route("/attachments/<int:attachment_id>")
@login_required_only
def attachment(attachment_id: int):
    found = attachments.visible_attachment(attachment_id, current_principal()) or abort(404)
    return attachment_response(found)


@bp.route("/attachments/<int:attachment_id>/delete", methods=["POST"])
@login_required_only
def attachment_delete(attachment_id: int):
    found = attachments.visible_attachment(attachment_id, current_principal()) or abort(404)
    kind, record_id = found.record_kind, found.record_id
    try:
        attachments.delete(found, current_principal())
        flash(_("The file is deleted."), "success")
    except ValidationFailed as exc:
        _flash_errors(exc.errors)
    return _back_to(kind, record_id)


# --- templates (admin) ----------------------------------------------------------------------


@bp.route("/templates")
@requires("documents.templates")
def templates():
    rows = (
        db.session.query(DocumentTemplate)
        .order_by(DocumentTemplate.type, DocumentTemplate.name)
        .all()
    )
    return render_template("documents/templates.html", templates=rows, types=TYPES)


@bp.route("/templates/new", methods=["GET", "POST"])
@bp.route("/templates/<int:template_id>", methods=["GET", "POST"])
@requires("documents.templates")
def template_edit(template_id: int | None = None):
    template = db.session.get(DocumentTemplate, template_id) if template_id else None
    if template_id and template is None:
        abort(404)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = {
            k: request.form.get(k, "")
            for k in ("type", "name", "language", "body", "email_subject", "email_body")
        }
        form["active"] = bool(request.form.get("active"))
        if template is not None and request.form.get("version") != str(template.version):
            errors = {
                "version": [_("Someone else changed this template meanwhile. Reload the page.")]
            }
        else:
            try:
                saved = services.save_template(TemplateInSchema().load(form), template)
                flash(_("Template is saved."), "success")
                return redirect(url_for(".template_edit", template_id=saved.id))
            except ValidationError as exc:
                errors = _flatten(exc.messages)
            except ValidationFailed as exc:
                db.session.rollback()
                errors = exc.errors
    return render_template(
        "documents/template_form.html",
        template=template,
        form=request.form if errors else None,
        errors=errors,
        types=TYPES,
        languages=LANGUAGES,
        variables=templating.CORE_VARIABLES,
    ), (422 if errors else 200)


@bp.route("/templates/<int:template_id>/delete", methods=["POST"])
@requires("documents.templates")
def template_delete(template_id: int):
    template = db.session.get(DocumentTemplate, template_id) or abort(404)
    db.session.delete(template)
    db.session.commit()
    flash(_("Template is deleted."), "success")
    return redirect(url_for(".templates"))
