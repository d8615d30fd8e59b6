"""``/api/v1/sales/reports``: the sales reports under the plugin's own address, as the
issue's API lists them. The same reports as ``/api/v1/reports/sales.<name>``, run by core
(filters, scope, 403/404/422, CSV/XLSX) and gone while the plugin is disabled."""

from __future__ import annotations

from flask import jsonify
from flask.views import MethodView

from core.api import ApiBlueprint
from core.reports import services
from core.reports.api import ReportOutSchema, ResultOutSchema, RunQuerySchema, report_json
from core.reports.api import run_response as run_report
from core.security import current_principal, requires

blp = ApiBlueprint(
    "sales_reports_api",
    __name__,
    url_prefix="/api/v1/sales/reports",
    description="Sales reports (the same as /api/v1/reports/sales.<name>)",
)
PREFIX = "sales."


@blp.route("")
class SalesReports(MethodView):
    @requires("reports.view")
    @blp.response(200, ReportOutSchema(many=True))
    def get(self):
        """The sales reports the caller may run, with their filters."""
        mine = [r for r in services.available(current_principal()) if r.name.startswith(PREFIX)]
        return jsonify([{**report_json(r), "name": r.name[len(PREFIX) :]} for r in mine])


@blp.route("/<name>")
class SalesReport(MethodView):
    @requires("reports.view")
    @blp.arguments(RunQuerySchema, location="query")
    @blp.response(200, ResultOutSchema)
    @blp.alt_response(200, description="A CSV or XLSX file with format=csv|xlsx.")
    def get(self, args, name: str):
        """Run a sales report (funnel, won_lost, managers, sources, abc_clients,
        abc_products, forecast, plan_actual) with its filters as query parameters."""
        return run_report(PREFIX + name, args["format"])
