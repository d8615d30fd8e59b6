"""The head of sales' dashboard widget: today's figures within the user's deal scope."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import render_template
from flask_babel import lazy_gettext as _l

from core.db import db, utcnow
from core.interactions.models import Interaction
from core.plugin_system.types import DashboardWidget, Period
from core.reports.filters import zone_of
from core.tasks.models import ACTIVE_STATUSES, Task
from plugins.sales.analytics import queries as q
from plugins.sales.models import Deal


def today_figures(user: Any, now: datetime | None = None) -> dict[str, Any]:
    """Deals created and won today (with the amount), calls today and tasks overdue now,
    for the deals, calls and tasks of the people in ``user``'s deal scope. Four queries."""
    now = now or utcnow()
    zone = zone_of(user)
    today = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(zone)).date()
    start, end = Period(today, today, "custom", zone).bounds()
    nobody: dict[str, Any] = {}
    created = db.session.execute(
        q.limit_people(
            sa.select(sa.func.count()).where(Deal.created_at >= start, Deal.created_at < end),
            Deal.owner_id,
            nobody,
            user,
        )
    ).scalar_one()
    won, amount = db.session.execute(
        q.limit_people(
            sa.select(sa.func.count(), sa.func.sum(Deal.amount)).where(
                Deal.closed_at >= start,
                Deal.closed_at < end,
                q.closed_stage_in(q.stage_ids("won") or [-1]),
            ),
            Deal.owner_id,
            nobody,
            user,
        )
    ).one()
    calls = db.session.execute(
        q.limit_people(
            sa.select(sa.func.count()).where(
                Interaction.kind == "call",
                Interaction.occurred_at >= start,
                Interaction.occurred_at < end,
            ),
            Interaction.user_id,
            nobody,
            user,
        )
    ).scalar_one()
    overdue = db.session.execute(
        q.limit_people(
            sa.select(sa.func.count()).where(Task.status.in_(ACTIVE_STATUSES), Task.due_at < now),
            Task.assignee_id,
            nobody,
            user,
        )
    ).scalar_one()
    return {
        "created": created,
        "won": won,
        "won_amount": q.money(amount) if amount is not None else Decimal("0.00"),
        "calls": calls,
        "overdue": overdue,
    }


def _render(user: Any) -> str:
    return render_template("sales_analytics/widget_today.html", figures=today_figures(user))


def widgets() -> list[DashboardWidget]:
    return [
        DashboardWidget(
            "sales.today",
            _l("Sales today"),
            _render,
            permission="sales.reports",
            weight=20,
            width=4,
        )
    ]
