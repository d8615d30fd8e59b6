"""JSON API: list plugins and enable or disable one."""

from __future__ import annotations

from dataclasses import asdict

from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, fields

from core.api import ApiBlueprint
from core.plugin_system import services
from core.security import requires

blp = ApiBlueprint("api_plugins", __name__, url_prefix="/api/v1/plugins", description="Plugins")


class PluginSchema(Schema):
    name = fields.String(dump_only=True)
    title = fields.String(dump_only=True)
    version = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    requires = fields.List(fields.String(), dump_only=True)
    required_by = fields.List(fields.String(), dump_only=True)
    distribution = fields.String(dump_only=True)
    enabled = fields.Boolean(dump_only=True)
    loadable = fields.Boolean(
        dump_only=True, metadata={"description": "false when its code cannot run here"}
    )
    state = fields.String(dump_only=True, metadata={"description": "enabled, disabled or failed"})
    error = fields.String(dump_only=True, allow_none=True)
    schema_revision = fields.String(dump_only=True, allow_none=True)


class PluginPatchSchema(Schema):
    enabled = fields.Boolean(required=True)


@blp.route("")
class Plugins(MethodView):
    @requires("core.plugins.manage")
    @blp.response(200, PluginSchema(many=True))
    def get(self):
        """Every discovered plugin with its state and, when failed, the reason."""
        return [asdict(v) for v in services.overview()]


@blp.route("/<name>")
class PluginItem(MethodView):
    @requires("core.plugins.manage")
    @blp.response(200, PluginSchema)
    def get(self, name):
        """One plugin."""
        try:
            return asdict(services.get(name))
        except services.PluginError as exc:
            abort(exc.status, message=exc.message)

    @requires("core.plugins.manage")
    @blp.arguments(PluginPatchSchema)
    @blp.response(200, PluginSchema)
    def patch(self, data, name):
        """Enable (checks requires, runs migrations) or disable (refused while required)."""
        try:
            view = services.enable(name) if data["enabled"] else services.disable(name)
        except services.PluginError as exc:
            abort(exc.status, message=exc.message)
        return asdict(view)
