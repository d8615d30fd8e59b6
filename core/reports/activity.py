"""Activity per manager for a period: one column per measure, one row per manager.

Each ``ActivityMeasure`` counts one kind of work per user with one grouped query; the
report joins them by user, applies the scope to the manager (a user with scope "own"
sees only their own line, "team" their team's) and the team filter. Core measures calls
and meetings recorded, tasks done and tasks that ran late, clients created and updated.
Plugins add their own per-manager reports through the ``reports`` hook.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core.audit.models import AuditLog
from core.clients.models import Client
from core.db import db, utcnow
from core.interactions.models import Interaction
from core.plugin_system.types import Report, ReportChart, ReportColumn, ReportFilter, ReportResult
from core.security import scoped
from core.tasks.models import ACTIVE_STATUSES, Task
from core.users.models import User


@dataclass(frozen=True)
class ActivityMeasure:
    """``count(start, end)`` returns a SELECT of ``(user_id, value)`` grouped by user over
    ``[start, end)`` (naive UTC); its first column is what the scope applies to."""

    key: str
    label: str
    count: Callable[[datetime, datetime], sa.Select]


def _clients_created(start: datetime, end: datetime) -> sa.Select:
    return (
        sa.select(Client.created_by_id, sa.func.count())
        .where(Client.deleted_at.is_(None), Client.created_at >= start, Client.created_at < end)
        .group_by(Client.created_by_id)
    )


def _clients_updated(start: datetime, end: datetime) -> sa.Select:
    """Clients a user changed (each counted once however often), from the audit log."""
    return (
        sa.select(AuditLog.user_id, sa.func.count(sa.distinct(AuditLog.entity_id)))
        .where(
            AuditLog.entity == Client.__tablename__,
            AuditLog.action == "update",
            AuditLog.at >= start,
            AuditLog.at < end,
        )
        .group_by(AuditLog.user_id)
    )


def _interactions(kind: str) -> Callable[[datetime, datetime], sa.Select]:
    def count(start: datetime, end: datetime) -> sa.Select:
        return (
            sa.select(Interaction.user_id, sa.func.count())
            .where(
                Interaction.kind == kind,
                Interaction.occurred_at >= start,
                Interaction.occurred_at < end,
            )
            .group_by(Interaction.user_id)
        )

    return count


def _tasks_done(start: datetime, end: datetime) -> sa.Select:
    return (
        sa.select(Task.assignee_id, sa.func.count())
        .where(Task.status == "done", Task.completed_at >= start, Task.completed_at < end)
        .group_by(Task.assignee_id)
    )


def _tasks_overdue(start: datetime, end: datetime) -> sa.Select:
    """Tasks due in the period that were not done in time: still open past their due
    time, or done after it."""
    now = utcnow()
    late = sa.or_(
        sa.and_(Task.status.in_(ACTIVE_STATUSES), Task.due_at < now),
        sa.and_(Task.status == "done", Task.completed_at > Task.due_at),
    )
    return (
        sa.select(Task.assignee_id, sa.func.count())
        .where(Task.due_at >= start, Task.due_at < end, late)
        .group_by(Task.assignee_id)
    )


MEASURES: tuple[ActivityMeasure, ...] = (
    ActivityMeasure("calls", _l("Calls"), _interactions("call")),
    ActivityMeasure("meetings", _l("Meetings"), _interactions("meeting")),
    ActivityMeasure("tasks_done", _l("Tasks done"), _tasks_done),
    ActivityMeasure("tasks_overdue", _l("Tasks overdue"), _tasks_overdue),
    ActivityMeasure("clients_created", _l("Clients created"), _clients_created),
    ActivityMeasure("clients_updated", _l("Clients updated"), _clients_updated),
)


def _run(params: dict[str, Any], user: Any) -> ReportResult:
    start, end = params["period"].bounds()
    figures: dict[int, dict[str, int]] = {}
    for measure in MEASURES:
        counted = measure.count(start, end).subquery()
        manager, value = counted.c[0], counted.c[1]
        query = sa.select(manager, value).where(manager.is_not(None))
        if params.get("team") is not None:
            query = query.where(
                manager.in_(sa.select(User.id).where(User.team_id == params["team"]))
            )
        for user_id, count in db.session.execute(scoped(query, user, "clients", manager)):
            figures.setdefault(user_id, {})[measure.key] = count
    names = dict(
        db.session.execute(sa.select(User.id, User.name).where(User.id.in_(list(figures)))).all()
    )
    rows = sorted(
        (
            {"manager": names.get(uid, f"#{uid}"), **{m.key: f.get(m.key, 0) for m in MEASURES}}
            for uid, f in figures.items()
        ),
        key=lambda r: str(r["manager"]).casefold(),
    )
    return ReportResult(
        columns=[
            ReportColumn("manager", _l("Manager")),
            *(ReportColumn(m.key, m.label, "int") for m in MEASURES),
        ],
        rows=rows,
        totals={"manager": _l("Total"), **{m.key: sum(r[m.key] for r in rows) for m in MEASURES}},
    )


def reports() -> list[Report]:
    return [
        Report(
            "manager_activity",
            _l("Activity per manager"),
            "reports.activity",
            [
                ReportFilter("period", _l("Period"), "period", required=True),
                ReportFilter("team", _l("Team"), "team"),
            ],
            _run,
            chart=ReportChart("bar", "manager", tuple(m.key for m in MEASURES)),
            weight=10,
            group=_l("Activity"),
        )
    ]
