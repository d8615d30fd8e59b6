"""A test plugin with a hook implementation that has no specification."""

from core.plugin_system import hookimpl


class Misspelled:
    name = "misspelled"
    title = "Misspelled"
    version = "0.1.0"
    requires = ()

    @hookimpl
    def menu_item(self, user):  # the spec is menu_items
        return []


plugin = Misspelled()
