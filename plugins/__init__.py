"""Bundled plugins: each is found through its "crm.plugins" entry point; core never imports them."""
