"""The sales plugin: product catalog, funnels (pipelines) with deals, stage automation,
web lead capture, sales documents and analytics.

Bundled with the CRM and found through its entry point like any vendor's plugin; it talks
to core only through core's modules and hooks, and to no other plugin.
"""

from plugins.sales.plugin import SalesPlugin

plugin = SalesPlugin()
