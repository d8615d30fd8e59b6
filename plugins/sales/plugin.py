"""Hook implementations of the sales plugin.

Each part of the plugin (catalog, deals, automation, lead forms, documents, reports) keeps
its routes, permissions and reactions in its own module; this object gathers them.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from core.plugin_system import hookimpl
from core.plugin_system.types import (
    CardPanel,
    DashboardWidget,
    Job,
    MenuItem,
    NotificationEvent,
    Permission,
    RecordType,
    Report,
    ScopeArea,
    SearchResult,
    SettingDefinition,
    TimelineItem,
    TimelineSource,
)
from plugins.sales import models as _models  # noqa: F401 - registers the tables
from plugins.sales.analytics import models as _analytics_models  # noqa: F401 - sales_plans
from plugins.sales.automation import hooks as automation
from plugins.sales.automation import models as _automation_models  # noqa: F401 - rules
from plugins.sales.catalog import models as _catalog_models  # noqa: F401 - registers the tables
from plugins.sales.deals import hooks as deals
from plugins.sales.invoices import hooks as invoices
from plugins.sales.leads import models as _lead_models  # noqa: F401 - lead forms


class SalesPlugin:
    name = "sales"
    title = "Sales"
    version = "0.1.0"
    description = "Product catalog, sales funnels with deals, stage automation, web lead capture"
    requires: tuple[str, ...] = ()
    default_enabled = True
    # Its menus, card panels, timeline and search read only the user's id, permissions and
    # scopes: the request's cached Principal answers them without loading the User.
    takes_principal = True

    @hookimpl
    def permissions(self) -> list[Permission]:
        return [
            Permission("sales.view", _l("See deals and the product catalog")),
            Permission(
                "sales.catalog",
                _l("Edit the product catalog: products, groups, price lists, import"),
            ),
            *deals.permissions(),
            *invoices.permissions(),
            Permission("sales.reports", _l("Run the sales reports and see today's figures")),
            Permission("sales.plans", _l("Enter sales plans")),
        ]

    @hookimpl
    def scope_areas(self) -> list[ScopeArea]:
        return [ScopeArea("sales.deals", _l("Deals"))]

    @hookimpl
    def register_blueprints(self, app: Any) -> list[Any]:
        from plugins.sales.analytics import plans
        from plugins.sales.catalog.views import bp as catalog

        return [
            catalog,
            *deals.blueprints(),
            *invoices.blueprints(),
            plans.bp,
            *automation.blueprints(),
        ]

    @hookimpl
    def register_api_blueprints(self, app: Any) -> list[Any]:
        from plugins.sales.analytics import plans
        from plugins.sales.analytics.api import blp as reports_api
        from plugins.sales.catalog.api import blp as catalog_api

        return [
            catalog_api,
            *deals.api_blueprints(),
            *invoices.api_blueprints(),
            plans.api,
            reports_api,
            *automation.api_blueprints(),
        ]

    @hookimpl
    def menu_items(self, user: Any) -> list[MenuItem]:
        return [
            *deals.menu_items(),
            MenuItem(_l("Products"), "sales_catalog.index", "sales.view", weight=110),
            *invoices.menu_items(),
            *automation.menu_items(),
            MenuItem(_l("Sales plans"), "sales_analytics.index", "sales.plans", weight=230),
        ]

    @hookimpl
    def settings(self) -> list[SettingDefinition]:
        return [*deals.settings(), *automation.settings()]

    @hookimpl
    def notification_events(self) -> list[NotificationEvent]:
        return [*deals.notification_events(), *automation.notification_events()]

    @hookimpl
    def jobs(self, app: Any) -> list[Job]:
        return automation.jobs()

    @hookimpl
    def client_card_panels(self) -> list[CardPanel]:
        return [*deals.client_card_panels(), *invoices.client_card_panels()]

    @hookimpl
    def record_types(self) -> list[RecordType]:
        return [*deals.record_types()]

    @hookimpl
    def search(self, user: Any, query: str, limit: int) -> list[SearchResult]:
        return deals.search(user, query, limit)

    @hookimpl
    def timeline_items(
        self, client, user, kinds, before, limit
    ) -> list[TimelineItem | TimelineSource]:
        return deals.timeline_items(client, user, kinds, before, limit)

    @hookimpl
    def client_merged(self, survivor: Any, merged_ids: list[int]) -> None:
        from plugins.sales import client_merge

        client_merge.move_to_survivor(survivor.id, merged_ids)

    @hookimpl
    def client_purge_blockers(self, client_id: int) -> list[str]:
        from plugins.sales import client_merge

        return client_merge.purge_blockers(client_id)

    @hookimpl
    def demo_loaded(self, client_ids: list[int], user_ids: list[int]) -> None:
        from plugins.sales import demo

        demo.load(client_ids, user_ids)

    @hookimpl
    def reports(self, app: Any) -> list[Report]:
        from plugins.sales.analytics import reports

        return reports.reports()

    @hookimpl
    def dashboard_widgets(self, app: Any, user: Any) -> list[DashboardWidget]:
        from plugins.sales.analytics import widget

        return widget.widgets()

    # --- documents (plugins/sales/invoices) ---------------------------------------------

    @hookimpl
    def document_variables(
        self, template_type: str, record: Any, user: Any, language: str
    ) -> dict[str, Any]:
        return invoices.document_variables(template_type, record, user, language)

    @hookimpl
    def plugin_enabled(self, name: str) -> None:
        deals.plugin_enabled(name)
        if name == self.name:
            invoices.plugin_enabled()
