"""Bundled plugins: each subpackage is found through its "crm.plugins" entry point, never imported by core."""
