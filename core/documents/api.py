"""JSON API: document templates (admins), documents (generate, download, e-mail) and the
attachments of a client."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import abort

from core.api import ApiBlueprint, refuse_invalid, refuse_stale
from core.clients import queries
from core.clients.models import ContactPerson
from core.db import db
from core.documents import attachments, services
from core.documents.models import DocumentTemplate
from core.documents.schemas import (
    AttachmentOutSchema,
    AttachmentUploadSchema,
    DocumentListQuerySchema,
    DocumentOutSchema,
    GenerateSchema,
    SendingOutSchema,
    SendSchema,
    TemplateInSchema,
    TemplateOutSchema,
    TemplatePatchSchema,
)
from core.records import visible
from core.security import current_actor, current_principal, requires
from core.users.services import ValidationFailed

templates_blp = ApiBlueprint(
    "api_document_templates",
    __name__,
    url_prefix="/api/v1/document-templates",
    description="Document templates",
)
documents_blp = ApiBlueprint(
    "api_documents", __name__, url_prefix="/api/v1/documents", description="Documents"
)
attachments_blp = ApiBlueprint(
    "api_attachments", __name__, url_prefix="/api/v1/clients", description="Attachments"
)
blueprints = (templates_blp, documents_blp, attachments_blp)


def _template(template_id: int) -> DocumentTemplate:
    template = db.session.get(DocumentTemplate, template_id)
    if template is None:
        abort(404, message=f"Template {template_id} does not exist.")
    return template


@templates_blp.route("")
class Templates(MethodView):
    @requires("documents.generate")
    @templates_blp.response(200, TemplateOutSchema(many=True))
    def get(self):
        """Every template, by type and name."""
        return (
            db.session.query(DocumentTemplate)
            .order_by(DocumentTemplate.type, DocumentTemplate.name)
            .all()
        )

    @requires("documents.templates")
    @templates_blp.arguments(TemplateInSchema)
    @templates_blp.response(201, TemplateOutSchema)
    def post(self, data):
        """Create a template; a body with broken syntax or an unknown placeholder is refused
        (422) with the line and column of the problem."""
        try:
            return services.save_template(data)
        except ValidationFailed as exc:
            refuse_invalid(exc)


@templates_blp.route("/<int:template_id>")
class TemplateItem(MethodView):
    @requires("documents.generate")
    @templates_blp.response(200, TemplateOutSchema)
    def get(self, template_id: int):
        """One template."""
        return _template(template_id)

    @requires("documents.templates")
    @templates_blp.arguments(TemplatePatchSchema)
    @templates_blp.response(200, TemplateOutSchema)
    def patch(self, data, template_id: int):
        """Change a template (send the ``version`` you read; a stale one gets 409)."""
        template = _template(template_id)
        refuse_stale(template, data.pop("version"), "template")
        try:
            return services.save_template(data, template)
        except ValidationFailed as exc:
            refuse_invalid(exc)

    @requires("documents.templates")
    @templates_blp.response(204)
    def delete(self, template_id: int):
        """Delete a template; documents made from it stay."""
        db.session.delete(_template(template_id))
        db.session.commit()


def _document(document_id: int):
    document = services.visible_document(document_id, current_principal())
    if document is None:
        abort(404, message=f"Document {document_id} does not exist or is not yours to see.")
    return document


def _client(client_id: int):
    client = queries.get_visible(client_id, current_principal())
    if client is None:
        abort(404, message=f"Client {client_id} does not exist or is not yours to see.")
    return client


def _contact(contact_id: int | None, client_id: int) -> ContactPerson | None:
    if contact_id is None:
        return None
    contact = db.session.get(ContactPerson, contact_id)
    if contact is None or contact.client_id != client_id:
        abort(
            422,
            message="Invalid input.",
            errors={"json": {"contact_id": ["This person is not a contact of the client."]}},
        )
    return contact


@documents_blp.route("")
class Documents(MethodView):
    @requires("clients.view")
    @documents_blp.arguments(DocumentListQuerySchema, location="query")
    @documents_blp.response(200, DocumentOutSchema(many=True))
    def get(self, args):
        """The documents of a client the caller may see, newest first."""
        client = _client(args["client_id"])
        return services.client_documents(client.id, args["limit"])

    @requires("documents.generate")
    @documents_blp.arguments(GenerateSchema)
    @documents_blp.response(201, DocumentOutSchema)
    def post(self, data):
        """Generate a numbered PDF from a template for a client (and a contact person, and
        the record that produced it: ``link`` {kind, id})."""
        template = db.session.get(DocumentTemplate, data["template_id"])
        if template is None:
            abort(
                422,
                message="Invalid input.",
                errors={"json": {"template_id": ["No such template."]}},
            )
        client = _client(data["client_id"])
        contact = _contact(data.get("contact_id"), client.id)
        link = None
        if data.get("link"):
            link = visible(data["link"]["kind"], data["link"]["id"], current_principal())
            if link is None:
                abort(
                    422,
                    message="Invalid input.",
                    errors={"json": {"link": ["There is no such record you may see."]}},
                )
        try:
            return services.generate(template, client, current_actor(), contact, link)
        except ValidationFailed as exc:
            refuse_invalid(exc)


@documents_blp.route("/<int:document_id>")
class DocumentItem(MethodView):
    @requires("clients.view")
    @documents_blp.response(200, DocumentOutSchema)
    def get(self, document_id: int):
        """One document (404 unless the caller may see its client)."""
        return _document(document_id)


@documents_blp.route("/<int:document_id>/pdf")
class DocumentPdf(MethodView):
    @requires("clients.view")
    @documents_blp.response(200, description="The PDF file.")
    def get(self, document_id: int):
        """Download the PDF (404 unless the caller may see the document's client)."""
        from core.documents.views import pdf_response

        return pdf_response(_document(document_id))


@documents_blp.route("/<int:document_id>/sendings")
class DocumentSendings(MethodView):
    @requires("clients.view")
    @documents_blp.response(200, SendingOutSchema(many=True))
    def get(self, document_id: int):
        """The e-mails of this document with their status (queued, retrying, sent, failed)."""
        document = _document(document_id)
        return services.client_sendings([document.id]).get(document.id, [])


@documents_blp.route("/<int:document_id>/send")
class DocumentSend(MethodView):
    @requires("documents.generate")
    @documents_blp.arguments(SendSchema)
    @documents_blp.response(202, SendingOutSchema)
    def post(self, data, document_id: int):
        """E-mail the PDF to a contact person of the client (``contact_id``) or to ``email``;
        the e-mail is sent by a background job that retries while the mail server is down."""
        document = _document(document_id)
        contact = _contact(data.get("contact_id"), document.client_id)
        try:
            return services.queue_sending(document, current_actor(), contact, data.get("email"))
        except ValidationFailed as exc:
            refuse_invalid(exc)


@attachments_blp.route("/<int:client_id>/attachments")
class ClientAttachments(MethodView):
    @requires("clients.view")
    @attachments_blp.response(200, AttachmentOutSchema(many=True))
    def get(self, client_id: int):
        """The files attached to a client the caller may see, newest first."""
        client = _client(client_id)
        return attachments.record_attachments("client", client.id)

    @requires("documents.attach")
    @attachments_blp.arguments(AttachmentUploadSchema, location="files")
    @attachments_blp.response(201, AttachmentOutSchema)
    def post(self, data, client_id: int):
        """Upload a file (multipart field ``file``): at most the configured size (20 MB by
        default), of an allowed type (checked by extension and content)."""
        client = _client(client_id)
        upload = request.files["file"]
        try:
            return attachments.save_upload(
                "client", client.id, upload.filename or "", upload.stream, current_principal()
            )
        except ValidationFailed as exc:
            refuse_invalid(exc)


def _attachment(client_id: int, attachment_id: int):
    attachment = attachments.visible_attachment(attachment_id, current_principal())
    if attachment is None or (attachment.record_kind, attachment.record_id) != (
        "client",
        client_id,
    ):
        abort(404, message=f"Attachment {attachment_id} does not exist or is not yours to see.")
    return attachment


@attachments_blp.route("/<int:client_id>/attachments/<int:attachment_id>")
class ClientAttachment(MethodView):
    @requires("clients.view")
    @attachments_blp.response(200, description="The file, as an attachment.")
    def get(self, client_id: int, attachment_id: int):
        """Download a file (404 unless the caller may see the client)."""
        from core.documents.views import attachment_response

        return attachment_response(_attachment(client_id, attachment_id))

    @requires("clients.view")
    @attachments_blp.response(204)
    def delete(self, client_id: int, attachment_id: int):
        """Delete a file: its uploader or an administrator."""
        try:
            attachments.delete(_attachment(client_id, attachment_id), current_principal())
        except ValidationFailed as exc:
            abort(exc.status, message=" ".join(m for ms in exc.errors.values() for m in ms))


__all__ = ["blueprints"]
