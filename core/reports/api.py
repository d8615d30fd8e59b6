"""JSON API: the reports a caller may run (with their filters) and a report's figures or file."""

from __future__ import annotations

from flask import jsonify, request
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from core.api import ApiBlueprint
from core.reports import services
from core.reports.filters import describe
from core.security import current_principal, requires

blp = ApiBlueprint("api_reports", __name__, url_prefix="/api/v1/reports", description="Reports")


class FilterOutSchema(Schema):
    name = fields.String()
    label = fields.String()
    kind = fields.String(metadata={"description": "period, user, team or choice"})
    required = fields.Boolean()
    default = fields.Raw(allow_none=True)
    choices = fields.List(fields.Dict(), metadata={"description": "[{value, label}]"})
    parameters = fields.List(
        fields.String(),
        metadata={
            "description": "query parameters it reads: a period 'p' reads p (a preset "
            "or 'custom'), p_from and p_to (YYYY-MM-DD, custom only)"
        },
    )


class ReportOutSchema(Schema):
    name = fields.String()
    title = fields.String()
    group = fields.String()
    description = fields.String()
    filters = fields.List(fields.Nested(FilterOutSchema))


class ColumnOutSchema(Schema):
    key = fields.String()
    label = fields.String()
    kind = fields.String(metadata={"description": "text, int, money, percent or date"})


class ResultOutSchema(Schema):
    name = fields.String()
    title = fields.String()
    filters = fields.Dict(metadata={"description": "the filter values applied"})
    columns = fields.List(fields.Nested(ColumnOutSchema))
    rows = fields.List(fields.Dict(), metadata={"description": "one object per row, by key"})
    totals = fields.Dict(allow_none=True)


class RunQuerySchema(Schema):
    class Meta:
        unknown = INCLUDE  # the report's own filters, validated against its definition

    format = fields.String(
        validate=validate.OneOf(["json", "csv", "xlsx"]),
        load_default="json",
        metadata={"description": "json (default), csv or xlsx"},
    )


def report_json(report) -> dict:
    """A report and its filters, as the list answers it (plugins answering their own lists
    of reports use it too)."""
    return {
        "name": report.name,
        "title": str(report.title),
        "group": str(report.group),
        "description": str(report.description),
        "filters": [describe(f) for f in report.filters],
    }


@blp.route("")
class Reports(MethodView):
    @requires("reports.view")
    @blp.response(200, ReportOutSchema(many=True))
    def get(self):
        """The reports the caller may run, with the filters each one takes."""
        return jsonify([report_json(r) for r in services.available(current_principal())])


@blp.route("/<name>")
class ReportRun(MethodView):
    @requires("reports.view")
    @blp.arguments(RunQuerySchema, location="query")
    @blp.response(200, ResultOutSchema)
    @blp.alt_response(200, description="A CSV or XLSX file with format=csv|xlsx.")
    def get(self, args, name: str):
        """Run a report with its filters as query parameters (see the list for them).

        Figures respect the caller's record scope. Bad filters answer 422 naming the
        parameter; a report the caller may not run answers 403.
        """
        return run_response(name, args["format"])


def run_response(name: str, file_format: str = "json"):
    """Run report ``name`` with the request's query parameters as its filters and answer
    as the API does (JSON, or a CSV/XLSX file): 404 for an unknown report, 403 without its
    permission, 422 naming a bad parameter. Plugins serve their own report addresses with
    it (the sales plugin's ``/api/v1/sales/reports/<name>``)."""
    user = current_principal()
    try:
        report = services.find(name, user)
    except services.NotAllowed as exc:
        abort(403, message=f"You need the permission {exc.args[0]!r}.")
    if report is None:
        abort(404, message=f"There is no report {name!r}.")
    raw = {k: v for k, v in request.args.items() if k != "format"}
    try:
        form, result = services.run(report, raw, user)
    except ValidationError as exc:
        abort(422, message="Invalid input.", errors={"query": exc.messages})
    if file_format != "json":
        from core.reports.views import file_response

        return file_response(report, result, file_format)
    return jsonify(services.as_json(report, form, result))
