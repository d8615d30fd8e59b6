"""Creating, changing and completing tasks; who sees which; due times in the user's zone.

One implementation behind the web forms, the API, templates used by plugins and tests.
Input arrives as plain dicts; every bad field raises ``ValidationFailed`` naming it, and
nothing is changed.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from flask import url_for
from flask_babel import force_locale
from flask_babel import gettext as _

from core import records
from core.db import db, utcnow
from core.tasks.models import (
    ACTIVE_STATUSES,
    DUE_UNITS,
    PRIORITIES,
    STATUSES,
    Task,
    TaskTemplate,
    TaskUserSettings,
)
from core.users.models import Team, User
from core.users.services import ValidationFailed

DEFAULT_REMIND_MINUTES = 30


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def to_local(moment: datetime | None, tz_name: str | None) -> datetime | None:
    """A stored UTC time as wall-clock time in ``tz_name`` (naive)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(zone(tz_name)).replace(tzinfo=None)


def to_utc(local: datetime, tz_name: str | None) -> datetime:
    """Wall-clock time in ``tz_name`` (or an aware time) as naive UTC for storing."""
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone(tz_name))
    return local.astimezone(UTC).replace(tzinfo=None)


def parse_due(value: Any, tz_name: str | None) -> datetime | None:
    """ISO 8601 date or date-time; without an offset it is the assignee's wall-clock time.
    A bare date means the end of that working day (18:00). Raises ValueError."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return to_utc(value, tz_name)
    if not isinstance(value, str):
        raise ValueError("not a text")
    text = value.strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if len(text) == 10:
        return to_utc(datetime.combine(date.fromisoformat(text), time(18, 0)), tz_name)
    parsed = datetime.fromisoformat(text)
    if not 1900 <= parsed.year <= 9999:
        raise ValueError("out of range")
    return to_utc(parsed, tz_name)


def add_offset(start: datetime, amount: int, unit: str, tz_name: str | None = None) -> datetime:
    """``start`` (UTC) plus ``amount`` minutes, hours or working days (Mon-Fri, counted on
    the calendar of ``tz_name``, keeping the time of day)."""
    if unit == "minutes":
        return start + timedelta(minutes=amount)
    if unit == "hours":
        return start + timedelta(hours=amount)
    if unit != "working_days":
        raise ValueError(f"unknown unit {unit!r}")
    local = to_local(start, tz_name)
    # A start on a weekend counts from the next Monday.
    while local.weekday() >= 5:
        local += timedelta(days=1)
    left = amount
    while left > 0:
        local += timedelta(days=1)
        if local.weekday() < 5:
            left -= 1
    return to_utc(local, tz_name)


# --- who sees what ----------------------------------------------------------------------


def scoped(query: sa.Select, user: Any) -> sa.Select:
    """Limit ``query`` (over Task) to the tasks ``user`` may see: the "tasks" scope area.

    own: assigned to or created by the user; team: assigned to or created by anyone of
    the user's team; all: every task. A team head always sees the tasks of their teams.
    """
    scope = user.scope_for("tasks")
    if scope == "all":
        return query
    headed = sa.select(Team.id).where(Team.head_id == user.id)
    team = User.team_id.in_(headed)
    if scope == "team" and user.team_id is not None:
        team = sa.or_(User.team_id == user.team_id, team)
    members = sa.select(User.id).where(team)
    conditions = [
        Task.assignee_id == user.id,
        Task.created_by_id == user.id,
        Task.assignee_id.in_(members),
    ]
    if scope == "team":
        conditions.append(Task.created_by_id.in_(members))
    return query.where(sa.or_(*conditions))


def visible(task_id: int, user: Any) -> Task | None:
    return db.session.execute(scoped(sa.select(Task).where(Task.id == task_id), user)).scalar()


def team_member_ids(user: Any) -> list[int]:
    """Members of the teams ``user`` heads (the "Team tasks" page)."""
    headed = sa.select(Team.id).where(Team.head_id == user.id)
    return list(db.session.execute(sa.select(User.id).where(User.team_id.in_(headed))).scalars())


# --- per-user settings ------------------------------------------------------------------


def user_settings(user_id: int) -> TaskUserSettings:
    found = db.session.get(TaskUserSettings, user_id)
    if found is None:
        found = TaskUserSettings(user_id=user_id, remind_before_minutes=DEFAULT_REMIND_MINUTES)
        db.session.add(found)
        db.session.flush()
    return found


def default_reminder(user_id: int) -> int:
    """The user's reminder lead time for new tasks (read only: no row is made)."""
    found = db.session.get(TaskUserSettings, user_id)
    return found.remind_before_minutes if found is not None else DEFAULT_REMIND_MINUTES


