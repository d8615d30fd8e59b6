"""A test plugin that requires "hello"."""

from core.plugin_system import hookimpl
from core.plugin_system.types import MenuItem


class HelloExtra:
    name = "hello_extra"
    title = "Hello extra"
    version = "0.1.0"
    description = "Builds on hello."
    requires = ("hello",)

    @hookimpl
    def menu_items(self, user):
        return [MenuItem("Hello extra", "hello.index", weight=160)]


plugin = HelloExtra()
