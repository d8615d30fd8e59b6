"""Marshmallow schemas for interactions, the timeline and comments (API and web forms)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from core.api import UtcDateTime
from core.clients.schemas import CsvList
from core.interactions.models import DIRECTIONS, KINDS

KIND_NAME = validate.Regexp(r"^[a-z0-9_.]{1,40}$", error="Not a kind name.")


class _InteractionFields(Schema):
    direction = fields.String(
        allow_none=True,
        validate=validate.OneOf(DIRECTIONS),
        metadata={"description": "in, out, or null (always null for notes)"},
    )
    channel = fields.String(
        validate=validate.Length(max=60), metadata={"description": "phone, Zoom, WhatsApp, ..."}
    )
    subject = fields.String(validate=validate.Length(max=300))
    text = fields.String(validate=validate.Length(max=20_000))
    outcome = fields.String(validate=validate.Length(max=500))
    duration_minutes = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=10_080))
    occurred_at = fields.DateTime(
        allow_none=True,
        metadata={
            "description": "When it happened; without an offset it is read in the user's "
            "timezone. Defaults to now."
        },
    )
    contact_person_id = fields.Integer(allow_none=True)
    user_id = fields.Integer(metadata={"description": "Who had it; defaults to the caller."})


class InteractionInSchema(_InteractionFields):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))


class InteractionPatchSchema(_InteractionFields):
    kind = fields.String(validate=validate.OneOf(KINDS))
    version = fields.Integer(required=True)


class InteractionOutSchema(Schema):
    id = fields.Integer()
    client_id = fields.Integer()
    contact_person_id = fields.Integer(allow_none=True)
    kind = fields.String()
    direction = fields.String(allow_none=True)
    channel = fields.String()
    subject = fields.String()
    text = fields.String()
    outcome = fields.String()
    duration_minutes = fields.Integer(allow_none=True)
    occurred_at = UtcDateTime()
    user_id = fields.Integer(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    created_by_id = fields.Integer(allow_none=True)
    version = fields.Integer()


class InteractionListQuerySchema(Schema):
    kind = CsvList(fields.String(validate=validate.OneOf(KINDS)), load_default=list)
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class InteractionPageSchema(Schema):
    items = fields.List(fields.Nested(InteractionOutSchema))
    next_cursor = fields.String(allow_none=True)


class TimelineQuerySchema(Schema):
    kinds = CsvList(
        fields.String(validate=KIND_NAME),
        load_default=list,
        metadata={"description": "Only these kinds (comma-separated); all when empty."},
    )
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=30, validate=validate.Range(min=1, max=100))


class TimelineItemSchema(Schema):
    kind = fields.String()
    at = UtcDateTime()
    id = fields.Integer()
    title = fields.String()
    body = fields.String(
        metadata={
            "description": "Plain text (HTML for comments: escaped text with links for mentions)."
        }
    )
    url = fields.String(allow_none=True)
    label = fields.String()
    icon = fields.String()
    actor = fields.String()


class TimelinePageSchema(Schema):
    items = fields.List(fields.Nested(TimelineItemSchema))
    next_cursor = fields.String(allow_none=True)


class CommentInSchema(Schema):
    record_kind = fields.String(required=True, validate=KIND_NAME)
    record_id = fields.Integer(required=True)
    body = fields.String(required=True, validate=validate.Length(min=1, max=10_000))


class CommentOutSchema(Schema):
    id = fields.Integer()
    record_kind = fields.String()
    record_id = fields.Integer()
    author_id = fields.Integer(allow_none=True)
    body = fields.String()
    created_at = UtcDateTime()
    edited_at = UtcDateTime(allow_none=True)
    mentions = fields.List(fields.Integer(), metadata={"description": "Mentioned user ids."})


class CommentQuerySchema(Schema):
    record_kind = fields.String(required=True, validate=KIND_NAME)
    record_id = fields.Integer(required=True)
    before = fields.Integer(metadata={"description": "Cursor: the last id of the previous page."})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class CommentPageSchema(Schema):
    items = fields.List(fields.Nested(CommentOutSchema))
    next_cursor = fields.Integer(allow_none=True)


def form_data(form: Any) -> dict[str, Any]:
    """An interaction form's fields as the schemas take them (empty means not given)."""
    data: dict[str, Any] = {}
    for key in ("kind", "direction", "channel", "subject", "text", "outcome"):
        if key in form:
            data[key] = form.get(key, "")
    if "direction" in data and data["direction"] in ("", "none"):
        data["direction"] = None
    for key in ("duration_minutes", "contact_person_id", "occurred_at"):
        value = (form.get(key) or "").strip()
        if value:
            data[key] = value
        elif key in form:
            data[key] = None
    return data