def set_default_reminder(user_id: int, minutes: Any) -> None:
    try:
        value = int(minutes)
    except (TypeError, ValueError):
        value = -1
    if not 0 <= value <= 60 * 24 * 30:
        raise ValidationFailed({"remind_before_minutes": [_("Enter minutes between 0 and 43200.")]})
    user_settings(user_id).remind_before_minutes = value
    db.session.commit()


def regenerate_ical_token(user_id: int) -> str:
    token = secrets.token_urlsafe(32)
    user_settings(user_id).ical_token = token
    db.session.commit()
    return token


def revoke_ical_token(user_id: int) -> None:
    user_settings(user_id).ical_token = None
    db.session.commit()


def user_for_ical_token(token: str) -> User | None:
    if not token or len(token) > 64:
        return None
    row = db.session.execute(
        sa.select(User)
        .join(TaskUserSettings, TaskUserSettings.user_id == User.id)
        .where(TaskUserSettings.ical_token == token, User.active.is_(True))
    ).scalar()
    return row


# --- changing tasks ---------------------------------------------------------------------


EDITABLE = (
    "title",
    "description",
    "assignee_id",
    "due_at",
    "priority",
    "status",
    "result",
    "record_kind",
    "record_id",
    "remind_before_minutes",
)


def _clean(data: dict[str, Any], task: Task | None, actor: Any) -> dict[str, Any]:
    """Check every field of ``data``; returns values ready to set. Raises ValidationFailed."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    creating = task is None
    if "title" in data or creating:
        title = (data.get("title") or "").strip()
        if not title:
            errors["title"] = [_("Enter a title.")]
        elif len(title) > 300:
            errors["title"] = [_("At most 300 characters.")]
        out["title"] = title
    if "description" in data:
        out["description"] = (data.get("description") or "").strip()
    if "result" in data:
        out["result"] = (data.get("result") or "").strip()
    assignee = task.assignee if task is not None else None
    if "assignee_id" in data or creating:
        raw = data.get("assignee_id", actor.id if creating else None)
        found = db.session.get(User, raw) if isinstance(raw, int) and raw < 2**63 else None
        if found is None or not found.active:
            errors["assignee_id"] = [_("Choose an active user.")]
        else:
            assignee = found
            out["assignee_id"] = found.id
    tz_name = assignee.timezone if assignee is not None else getattr(actor, "timezone", "UTC")
    if "due_at" in data:
        try:
            out["due_at"] = parse_due(data["due_at"], tz_name)
        except (ValueError, TypeError):
            errors["due_at"] = [
                _("Enter a date and time as YYYY-MM-DD HH:MM (in the assignee's time zone).")
            ]
    if "priority" in data:
        if data["priority"] not in PRIORITIES:
            errors["priority"] = [_("Choose one of: %(c)s.", c=", ".join(PRIORITIES))]
        else:
            out["priority"] = data["priority"]
    if "status" in data:
        if data["status"] not in STATUSES:
            errors["status"] = [_("Choose one of: %(c)s.", c=", ".join(STATUSES))]
        else:
            out["status"] = data["status"]
    if "remind_before_minutes" in data:
        value = data["remind_before_minutes"]
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 43200
        ):
            errors["remind_before_minutes"] = [_("Enter minutes between 0 and 43200.")]
        else:
            out["remind_before_minutes"] = value
    if "record_kind" in data or "record_id" in data:
        kind, record_id = data.get("record_kind"), data.get("record_id")
        if kind in (None, "") and record_id in (None, ""):
            out["record_kind"], out["record_id"] = None, None
        elif (
            not isinstance(kind, str)
            or not isinstance(record_id, int)
            or isinstance(record_id, bool)
            or not 0 < record_id < 2**63
            or records.visible(kind, record_id, actor) is None
        ):
            errors["record_id"] = [_("No such record, or it is not yours to see.")]
        else:
            out["record_kind"], out["record_id"] = kind, record_id
    if errors:
        raise ValidationFailed(errors)
    return out


def _task_url(task: Task) -> str:
    try:
        return url_for("tasks.edit", task_id=task.id)
    except RuntimeError:
        return f"/tasks/{task.id}"


def _notify_assigned(task: Task, actor_id: int | None) -> None:
    from core.notifications import notify

    if task.assignee_id == actor_id:
        return
    assignee = task.assignee
    due = to_local(task.due_at, assignee.timezone)
    with force_locale(assignee.locale):
        body = task.title + (
            f"\n{_('Due')}: {due:%Y-%m-%d %H:%M} ({assignee.timezone})" if due else ""
        )
        subject = _("New task: %(title)s", title=task.title)
    notify(
        "task_assigned",
        [task.assignee_id],
        subject,
        body,
        url=_task_url(task),
        record=("task", task.id),
        key=f"task:{task.id}:assigned:{task.assignee_id}:{task.version}",
    )


def _reset_reminders(task: Task, changed: dict[str, Any]) -> None:
    """A new due time or assignee, or a reopened task, gets its reminders again."""
    if {"due_at", "assignee_id", "remind_before_minutes"} & changed.keys() or (
        changed.get("status") in ACTIVE_STATUSES
    ):
        task.reminded_at = None
        task.overdue_notified_at = None
        task.escalated_at = None


def _apply_status(task: Task, now: datetime) -> None:
    if task.status == "done" and task.completed_at is None:
        task.completed_at = now
    elif task.status != "done":
        task.completed_at = None


def create_task(data: dict[str, Any], actor: Any, now: datetime | None = None) -> Task:
    values = _clean(data, None, actor)
    task = Task(priority="normal", status="open", description="", result="", created_by_id=actor.id)
    for key, value in values.items():
        setattr(task, key, value)
    if task.remind_before_minutes is None:
        task.remind_before_minutes = default_reminder(task.assignee_id)
    _apply_status(task, now or utcnow())
    db.session.add(task)
    db.session.commit()
    _notify_assigned(task, actor.id)
    return task


def update_task(task: Task, data: dict[str, Any], actor: Any, now: datetime | None = None) -> Task:
    values = _clean({k: v for k, v in data.items() if k in EDITABLE}, task, actor)
    changed = {k: v for k, v in values.items() if getattr(task, k) != v}
    old_assignee = task.assignee_id
    for key, value in changed.items():
        setattr(task, key, value)
    _reset_reminders(task, changed)
    _apply_status(task, now or utcnow())
    db.session.commit()
    if "assignee_id" in changed and task.assignee_id != old_assignee:
        _notify_assigned(task, actor.id)
    return task


def complete_task(task: Task, result: str, actor: Any) -> Task:
    return update_task(task, {"status": "done", "result": result}, actor)


def delete_task(task: Task) -> None:
    db.session.delete(task)
    db.session.commit()


# --- templates ------------------------------------------------------------------------------


def check_template(data: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not (data.get("title") or "").strip():
        errors["title"] = [_("Enter a title.")]
    if data.get("due_unit", "hours") not in DUE_UNITS:
        errors["due_unit"] = [_("Choose one of: %(c)s.", c=", ".join(DUE_UNITS))]
    amount = data.get("due_amount", 0)
    if not isinstance(amount, int) or not 0 <= amount <= 100_000:
        errors["due_amount"] = [_("Enter a whole number from 0 to 100000.")]
    if data.get("priority", "normal") not in PRIORITIES:
        errors["priority"] = [_("Choose one of: %(c)s.", c=", ".join(PRIORITIES))]
    return errors


def template(code: str) -> TaskTemplate | None:
    return db.session.execute(sa.select(TaskTemplate).filter_by(code=code)).scalar()


TEMPLATE_FIELDS = ("code", "title", "description", "due_amount", "due_unit", "priority")
_CODE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")


def save_template(found: TaskTemplate | None, data: dict[str, Any]) -> TaskTemplate:
    """Create (``found`` None) or change a task template; ValidationFailed changes nothing.

    The code is how plugins and stage rules name the template ("sales.first_call")."""
    values = {k: data[k] for k in TEMPLATE_FIELDS if k in data}
    merged = {
        **({k: getattr(found, k) for k in TEMPLATE_FIELDS} if found is not None else {}),
        **values,
    }
    merged["title"] = (merged.get("title") or "").strip()
    merged["description"] = (merged.get("description") or "").strip()
    errors = check_template(merged)
    code = (merged.get("code") or "").strip()
    if not _CODE.match(code):
        errors["code"] = [
            _("Use lower-case letters, digits, dots, dashes and _; at most 80 characters.")
        ]
    else:
        taken = db.session.execute(
            sa.select(TaskTemplate.id).where(TaskTemplate.code == code)
        ).scalar()
        if taken is not None and (found is None or taken != found.id):
            errors["code"] = [_("Another template has this code.")]
    if len(merged["title"]) > 300:
        errors["title"] = [_("At most 300 characters.")]
    if errors:
        raise ValidationFailed(errors)
    target = found or TaskTemplate()
    for key in TEMPLATE_FIELDS:
        if key in merged:
            setattr(target, key, code if key == "code" else merged[key])
    if found is None:
        db.session.add(target)
    db.session.commit()
    return target


def delete_template(found: TaskTemplate) -> None:
    db.session.delete(found)
    db.session.commit()


def create_from_template(
    template: TaskTemplate | str,
    assignee: User | int,
    link: tuple[str, int] | None = None,
    now: datetime | None = None,
    actor: Any = None,
) -> Task:
    """A task from ``template`` (or its code) for ``assignee``, due the template's offset
    after ``now`` (working days skip Saturdays and Sundays in the assignee's time zone).

    ``link`` is a (record kind, id) pair; plugins call this from their reactions to events,
    so the link is not checked against a user's scope. Notifies the assignee.
    """
    if isinstance(template, str):
        found = globals()["template"](template)
        if found is None:
            raise LookupError(f"no task template {template!r}")
        template = found
    user = assignee if isinstance(assignee, User) else db.session.get(User, assignee)
    if user is None or not user.active:
        raise ValidationFailed({"assignee_id": [_("Choose an active user.")]})
    start = now or utcnow()
    task = Task(
        title=template.title,
        description=template.description,
        assignee_id=user.id,
        due_at=add_offset(start, template.due_amount, template.due_unit, user.timezone),
        priority=template.priority,
        status="open",
        result="",
        record_kind=link[0] if link else None,
        record_id=link[1] if link else None,
        remind_before_minutes=default_reminder(user.id),
        created_by_id=getattr(actor, "id", None),
        origin=template.code,
    )
    db.session.add(task)
    db.session.commit()
    _notify_assigned(task, getattr(actor, "id", None))
    return task


def resolve_tasks(ids: list[int], user: Any) -> dict[int, tuple[str, str]]:
    """``RecordType.resolve`` for tasks: those among ``ids`` in the user's "tasks" scope."""
    query = scoped(sa.select(Task.id, Task.title).where(Task.id.in_(ids)), user)
    return {
        task_id: (title, url_for("tasks.edit", task_id=task_id))
        for task_id, title in db.session.execute(query)
    }


NEXT_CONTACT = "core.next_contact"
NEXT_CONTACT_HOUR = 9  # the reminder is due at 9:00 on the day, in the owner's time zone


def remind_next_contact(client: Any, actor: Any = None) -> Task | None:
    """Keep one open task "Contact <client>" for the client's owner, due on the client's
    next contact date: created when the date is set, moved when it changes (and handed to
    the new owner), cancelled when the date is cleared. Returns the task, if any."""
    existing = db.session.execute(
        sa.select(Task).where(
            Task.origin == NEXT_CONTACT,
            Task.record_kind == "client",
            Task.record_id == client.id,
            Task.status.in_(ACTIVE_STATUSES),
        )
    ).scalar_one_or_none()
    owner = db.session.get(User, client.owner_id) if client.owner_id else None
    if client.next_contact_on is None or owner is None or not owner.active:
        if existing is not None:
            existing.status = "cancelled"
            db.session.commit()
        return None
    due = to_utc(datetime.combine(client.next_contact_on, time(NEXT_CONTACT_HOUR)), owner.timezone)
    if existing is not None:
        if existing.due_at == due and existing.assignee_id == owner.id:
            return existing
        changed = {"due_at": due, "assignee_id": owner.id}
        old_assignee = existing.assignee_id
        existing.due_at, existing.assignee_id = due, owner.id
        _reset_reminders(existing, changed)
        db.session.commit()
        if existing.assignee_id != old_assignee:
            _notify_assigned(existing, getattr(actor, "id", None))
        return existing
    with force_locale(owner.locale):
        title = _("Contact %(name)s", name=client.name)[:300]
    task = Task(
        title=title,
        description="",
        assignee_id=owner.id,
        due_at=due,
        priority="normal",
        status="open",
        result="",
        record_kind="client",
        record_id=client.id,
        remind_before_minutes=default_reminder(owner.id),
        created_by_id=getattr(actor, "id", None),
        origin=NEXT_CONTACT,
    )
    db.session.add(task)
    db.session.commit()
    _notify_assigned(task, getattr(actor, "id", None))
    return task
