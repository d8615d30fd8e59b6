"""JSON API of stage rules: ``/api/v1/sales/stages/<id>/rules`` and ``/api/v1/sales/rules/<id>``."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from core.api import ApiBlueprint, refuse_invalid
from core.db import db
from core.security import requires
from core.users.services import ValidationFailed
from plugins.sales.automation import services
from plugins.sales.automation.models import TRIGGERS, StageRule

blp = ApiBlueprint(
    "sales_automation_api",
    __name__,
    url_prefix="/api/v1/sales",
    description="Stage rules: what happens when a deal enters a stage",
)


class SalesRuleInSchema(Schema):
    action = fields.String(
        required=True,
        validate=validate.Length(min=1, max=60),
        metadata={"description": "task, notify, document, set_field, move, or a plugin's kind"},
    )
    params = fields.Dict(load_default=dict, metadata={"description": "The action's parameters"})
    trigger = fields.String(load_default="enter", validate=validate.OneOf(TRIGGERS))
    position = fields.Integer(strict=True, validate=validate.Range(0, 9999))
    active = fields.Boolean(load_default=True)


class SalesRulePatchSchema(Schema):
    action = fields.String(validate=validate.Length(min=1, max=60))
    params = fields.Dict()
    trigger = fields.String(validate=validate.OneOf(TRIGGERS))
    position = fields.Integer(strict=True, validate=validate.Range(0, 9999))
    active = fields.Boolean()
    version = fields.Integer(required=True, strict=True)


class SalesRuleOutSchema(Schema):
    id = fields.Integer()
    stage_id = fields.Integer()
    position = fields.Integer()
    trigger = fields.String()
    action = fields.String()
    params = fields.Dict()
    active = fields.Boolean()
    version = fields.Integer()


def _stage(stage_id: int):
    stage = services.live_stage(stage_id)
    if stage is None:
        abort(404, message=f"Stage {stage_id} does not exist.")
    return stage


def _rule(rule_id: int) -> StageRule:
    rule = db.session.get(StageRule, rule_id)
    if rule is None:
        abort(404, message=f"Rule {rule_id} does not exist.")
    return rule


@blp.route("/stages/<int:stage_id>/rules")
class StageRules(MethodView):
    @requires("sales.admin")
    @blp.response(200, SalesRuleOutSchema(many=True))
    def get(self, stage_id):
        """The stage's rules in the order they run."""
        return services.stage_rules(_stage(stage_id).id)

    @requires("sales.admin")
    @blp.arguments(SalesRuleInSchema)
    @blp.response(201, SalesRuleOutSchema)
    def post(self, data, stage_id):
        """Add a rule; its parameters are checked (unknown template, inactive user, unknown
        role: 422)."""
        try:
            return services.save_rule(_stage(stage_id), data)
        except ValidationFailed as exc:
            refuse_invalid(exc)


@blp.route("/rules/<int:rule_id>")
class RuleItem(MethodView):
    @requires("sales.admin")
    @blp.response(200, SalesRuleOutSchema)
    def get(self, rule_id):
        """One rule."""
        return _rule(rule_id)

    @requires("sales.admin")
    @blp.arguments(SalesRulePatchSchema)
    @blp.response(200, SalesRuleOutSchema)
    def patch(self, data, rule_id):
        """Change a rule; send the ``version`` you read (409 if it changed since)."""
        rule = _rule(rule_id)
        try:
            return services.save_rule(rule.stage, data, rule)
        except ValidationFailed as exc:
            refuse_invalid(exc)

    @requires("sales.admin")
    @blp.response(204)
    def delete(self, rule_id):
        """Remove a rule (its past runs go with it)."""
        services.delete_rule(_rule(rule_id))
