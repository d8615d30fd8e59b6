"""Tasks linked to a client, as items of the client's timeline (kind "task")."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _

from core.plugin_system.types import TimelineItem, TimelineSource
from core.reads import Read
from core.tasks.models import Task
from core.tasks.services import scoped, to_local
from core.tasks.views import STATUS_LABELS
from core.users.models import User

# Made once: an alias built per call costs its column proxies and a new cache key each time.
_ASSIGNEE = sa.orm.aliased(User, name="assignee")


def task_items(client: Any, user: Any, kinds, before, limit: int) -> list[TimelineSource]:
    """The tasks linked to ``client`` that ``user`` may see, newest first, by when they were
    set (a task's due time moves; its creation does not, so pages stay stable)."""
    if (kinds is not None and "task" not in kinds) or not user.has_permission("tasks.view"):
        return []
    assignee = _ASSIGNEE
    query = (
        sa.select(
            Task.id,
            Task.title,
            Task.description,
            Task.result,
            Task.status,
            Task.due_at,
            Task.created_at,
            assignee.name.label("assignee_name"),
            assignee.timezone.label("assignee_timezone"),
        )
        .join(assignee, assignee.id == Task.assignee_id)
        .where(Task.record_kind == "client", Task.record_id == client.id)
    )
    if before is not None:
        query = query.where(before.older(Task.created_at, Task.id, "task"))
    newest = (Task.created_at.desc(), Task.id.desc())
    read = Read(scoped(query, user), order_by=newest, limit=limit, ordered=False)
    return [TimelineSource({"tasks": read}, _items)]


def _items(rows) -> list[TimelineItem]:
    out = []
    for task in rows["tasks"]:
        facts = [
            _("for %(name)s", name=task.assignee_name),
            str(STATUS_LABELS[task.status]).lower(),
        ]
        due = to_local(task.due_at, task.assignee_timezone)
        if due is not None:
            facts.append(_("due %(when)s", when=f"{due:%Y-%m-%d %H:%M}"))
        body = task.description
        if task.result:
            body = f"{body}\n{_('Result')}: {task.result}".strip()
        out.append(
            TimelineItem(
                kind="task",
                at=task.created_at,
                id=task.id,
                title=f"{task.title} ({', '.join(facts)})",
                body=body,
                url=url_for("tasks.edit", task_id=task.id),
                label=_("Task"),
                icon="☑",
                weight=40,
            )
        )
    return out
