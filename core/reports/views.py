"""Pages: the list of reports a user may run, and a report with its filters, table, chart
and CSV/XLSX downloads (``?format=csv`` or ``xlsx`` on the report's own address)."""

from __future__ import annotations

from itertools import groupby
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, render_template, request, send_file
from flask_babel import format_date, format_decimal, format_percent
from flask_babel import gettext as _
from marshmallow import ValidationError

from core.api import _flatten
from core.db import utcnow
from core.plugin_system.types import Report, ReportResult
from core.reports import services
from core.reports.charts import svg
from core.reports.filters import choices_of
from core.security import current_principal, requires
from core.spreadsheets import XLSX_MIMETYPE, csv_text, xlsx_file

bp = Blueprint("reports", __name__, url_prefix="/reports")
FORMATS = ("csv", "xlsx")


def file_response(report: Report, result: ReportResult, fmt: str) -> Response:
    """The report's table (with its totals line) as a CSV or XLSX download."""
    columns = list(result.columns)
    stem = f"{report.name.replace('.', '-')}-{utcnow():%Y%m%d-%H%M}"
    if fmt == "xlsx":
        handle = xlsx_file(
            services.table(columns, result), str(report.title), services.number_formats(columns)
        )
        return send_file(
            handle, mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=f"{stem}.xlsx"
        )
    return Response(
        csv_text(services.table(columns, result)),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'},
    )


@bp.app_template_filter("report_cell")
def report_cell(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "int" and isinstance(value, int | float):
        return format_decimal(value, format="#,##0")
    if kind == "money" and (isinstance(value, int | float) or hasattr(value, "is_finite")):
        return format_decimal(value, format="#,##0.00")
    if kind == "percent" and isinstance(value, int | float):
        return format_percent(value, format="#,##0.0%")
    if kind == "date" and hasattr(value, "isoformat"):
        return format_date(value)
    return str(value)


@bp.route("/")
@requires("reports.view")
def index():
    reports = services.available(current_principal())
    groups = [(group, list(items)) for group, items in groupby(reports, key=lambda r: r.group)]
    return render_template("reports/index.html", groups=groups)


@bp.route("/<name>")
@requires("reports.view")
def show(name: str):
    user = current_principal()
    try:
        report = services.find(name, user)
    except services.NotAllowed as exc:
        abort(403, description=f"You need the permission {exc.args[0]!r}.")
    if report is None:
        abort(404)
    fmt = request.args.get("format")
    raw = {k: v for k, v in request.args.items() if k != "format"}
    errors: dict[str, list[str]] = {}
    form = result = None
    if fmt is not None and fmt not in FORMATS:
        errors["format"] = [_("Choose CSV or XLSX.")]
    else:
        try:
            form, result = services.run(report, raw, user)
        except ValidationError as exc:
            errors = _flatten(exc.messages)
    if result is not None and fmt in FORMATS:
        return file_response(report, result, fmt)
    chart = services.chart_of(report, result) if result is not None else None
    values = form.values if form is not None else raw
    return render_template(
        "reports/show.html",
        report=report,
        result=result,
        errors=errors,
        values=values,
        choices={f.name: choices_of(f) for f in report.filters},
        chart_svg=svg(chart, result, str(report.title)) if chart else "",
        query=urlencode([(k, v) for k, v in values.items() if v]),
    ), (422 if errors else 200)
