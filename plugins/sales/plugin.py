"""Hook implementations of the sales plugin.

Each part of the plugin (catalog, deals, automation, lead forms, documents, reports) keeps
its routes, permissions and reactions in its own module; this object gathers them.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from core.plugin_system import hookimpl
from core.plugin_system.types import DashboardWidget, MenuItem, Permission, Report, ScopeArea
from plugins.sales import models as _models  # noqa: F401 - registers the tables
from plugins.sales.analytics import models as _analytics_models  # noqa: F401 - sales_plans


class SalesPlugin:
    name = "sales"
    title = "Sales"
    version = "0.1.0"
    description = "Product catalog, sales funnels with deals, stage automation, web lead capture"
    requires: tuple[str, ...] = ()
    default_enabled = True

    @hookimpl
    def permissions(self) -> list[Permission]:
        return [
            Permission("sales.view", _l("See deals and the product catalog")),
            Permission("sales.reports", _l("Run the sales reports and see today's figures")),
            Permission("sales.plans", _l("Enter sales plans")),
        ]

    @hookimpl
    def scope_areas(self) -> list[ScopeArea]:
        return [ScopeArea("sales.deals", _l("Deals"))]

    @hookimpl
    def register_blueprints(self, app: Any) -> list[Any]:
        from plugins.sales.analytics import plans

        return [plans.bp]

    @hookimpl
    def register_api_blueprints(self, app: Any) -> list[Any]:
        from plugins.sales.analytics import plans

        return [plans.api]

    @hookimpl
    def reports(self, app: Any) -> list[Report]:
        from plugins.sales.analytics import reports

        return reports.reports()

    @hookimpl
    def dashboard_widgets(self, app: Any, user: Any) -> list[DashboardWidget]:
        from plugins.sales.analytics import widget

        return widget.widgets()

    @hookimpl
    def menu_items(self, user: Any) -> list[MenuItem]:
        return [MenuItem(_l("Sales plans"), "sales_analytics.index", "sales.plans", weight=230)]
