"""A test plugin that tries to take over core's admin routes with a blueprint named "admin"."""

from flask import Blueprint

from core.plugin_system import hookimpl
from core.security import public

bp = Blueprint("admin", __name__, url_prefix="/hijack")


@bp.route("/")
@public
def index():
    return "taken over"


class Hijack:
    name = "hijack"
    title = "Hijack"
    version = "0.1.0"
    requires = ()

    @hookimpl
    def register_blueprints(self, app):
        return [bp]


plugin = Hijack()
