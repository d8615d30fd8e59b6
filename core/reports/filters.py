"""A report's filter fields as one marshmallow schema: the form, the API and the checks agree.

Raw values come from a query string (the page's form or the API); empty values count as
missing. Errors name the field as the query string does (``period_from``), so a form
shows them next to the field and the API answers 422 with them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from core.db import db
from core.plugin_system.types import Period, ReportFilter

ANY_TIME = "any"
CUSTOM = "custom"
PRESETS = {
    ANY_TIME: _l("Any time"),
    "this_month": _l("This month"),
    "last_month": _l("Last month"),
    "this_quarter": _l("This quarter"),
    "last_quarter": _l("Last quarter"),
    "this_year": _l("This year"),
    "last_year": _l("Last year"),
    CUSTOM: _l("Custom dates"),
}
# A custom range longer than this is refused: reports are for periods, not for all time.
MAX_DAYS = 366 * 20


def _month_start(day: date, months_back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def preset_range(preset: str, today: date) -> tuple[date, date]:
    """The first and last day of ``preset`` as seen on ``today``."""
    if preset in ("this_month", "last_month"):
        start = _month_start(today, 0 if preset == "this_month" else 1)
        return start, _month_start(start, -1) - timedelta(days=1)
    if preset in ("this_quarter", "last_quarter"):
        first = _month_start(today, (today.month - 1) % 3)
        start = first if preset == "this_quarter" else _month_start(first, 3)
        return start, _month_start(start, -3) - timedelta(days=1)
    year = today.year if preset == "this_year" else today.year - 1
    return date(year, 1, 1), date(year, 12, 31)


def zone_of(user: Any) -> str:
    name = getattr(user, "timezone", None) or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


def choices_of(report_filter: ReportFilter) -> list[tuple[str, str]]:
    """The ``(value, label)`` pairs a filter offers (users and teams from the database)."""
    from core.users.models import Team, User

    if report_filter.kind == "user":
        return [
            (str(i), name if active else f"{name} ({_l('inactive')})")
            for i, name, active in db.session.execute(
                sa.select(User.id, User.name, User.active).order_by(User.name, User.id)
            )
        ]
    if report_filter.kind == "team":
        return [
            (str(i), name)
            for i, name in db.session.execute(sa.select(Team.id, Team.name).order_by(Team.name))
        ]
    if report_filter.kind == "period":
        presets = PRESETS if not report_filter.required else dict(list(PRESETS.items())[1:])
        return [(code, str(label)) for code, label in presets.items()]
    choices = report_filter.choices() if callable(report_filter.choices) else report_filter.choices
    return [(str(code), str(label)) for code, label in choices]


@dataclass(frozen=True)
class FilterForm:
    """The parsed form: ``params`` for ``Report.run``, ``values`` to fill the form again."""

    params: dict[str, Any]
    values: dict[str, str]


def _default_preset(report_filter: ReportFilter) -> str:
    return report_filter.default or ("this_month" if report_filter.required else ANY_TIME)


def schema_for(
    filters: Sequence[ReportFilter], user: Any, today: date
) -> tuple[Schema, Callable[[dict[str, Any]], dict[str, Any]]]:
    """A marshmallow schema for the query string, and what turns its data into
    ``Report.run``'s params."""
    declared: dict[str, fields.Field] = {}
    choices = {f.name: choices_of(f) for f in filters if f.kind != "period"}
    for f in filters:
        if f.kind == "period":
            codes = [code for code, _ in choices_of(f)]
            declared[f.name] = fields.String(
                load_default=_default_preset(f), validate=validate.OneOf(codes)
            )
            declared[f"{f.name}_from"] = fields.Date(load_default=None)
            declared[f"{f.name}_to"] = fields.Date(load_default=None)
        elif f.kind in ("user", "team"):
            known = [int(code) for code, _ in choices[f.name]]
            message = _l("No such user.") if f.kind == "user" else _l("No such team.")
            declared[f.name] = fields.Integer(
                load_default=f.default,
                required=f.required,
                validate=validate.OneOf(known, error=str(message)),
            )
        else:
            declared[f.name] = fields.String(
                load_default=f.default,
                required=f.required,
                validate=validate.OneOf([code for code, _ in choices[f.name]]),
            )
    periods = [f for f in filters if f.kind == "period"]
    zone = zone_of(user)

    class ReportFilterSchema(Schema.from_dict(declared)):  # type: ignore[misc]
        class Meta:
            unknown = RAISE

        @validates_schema
        def check_periods(self, data: dict[str, Any], **kwargs: Any) -> None:
            errors: dict[str, list[str]] = {}
            for f in periods:
                start, end = data.get(f"{f.name}_from"), data.get(f"{f.name}_to")
                if data.get(f.name) != CUSTOM:
                    continue
                if start is None:
                    errors[f"{f.name}_from"] = [str(_l("Enter the first day of the period."))]
                if end is None:
                    errors[f"{f.name}_to"] = [str(_l("Enter the last day of the period."))]
                if start and end and end < start:
                    errors[f"{f.name}_to"] = [
                        str(_l("The period ends before it starts (%(start)s).", start=start))
                    ]
                elif start and end and (end - start).days > MAX_DAYS:
                    errors[f"{f.name}_to"] = [str(_l("The period is longer than 20 years."))]
            if errors:
                raise ValidationError(errors)

    def to_params(data: dict[str, Any]) -> dict[str, Any]:
        params = {}
        for f in filters:
            if f.kind != "period":
                params[f.name] = data.get(f.name)
                continue
            preset = data[f.name]
            if preset == ANY_TIME:
                params[f.name] = None
            elif preset == CUSTOM:
                params[f.name] = Period(data[f"{f.name}_from"], data[f"{f.name}_to"], CUSTOM, zone)
            else:
                params[f.name] = Period(*preset_range(preset, today), preset, zone)
        return params

    return ReportFilterSchema(), to_params


def parse(filters: Sequence[ReportFilter], raw: Mapping[str, str], user: Any) -> FilterForm:
    """Validate ``raw`` (a query string without empty values); raises ``ValidationError``
    whose ``messages`` map field names to reasons."""
    zone = ZoneInfo(zone_of(user))
    today = datetime.now(zone).date()
    schema, to_params = schema_for(filters, user, today)
    params = to_params(schema.load({k: v for k, v in raw.items() if v not in ("", None)}))
    values: dict[str, str] = {}
    for f in filters:
        value = params[f.name]
        if isinstance(value, Period):
            values[f.name] = value.preset
            values[f"{f.name}_from"] = value.start.isoformat()
            values[f"{f.name}_to"] = value.end.isoformat()
        elif f.kind == "period":
            values[f.name] = ANY_TIME
        elif value is not None:
            values[f.name] = str(value)
    return FilterForm(params, values)


def describe(report_filter: ReportFilter) -> dict[str, Any]:
    """A filter as the API lists it, with the choices it accepts."""
    out: dict[str, Any] = {
        "name": report_filter.name,
        "label": str(report_filter.label),
        "kind": report_filter.kind,
        "required": report_filter.required,
        "choices": [{"value": code, "label": label} for code, label in choices_of(report_filter)],
    }
    if report_filter.kind == "period":
        out["default"] = _default_preset(report_filter)
        out["parameters"] = [
            report_filter.name,
            f"{report_filter.name}_from",
            f"{report_filter.name}_to",
        ]
    else:
        out["default"] = report_filter.default
        out["parameters"] = [report_filter.name]
    return out
