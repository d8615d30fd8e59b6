"""A test plugin that cannot be imported."""

import crm_test_plugins_missing_dependency  # noqa: F401

plugin = None
