"""JSON API: browse the audit log."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from core.api import ApiBlueprint
from core.audit import queries
from core.security import requires

blp = ApiBlueprint("api_audit", __name__, url_prefix="/api/v1/audit", description="Audit log")


class AuditQuerySchema(Schema):
    entity = fields.String(validate=validate.Length(max=64))
    entity_id = fields.Integer()
    user_id = fields.Integer()
    before = fields.Integer(metadata={"description": "Cursor: the last id of the previous page."})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    user_id = fields.Integer(allow_none=True)
    entity = fields.String()
    entity_id = fields.Integer()
    action = fields.String()
    changes = fields.Dict()


class AuditPageSchema(Schema):
    items = fields.List(fields.Nested(AuditEntrySchema))
    next_cursor = fields.Integer(allow_none=True)


@blp.route("")
class AuditLogView(MethodView):
    @requires("core.audit.view")
    @blp.arguments(AuditQuerySchema, location="query")
    @blp.response(200, AuditPageSchema)
    def get(self, args):
        """Changes, newest first; pass ``next_cursor`` as ``before`` for the next page."""
        limit = args.pop("limit")
        rows, cursor = queries.page(args, limit)
        return {"items": rows, "next_cursor": cursor}
