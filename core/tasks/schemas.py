"""Marshmallow schemas of tasks for the API (the web forms send the same fields)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.api import UtcDateTime
from core.tasks.models import PRIORITIES, STATUSES

DUE_HELP = (
    "ISO 8601 date-time; without an offset it is wall-clock time in the assignee's time "
    "zone. A bare date means 18:00 that day."
)


class TaskInSchema(Schema):
    title = fields.String(validate=validate.Length(max=300))
    description = fields.String(validate=validate.Length(max=20_000))
    assignee_id = fields.Integer(strict=True, metadata={"description": "An active user."})
    due_at = fields.Raw(allow_none=True, metadata={"description": DUE_HELP, "type": "string"})
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    status = fields.String(validate=validate.OneOf(STATUSES))
    result = fields.String(validate=validate.Length(max=20_000))
    record_kind = fields.String(
        allow_none=True, metadata={"description": 'A record kind, e.g. "client".'}
    )
    record_id = fields.Integer(strict=True, allow_none=True)
    remind_before_minutes = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=0, max=43_200)
    )


class TaskCreateSchema(TaskInSchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))


class TaskPatchSchema(TaskInSchema):
    version = fields.Integer(required=True, metadata={"description": "The version you read."})


class TaskOutSchema(Schema):
    id = fields.Integer()
    title = fields.String()
    description = fields.String()
    assignee_id = fields.Integer()
    created_by_id = fields.Integer(allow_none=True)
    due_at = UtcDateTime(allow_none=True)
    priority = fields.String()
    status = fields.String()
    result = fields.String()
    completed_at = UtcDateTime(allow_none=True)
    record_kind = fields.String(allow_none=True)
    record_id = fields.Integer(allow_none=True)
    remind_before_minutes = fields.Integer(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    version = fields.Integer()


class TaskListQuerySchema(Schema):
    assignee_id = fields.Integer(validate=validate.Range(min=1, max=2**63 - 1))
    status = fields.String(validate=validate.OneOf(STATUSES))
    due_from = fields.Raw(metadata={"description": "Due at or after (ISO 8601, UTC if bare)."})
    due_to = fields.Raw(metadata={"description": "Due before (ISO 8601, UTC if bare)."})
    record_kind = fields.String(validate=validate.Length(max=80))
    record_id = fields.Integer(validate=validate.Range(min=1, max=2**63 - 1))
    cursor = fields.Integer(validate=validate.Range(min=0, max=2**63 - 1))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class TaskPageSchema(Schema):
    items = fields.List(fields.Nested(TaskOutSchema))
    next_cursor = fields.Integer(allow_none=True)


class TaskTemplateInSchema(Schema):
    code = fields.String(
        validate=validate.Length(min=1, max=80),
        metadata={"description": "How plugins and stage rules name it, e.g. sales.first_call."},
    )
    title = fields.String(validate=validate.Length(max=300))
    description = fields.String(validate=validate.Length(max=20_000))
    due_amount = fields.Integer(strict=True, validate=validate.Range(min=0, max=100_000))
    due_unit = fields.String(validate=validate.OneOf(("minutes", "hours", "working_days")))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))


class TaskTemplateCreateSchema(TaskTemplateInSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=80))
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))


class TaskTemplatePatchSchema(TaskTemplateInSchema):
    version = fields.Integer(required=True, strict=True)


class TaskTemplateOutSchema(TaskTemplateInSchema):
    id = fields.Integer()
    version = fields.Integer()
