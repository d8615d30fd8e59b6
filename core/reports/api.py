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


def _report_json(report) -> dict:
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
        return jsonify([_report_json(r) for r in services.available(current_principal())])


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
        if args["format"] != "json":
            from core.reports.views import file_response

            return file_response(report, result, args["format"])
        return jsonify(services.as_json(report, form, result))
