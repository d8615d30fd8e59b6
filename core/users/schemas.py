"""Marshmallow schemas for users, teams, roles and tokens: the API and the web forms share them."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.config import SUPPORTED_LOCALES
from core.users.models import SCOPES

Email = lambda **kw: fields.Email(validate=validate.Length(max=254), **kw)  # noqa: E731
Name = lambda **kw: fields.String(validate=validate.Length(min=1, max=200), **kw)  # noqa: E731


class RoleRefSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)


class UserSchema(Schema):
    id = fields.Integer(dump_only=True)
    email = Email(required=True)
    name = Name(required=True)
    password = fields.String(
        load_only=True, required=True, validate=validate.Length(min=10, max=256)
    )
    active = fields.Boolean(load_default=True)
    team_id = fields.Integer(allow_none=True, load_default=None)
    role_ids = fields.List(fields.Integer(), load_only=True, load_default=list)
    roles = fields.List(fields.Nested(RoleRefSchema), dump_only=True)
    locale = fields.String(validate=validate.OneOf(SUPPORTED_LOCALES), load_default=None)
    timezone = fields.String(validate=validate.Length(min=1, max=64), load_default="UTC")
    last_login_at = fields.DateTime(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)
    version = fields.Integer(dump_only=True)


class UserUpdateSchema(Schema):
    """PATCH: every field optional; ``version`` is required so a stale edit gets 409."""

    version = fields.Integer(required=True)
    email = Email()
    name = Name()
    active = fields.Boolean()
    team_id = fields.Integer(allow_none=True)
    role_ids = fields.List(fields.Integer())
    locale = fields.String(validate=validate.OneOf(SUPPORTED_LOCALES))
    timezone = fields.String(validate=validate.Length(min=1, max=64))
    password = fields.String(load_only=True, validate=validate.Length(min=10, max=256))


class UserQuerySchema(Schema):
    q = fields.String(validate=validate.Length(max=200))
    active = fields.Boolean()
    team_id = fields.Integer()
    after = fields.Integer(
        validate=validate.Range(min=0),
        metadata={"description": "Cursor: the last id of the previous page."},
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class UserPageSchema(Schema):
    items = fields.List(fields.Nested(UserSchema))
    next_cursor = fields.Integer(allow_none=True)


class TeamSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    head_id = fields.Integer(allow_none=True, load_default=None)
    member_ids = fields.Method("_member_ids", dump_only=True)
    version = fields.Integer(dump_only=True)

    def _member_ids(self, team) -> list[int]:
        return [m.id for m in team.members]


class TeamUpdateSchema(Schema):
    version = fields.Integer(required=True)
    name = fields.String(validate=validate.Length(min=1, max=120))
    head_id = fields.Integer(allow_none=True)


class RoleSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    description = fields.String(load_default="", validate=validate.Length(max=500))
    is_admin = fields.Boolean(load_default=False)
    permissions = fields.List(fields.String(validate=validate.Length(max=100)), load_default=list)
    scopes = fields.Dict(
        keys=fields.String(validate=validate.Length(max=64)),
        values=fields.String(validate=validate.OneOf(SCOPES)),
        load_default=dict,
    )
    version = fields.Integer(dump_only=True)


class RoleUpdateSchema(Schema):
    version = fields.Integer(required=True)
    name = fields.String(validate=validate.Length(min=1, max=80))
    description = fields.String(validate=validate.Length(max=500))
    is_admin = fields.Boolean()
    permissions = fields.List(fields.String(validate=validate.Length(max=100)))
    scopes = fields.Dict(
        keys=fields.String(validate=validate.Length(max=64)),
        values=fields.String(validate=validate.OneOf(SCOPES)),
    )


class PermissionSchema(Schema):
    code = fields.String()
    label = fields.String()
    plugin = fields.String()


class TokenRequestSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=254))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=256)
    )
    name = fields.String(load_default="API token", validate=validate.Length(min=1, max=100))


class TokenSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    prefix = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    expires_at = fields.DateTime(dump_only=True)
    last_used_at = fields.DateTime(dump_only=True)
    revoked_at = fields.DateTime(dump_only=True)


class NewTokenSchema(TokenSchema):
    token = fields.String(dump_only=True, metadata={"description": "Shown once; store it safely."})
