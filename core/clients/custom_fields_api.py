"""JSON API for the custom client fields an administrator defines."""

from __future__ import annotations

import sqlalchemy as sa
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from core.api import ApiBlueprint, refuse_invalid, refuse_stale
from core.clients.custom_fields import KINDS, save_field
from core.clients.models import CustomField
from core.db import db
from core.security import requires
from core.users.services import ValidationFailed

blp = ApiBlueprint(
    "api_custom_fields",
    __name__,
    url_prefix="/api/v1/custom-fields",
    description="Custom client fields",
)


class CustomFieldSchema(Schema):
    id = fields.Integer(dump_only=True)
    key = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "lower-case letters, digits and _; fixed once created"},
    )
    label = fields.String(required=True, validate=validate.Length(min=1, max=120))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    choices = fields.List(
        fields.String(validate=validate.Length(max=120)),
        load_default=list,
        validate=validate.Length(max=200),
        metadata={"description": "for choice and multi"},
    )
    required = fields.Boolean(load_default=False)
    position = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000))
    active = fields.Boolean(load_default=True)
    version = fields.Integer(dump_only=True)


class CustomFieldPatchSchema(Schema):
    label = fields.String(validate=validate.Length(min=1, max=120))
    choices = fields.List(fields.String(validate=validate.Length(max=120)))
    required = fields.Boolean()
    position = fields.Integer(validate=validate.Range(min=0, max=10_000))
    active = fields.Boolean()
    version = fields.Integer(required=True, metadata={"description": "the version you read"})


@blp.route("")
class CustomFields(MethodView):
    @requires("clients.view")
    @blp.response(200, CustomFieldSchema(many=True))
    def get(self):
        """Every custom field, in form order; ``active`` false ones are kept but not asked."""
        return (
            db.session.execute(
                sa.select(CustomField).order_by(CustomField.position, CustomField.id)
            )
            .scalars()
            .all()
        )

    @requires("clients.configure")
    @blp.arguments(CustomFieldSchema)
    @blp.response(201, CustomFieldSchema)
    def post(self, data):
        """Add a field to every client; its values are checked on every write from then on."""
        try:
            return save_field(CustomField(), data)
        except ValidationFailed as exc:
            refuse_invalid(exc)


@blp.route("/<int:field_id>")
class CustomFieldItem(MethodView):
    @requires("clients.view")
    @blp.response(200, CustomFieldSchema)
    def get(self, field_id):
        """One custom field."""
        return db.session.get(CustomField, field_id) or abort(404, message="No such field.")

    @requires("clients.configure")
    @blp.arguments(CustomFieldPatchSchema)
    @blp.response(200, CustomFieldSchema)
    def patch(self, data, field_id):
        """Change a field's label, choices, order, or whether it is required or in use (its
        key and kind stay); send the ``version`` you read (409 if it changed since)."""
        field = db.session.get(CustomField, field_id) or abort(404, message="No such field.")
        refuse_stale(field, data.pop("version"), "field")
        try:
            return save_field(field, data)
        except ValidationFailed as exc:
            refuse_invalid(exc)
