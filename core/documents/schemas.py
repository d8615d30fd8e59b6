"""marshmallow schemas of document templates, documents, sendings and attachments (the API
and the web forms validate with the same ones)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.documents.models import SENDING_STATUSES, TYPES
from core.documents.salutation import LANGUAGES


class TemplateInSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(list(TYPES)))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    language = fields.String(load_default="en", validate=validate.OneOf(LANGUAGES))
    body = fields.String(
        required=True,
        validate=validate.Length(max=200_000),
        metadata={"description": "Jinja2 (sandboxed) with the variables of docs/documents.md."},
    )
    email_subject = fields.String(load_default="", validate=validate.Length(max=300))
    email_body = fields.String(load_default="", validate=validate.Length(max=20_000))
    active = fields.Boolean(load_default=True)


class TemplatePatchSchema(Schema):
    """Only the fields sent change; ``version`` is the one read (a stale one gets 409)."""

    version = fields.Integer(required=True)
    type = fields.String(validate=validate.OneOf(list(TYPES)))
    name = fields.String(validate=validate.Length(min=1, max=200))
    language = fields.String(validate=validate.OneOf(LANGUAGES))
    body = fields.String(validate=validate.Length(max=200_000))
    email_subject = fields.String(validate=validate.Length(max=300))
    email_body = fields.String(validate=validate.Length(max=20_000))
    active = fields.Boolean()


class TemplateOutSchema(Schema):
    id = fields.Integer()
    type = fields.String()
    name = fields.String()
    language = fields.String()
    body = fields.String()
    email_subject = fields.String()
    email_body = fields.String()
    active = fields.Boolean()
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class LinkSchema(Schema):
    kind = fields.String(required=True, validate=validate.Length(min=1, max=60))
    id = fields.Integer(required=True, validate=validate.Range(min=1))


class GenerateSchema(Schema):
    template_id = fields.Integer(required=True, validate=validate.Range(min=1))
    client_id = fields.Integer(required=True, validate=validate.Range(min=1))
    contact_id = fields.Integer(allow_none=True, validate=validate.Range(min=1))
    link = fields.Nested(LinkSchema, allow_none=True)


class SendSchema(Schema):
    contact_id = fields.Integer(allow_none=True, validate=validate.Range(min=1))
    email = fields.String(allow_none=True, validate=validate.Length(max=254))


class SendingOutSchema(Schema):
    id = fields.Integer()
    document_id = fields.Integer()
    contact_person_id = fields.Integer(allow_none=True)
    to_email = fields.String()
    subject = fields.String()
    status = fields.String(metadata={"enum": list(SENDING_STATUSES)})
    attempts = fields.Integer()
    error = fields.String()
    message_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


class DocumentOutSchema(Schema):
    id = fields.Integer()
    type = fields.String()
    number = fields.String()
    title = fields.String()
    client_id = fields.Integer()
    contact_person_id = fields.Integer(allow_none=True)
    template_id = fields.Integer(allow_none=True)
    record_kind = fields.String(allow_none=True)
    record_id = fields.Integer(allow_none=True)
    size = fields.Integer()
    created_at = fields.DateTime()
    created_by_id = fields.Integer(allow_none=True)


class DocumentListQuerySchema(Schema):
    client_id = fields.Integer(required=True, validate=validate.Range(min=1))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class AttachmentOutSchema(Schema):
    id = fields.Integer()
    record_kind = fields.String()
    record_id = fields.Integer()
    filename = fields.String()
    mimetype = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    created_at = fields.DateTime()
    created_by_id = fields.Integer(allow_none=True)


class AttachmentUploadSchema(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})
