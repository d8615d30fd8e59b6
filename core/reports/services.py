"""Which reports a user may run, running one with a query string, and its rows as a file."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from flask import current_app

from core.plugin_system.types import Report, ReportChart, ReportColumn, ReportResult
from core.reports.filters import FilterForm, parse

log = logging.getLogger(__name__)

# The Excel number format of each column kind (None: as the value comes).
NUMBER_FORMATS = {"int": "#,##0", "money": "#,##0.00", "percent": "0.0%"}


class NotAllowed(Exception):
    """The report exists but its permission is not the user's."""


def all_reports() -> dict[str, Report]:
    """Every report of core and the active plugins, by name; a duplicate name keeps the
    first (core's) and is logged."""
    registry = current_app.extensions["crm_plugins"]
    found: dict[str, Report] = {}
    for plugin_name, report in registry.collect("reports", app=current_app):
        if report.name in found:
            log.error("plugin %s: report name %r is taken", plugin_name, report.name)
            continue
        found[report.name] = report
    return found


def available(user: Any) -> list[Report]:
    """The reports ``user`` may run, by group, weight and title."""
    return sorted(
        (r for r in all_reports().values() if user.has_permission(r.permission)),
        key=lambda r: (str(r.group), r.weight, str(r.title)),
    )


def find(name: str, user: Any) -> Report | None:
    """The report called ``name``; None if no active report has that name, ``NotAllowed``
    when the user lacks its permission."""
    report = all_reports().get(name)
    if report is not None and not user.has_permission(report.permission):
        raise NotAllowed(report.permission)
    return report


def run(report: Report, raw: Mapping[str, str], user: Any) -> tuple[FilterForm, ReportResult]:
    """Parse ``raw`` with the report's filters (``ValidationError`` if bad) and run it."""
    form = parse(report.filters, raw, user)
    return form, report.run(form.params, user)


def chart_of(report: Report, result: ReportResult) -> ReportChart | None:
    return result.chart or report.chart


def plain(value: Any) -> Any:
    """A cell as JSON carries it (dates as ISO text, decimals as numbers)."""
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "is_finite"):  # Decimal
        return float(value)
    return value


def as_json(report: Report, form: FilterForm, result: ReportResult) -> dict[str, Any]:
    keys = [c.key for c in result.columns]
    return {
        "name": report.name,
        "title": str(report.title),
        "filters": form.values,
        "columns": [{"key": c.key, "label": str(c.label), "kind": c.kind} for c in result.columns],
        "rows": [{k: plain(row.get(k)) for k in keys} for row in result.rows],
        "totals": {k: plain(result.totals.get(k)) for k in keys} if result.totals else None,
    }


def table(columns: list[ReportColumn], result: ReportResult) -> Iterator[list[Any]]:
    """The header, the rows and the totals line as lists of cells, for CSV and XLSX."""
    yield [str(c.label) for c in columns]
    for row in result.rows:
        yield [_cell(row.get(c.key)) for c in columns]
    if result.totals:
        yield [_cell(result.totals.get(c.key)) for c in columns]


def _cell(value: Any) -> Any:
    if hasattr(value, "is_finite"):
        return float(value)
    return str(value) if hasattr(value, "__html__") else value


def number_formats(columns: list[ReportColumn]) -> list[str | None]:
    return [NUMBER_FORMATS.get(c.kind) for c in columns]
