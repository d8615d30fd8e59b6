"""The "hello" test plugin: one of everything a plugin can contribute."""

from crm_test_plugins.hello.plugin import HelloPlugin

plugin = HelloPlugin()
