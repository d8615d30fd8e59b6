"""A test plugin whose requirement is not installed."""


class NeedsMissing:
    name = "needs_missing"
    title = "Needs missing"
    version = "0.1.0"
    requires = ("not_installed_anywhere",)


plugin = NeedsMissing()
