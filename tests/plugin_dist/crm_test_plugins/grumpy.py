"""A test plugin whose hooks raise: the app must carry on without its contributions."""

from core.plugin_system import hookimpl
from core.plugin_system.types import DashboardWidget


def _explode(user):
    raise RuntimeError("widget exploded")


class Grumpy:
    name = "grumpy"
    title = "Grumpy"
    version = "0.1.0"
    requires = ()

    @hookimpl
    def menu_items(self, user):
        raise RuntimeError("menu exploded")

    @hookimpl
    def dashboard_widgets(self, user):
        return [DashboardWidget("grumpy.widget", "Grumpy", _explode)]

    @hookimpl
    def user_created(self, user):
        raise RuntimeError("event exploded")


plugin = Grumpy()
