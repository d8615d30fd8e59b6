"""The periodic job ``core.task_reminders``: due-soon reminders, overdue notices and, after
the escalation delay, a word to the assignee's team head.

Each notice goes out once however many workers run the job at the same moment: the task
is claimed with a conditional UPDATE (``... WHERE overdue_notified_at IS NULL``) and the
notification carries a key unique per user (``task:<id>:overdue``), so a worker that loses
either race sends nothing. The key is sent before the column is set: a worker that dies in
between leaves the task to the next run, whose notice is then refused by the key.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _

from core.db import db, utcnow
from core.notifications import notify
from core.settings.services import get as setting
from core.tasks.models import ACTIVE_STATUSES, Task
from core.tasks.services import _task_url, to_local
from core.users.models import Team, User

log = logging.getLogger(__name__)
BATCH = 500


def _claim(task_id: int, column: str, now: datetime) -> bool:
    """Set ``column`` if nobody has; True for the worker that did."""
    result = db.session.execute(
        sa.update(Task)
        .where(Task.id == task_id, getattr(Task, column).is_(None))
        .values({column: now})
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _due_text(task: Task, user: User) -> str:
    due = to_local(task.due_at, user.timezone)
    return f"{due:%Y-%m-%d %H:%M} ({user.timezone})"


def _rows(condition) -> list[tuple[Task, User]]:
    return list(
        db.session.execute(
            sa.select(Task, User)
            .join(User, User.id == Task.assignee_id)
            .where(Task.status.in_(ACTIVE_STATUSES), Task.due_at.is_not(None), condition)
            .order_by(Task.due_at, Task.id)
            .limit(BATCH)
        ).all()
    )


def run(now: datetime | None = None) -> dict[str, int]:
    """One pass; returns how many of each notice this worker sent."""
    now = now or utcnow()
    sent = {"due_soon": 0, "overdue": 0, "escalated": 0}
    delay = int(setting("core.task_escalation_minutes") or 0)

    # Due soon: within the task's lead time, not yet due, not yet reminded.
    lead = sa.func.coalesce(Task.remind_before_minutes, 0)
    soon = _rows(
        sa.and_(
            Task.reminded_at.is_(None),
            Task.due_at > now,
            Task.due_at <= now + timedelta(days=30),
            lead > 0,
        )
    )
    for task, user in soon:
        if task.due_at - timedelta(minutes=task.remind_before_minutes or 0) > now:
            continue
        with force_locale(user.locale):
            notify(
                "task_due_soon",
                [user.id],
                _("Due soon: %(title)s", title=task.title),
                _("The task is due at %(due)s.", due=_due_text(task, user)),
                url=_task_url(task),
                record=("task", task.id),
                key=f"task:{task.id}:due_soon:{task.due_at:%Y%m%d%H%M}",
            )
        sent["due_soon"] += _claim(task.id, "reminded_at", now)

    for task, user in _rows(sa.and_(Task.overdue_notified_at.is_(None), Task.due_at <= now)):
        with force_locale(user.locale):
            notify(
                "task_overdue",
                [user.id],
                _("Overdue: %(title)s", title=task.title),
                _("The task was due at %(due)s.", due=_due_text(task, user)),
                url=_task_url(task),
                record=("task", task.id),
                key=f"task:{task.id}:overdue:{task.due_at:%Y%m%d%H%M}",
            )
        sent["overdue"] += _claim(task.id, "overdue_notified_at", now)

    escalate = _rows(
        sa.and_(
            Task.escalated_at.is_(None),
            Task.overdue_notified_at.is_not(None),
            Task.due_at <= now - timedelta(minutes=delay),
        )
    )
    heads = dict(
        db.session.execute(
            sa.select(User.id, Team.head_id)
            .join(Team, Team.id == User.team_id)
            .where(User.id.in_({user.id for _, user in escalate}))
        ).all()
    )
    for task, user in escalate:
        head_id = heads.get(user.id)
        if head_id is not None and head_id != user.id:
            head = db.session.get(User, head_id)
            if head is not None and head.active:
                with force_locale(head.locale):
                    notify(
                        "task_overdue_escalated",
                        [head_id],
                        _("Overdue in your team: %(title)s", title=task.title),
                        _(
                            "%(name)s has not done the task due at %(due)s.",
                            name=user.name,
                            due=_due_text(task, head),
                        ),
                        url=_task_url(task),
                        record=("task", task.id),
                        key=f"task:{task.id}:escalated:{task.due_at:%Y%m%d%H%M}",
                    )
        sent["escalated"] += _claim(task.id, "escalated_at", now)
    return sent
