"""Pages: my tasks, team tasks, the month calendar, task forms, the client card panel and
the iCalendar feed."""

from __future__ import annotations

import calendar as month_grid
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core import records
from core.db import db, utcnow
from core.ids import parse_id
from core.plugin_system.types import PanelSource
from core.reads import Read
from core.security import current_actor, current_principal, login_required_only, public, requires
from core.tasks import ical, services
from core.tasks.models import ACTIVE, ACTIVE_STATUSES, PRIORITIES, STATUSES, Task, TaskTemplate
from core.users.models import User
from core.users.services import ValidationFailed, user_names

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


def _links(tasks: list[Task], user: Any) -> dict[tuple[str, int], records.Linked]:
    return records.resolve(
        [(t.record_kind, t.record_id) for t in tasks if t.record_kind and t.record_id], user
    )


def _names(tasks: list[Any]) -> dict[int, str]:
    ids = {t.assignee_id for t in tasks} | {t.created_by_id for t in tasks if t.created_by_id}
    return user_names(ids) if ids else {}


def bounds(tz_name: str, now: datetime) -> dict[str, tuple[datetime | None, datetime | None]]:
    """Each group's due times as a UTC range [from, to): overdue, today, this week (to
    Sunday) and later, on the calendar of ``tz_name``. Later also holds undated tasks."""
    today = services.to_local(now, tz_name).date()
    week_end = today + timedelta(days=6 - today.weekday())

    def midnight(day: date) -> datetime:
        return services.to_utc(datetime.combine(day, datetime.min.time()), tz_name)

    tomorrow, after_week = (
        midnight(today + timedelta(days=1)),
        midnight(week_end + timedelta(days=1)),
    )
    return {
        "overdue": (None, now),
        "today": (now, tomorrow),
        "week": (tomorrow, after_week),
        "later": (after_week, None),
    }


def group(tasks: list[Task], tz_name: str, now: datetime) -> dict[str, list[Task]]:
    """``tasks`` sorted into the groups of ``bounds``."""
    ranges = bounds(tz_name, now)
    groups: dict[str, list[Task]] = {key: [] for key in ranges}
    for task in tasks:
        for key, (start, end) in ranges.items():
            if task.due_at is None:
                if key == "later":
                    groups[key].append(task)
            elif (start is None or task.due_at >= start) and (end is None or task.due_at < end):
                groups[key].append(task)
                break
    return groups


def _in_group(key: str, start: datetime | None, end: datetime | None) -> sa.ColumnElement:
    conditions = []
    if start is not None:
        conditions.append(Task.due_at >= start)
    if end is not None:
        conditions.append(Task.due_at < end)
    found = sa.and_(*conditions)
    return sa.or_(found, Task.due_at.is_(None)) if key == "later" else found


# A group shows its first rows; "show all" pages through one group (keyset on due, id).
GROUP_ROWS = 50
PAGE_ROWS = 200


def _cursor_after(cursor: str) -> sa.ColumnElement | None:
    """Tasks after ``cursor`` ("<due ISO>~<id>" or "-~<id>" for an undated one) in the
    list's order: dated tasks by due time, then undated ones, ties by id."""
    due, _, raw_id = cursor.partition("~")
    task_id = parse_id(raw_id)
    if task_id is None:
        return None
    if due == "-":
        return sa.and_(Task.due_at.is_(None), Task.id > task_id)
    try:
        moment = datetime.fromisoformat(due)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        return None
    return sa.or_(
        Task.due_at > moment,
        sa.and_(Task.due_at == moment, Task.id > task_id),
        Task.due_at.is_(None),
    )


def _cursor_of(task: Task) -> str:
    return f"{task.due_at.isoformat() if task.due_at else '-'}~{task.id}"


def grouped_page(owners: sa.ColumnElement, tz_name: str, now: datetime) -> dict[str, Any]:
    """My tasks / Team tasks: the count of each group and its first rows, or with
    ``?group=<key>`` one group paged by ``?after=<cursor>``. Bad parameters give 400."""
    ranges = bounds(tz_name, now)
    only = request.args.get("group")
    if only is not None and only not in ranges:
        abort(400, description=_("Unknown group: %(group)s", group=only))
    after = request.args.get("after")
    after_condition = None
    if after is not None:
        after_condition = _cursor_after(after)
        if after_condition is None or only is None:
            abort(400, description=_("The page link is not valid."))
    conditions = {key: _in_group(key, *span) for key, span in ranges.items()}
    counts = db.session.execute(
        sa.select(
            *(
                sa.func.sum(sa.case((cond, 1), else_=0)).label(key)
                for key, cond in conditions.items()
            )
        )
        .where(owners)
        .where(ACTIVE)
    ).one()
    counts = {key: int(getattr(counts, key) or 0) for key in conditions}
    next_cursor = None
    if only is not None:
        query = active(sa.select(Task).where(owners).where(conditions[only]))
        if after_condition is not None:
            query = query.where(after_condition)
        rows = list(db.session.execute(query.limit(PAGE_ROWS + 1)).scalars())
        if len(rows) > PAGE_ROWS:
            rows = rows[:PAGE_ROWS]
            next_cursor = _cursor_of(rows[-1])
        groups = {only: rows}
    else:
        # The first rows of every group in one statement, whatever the number of groups.
        firsts = [
            sa.select(sub.c.id).select_from(sub)
            for sub in (
                active(sa.select(Task.id).where(owners).where(cond)).limit(GROUP_ROWS).subquery()
                for key, cond in conditions.items()
                if counts[key]
            )
        ]
        tasks: list[Task] = []
        if firsts:
            ids = sa.union_all(*firsts).scalar_subquery() if len(firsts) > 1 else firsts[0]
            tasks = list(
                db.session.execute(active(sa.select(Task).where(Task.id.in_(ids)))).scalars()
            )
        groups = group(tasks, tz_name, now)
    tasks = [t for rows in groups.values() for t in rows]
    return {
        "groups": groups,
        "counts": counts,
        "only": only,
        "next_cursor": next_cursor,
        "links": _links(tasks, current_principal()),
        "names": _names(tasks),
    }


GROUP_TITLES = {
    "overdue": _l("Overdue"),
    "today": _l("Today"),
    "week": _l("This week"),
    "later": _l("Later"),
}
PRIORITY_LABELS = {"low": _l("Low"), "normal": _l("Normal"), "high": _l("High")}
STATUS_LABELS = {
    "open": _l("Open"),
    "in_progress": _l("In progress"),
    "done": _l("Done"),
    "cancelled": _l("Cancelled"),
}


def active(query: sa.Select) -> sa.Select:
    """``query`` (over Task) limited to tasks still to do, soonest due first.

    ``ACTIVE`` as literal SQL (not bound parameters) lets the database use the partial
    index ix_tasks_assignee_active: a manager's open tasks, not all they ever had."""
    return query.where(ACTIVE).order_by(Task.due_at.is_(None), Task.due_at, Task.id)


@bp.route("/")
@requires("tasks.view")
def mine():
    user = current_principal()
    return render_template(
        "tasks/list.html",
        heading=_("My tasks"),
        titles=GROUP_TITLES,
        show_assignee=False,
        **grouped_page(Task.assignee_id == user.id, user.timezone, utcnow()),
    )


@bp.route("/team")
@requires("tasks.view")
def team():
    user = current_principal()
    members = services.team_member_ids(user)
    return render_template(
        "tasks/list.html",
        heading=_("Team tasks"),
        titles=GROUP_TITLES,
        show_assignee=True,
        not_head=not members,
        **grouped_page(Task.assignee_id.in_(members or [-1]), user.timezone, utcnow()),
    )


@bp.route("/calendar")
@requires("tasks.view")
def calendar():
    user = current_principal()
    today = services.to_local(utcnow(), user.timezone).date()
    try:
        first = datetime.strptime(request.args.get("month", ""), "%Y-%m").date()
    except ValueError:
        first = today.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1)
    start = services.to_utc(datetime.combine(first, datetime.min.time()), user.timezone)
    end = services.to_utc(datetime.combine(last, datetime.min.time()), user.timezone)
    tasks = list(
        db.session.execute(
            services.scoped(sa.select(Task), user)
            .where(Task.assignee_id == user.id, Task.due_at >= start, Task.due_at < end)
            .order_by(Task.due_at, Task.id)
        ).scalars()
    )
    by_day: dict[date, list[Task]] = {}
    for task in tasks:
        by_day.setdefault(services.to_local(task.due_at, user.timezone).date(), []).append(task)
    weeks = month_grid.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    previous = (first - timedelta(days=1)).replace(day=1)
    return render_template(
        "tasks/calendar.html",
        weeks=weeks,
        first=first,
        today=today,
        by_day=by_day,
        previous=previous.strftime("%Y-%m"),
        following=last.strftime("%Y-%m"),
        tz=user.timezone,
    )


def _form_data() -> dict[str, Any]:
    form = request.form
    data: dict[str, Any] = {
        "title": form.get("title", ""),
        "description": form.get("description", ""),
        "priority": form.get("priority", "normal"),
        "due_at": form.get("due_at", "").strip() or None,
    }
    for key in ("assignee_id", "record_id", "remind_before_minutes"):
        raw = form.get(key, "").strip()
        if raw == "":
            data[key] = None
        else:
            data[key] = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else raw
    data["record_kind"] = form.get("record_kind", "").strip() or None
    if "status" in form:
        data["status"] = form.get("status")
    if "result" in form:
        data["result"] = form.get("result", "")
    if data["assignee_id"] is None:
        data.pop("assignee_id")
    if data["remind_before_minutes"] is None:
        data.pop("remind_before_minutes")
    return data


def _form_page(task: Task | None, errors: dict, values: dict[str, Any]):
    users = db.session.execute(
        sa.select(User.id, User.name).where(User.active.is_(True)).order_by(User.name)
    ).all()
    link = None
    if values.get("record_kind") and isinstance(values.get("record_id"), int):
        link = records.visible(values["record_kind"], values["record_id"], current_principal())
    return render_template(
        "tasks/form.html",
        task=task,
        errors=errors,
        values=values,
        users=users,
        link=link,
        priorities=[(p, PRIORITY_LABELS[p]) for p in PRIORITIES],
        statuses=[(s, STATUS_LABELS[s]) for s in STATUSES],
    ), (422 if errors else 200)


def _values_of(task: Task) -> dict[str, Any]:
    tz = task.assignee.timezone
    due = services.to_local(task.due_at, tz)
    return {
        "title": task.title,
        "description": task.description,
        "assignee_id": task.assignee_id,
        "due_at": due.strftime("%Y-%m-%dT%H:%M") if due else "",
        "priority": task.priority,
        "status": task.status,
        "result": task.result,
        "record_kind": task.record_kind,
        "record_id": task.record_id,
        "remind_before_minutes": task.remind_before_minutes,
        "version": task.version,
    }


@bp.route("/new", methods=["GET", "POST"])
@requires("tasks.edit")
def new():
    user = current_principal()
    if request.method == "POST":
        data = _form_data()
        try:
            task = services.create_task(data, current_actor())
        except ValidationFailed as exc:
            db.session.rollback()
            return _form_page(None, exc.errors, {**data, "assignee_id": data.get("assignee_id")})
        flash(_("The task is saved."), "success")
        return redirect(_back(task))
    values = {
        "assignee_id": user.id,
        "priority": "normal",
        "record_kind": request.args.get("record_kind"),
        "record_id": parse_id(request.args.get("record_id")),
    }
    return _form_page(None, {}, values)


def _back(task: Task) -> str:
    if task.record_kind == "client" and task.record_id:
        return url_for("clients.card", client_id=task.record_id)
    return url_for(".mine")


def _visible_or_404(task_id: int) -> Task:
    task = services.visible(task_id, current_principal())
    if task is None:
        abort(404)
    return task


@bp.route("/<int:task_id>", methods=["GET", "POST"])
@requires("tasks.view")
def edit(task_id: int):
    task = _visible_or_404(task_id)
    if request.method == "POST":
        if not current_principal().has_permission("tasks.edit"):
            abort(403)
        data = _form_data()
        version = parse_id(request.form.get("version"))
        if version != task.version:
            errors = {"_form": [_("Someone changed this task meanwhile; reload it and try again.")]}
            return _form_page(task, errors, {**_values_of(task), **data, "version": task.version})
        try:
            services.update_task(task, data, current_actor())
        except ValidationFailed as exc:
            db.session.rollback()
            return _form_page(task, exc.errors, {**data, "version": version})
        flash(_("The task is saved."), "success")
        return redirect(_back(task))
    return _form_page(task, {}, _values_of(task))


@bp.route("/<int:task_id>/complete", methods=["POST"])
@requires("tasks.edit")
def complete(task_id: int):
    task = _visible_or_404(task_id)
    services.complete_task(task, request.form.get("result", ""), current_actor())
    flash(_("Done: %(title)s", title=task.title), "success")
    target = request.form.get("next", "")
    return redirect(
        target if target.startswith("/") and not target.startswith("//") else _back(task)
    )


# --- the calendar feed ----------------------------------------------------------------


@bp.route("/settings", methods=["POST"])
@login_required_only
def save_settings():
    user = current_principal()
    action = request.form.get("action")
    if action == "regenerate":
        services.regenerate_ical_token(user.id)
        flash(_("A new calendar address is made; the old one no longer works."), "success")
    elif action == "revoke":
        services.revoke_ical_token(user.id)
        flash(_("The calendar address no longer works."), "success")
    else:
        try:
            services.set_default_reminder(user.id, request.form.get("remind_before_minutes"))
            flash(_("Your reminder default is saved."), "success")
        except ValidationFailed as exc:
            db.session.rollback()
            flash(" ".join(m for msgs in exc.errors.values() for m in msgs), "error")
    return redirect(url_for("auth.profile") + "#tasks")


@bp.route("/feed/<token>.ics")
@public
def feed(token: str):
    user = services.user_for_ical_token(token)
    if user is None:
        abort(404)
    tasks = db.session.execute(
        sa.select(Task)
        .where(Task.assignee_id == user.id, Task.status.in_(ACTIVE_STATUSES))
        .order_by(Task.id)
        .limit(5000)
    ).scalars()
    base = request.host_url.rstrip("/")
    body = ical.feed(tasks, request.host.split(":")[0], base, utcnow())
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


# --- the client card -----------------------------------------------------------------------


def render_client_tasks_panel(client: Any, user: Any) -> PanelSource:
    query = services.scoped(
        sa.select(
            Task.id, Task.title, Task.status, Task.due_at, Task.assignee_id, Task.created_by_id
        ),
        user,
    ).where(Task.record_kind == "client", Task.record_id == client.id)
    order = (Task.status.in_(ACTIVE_STATUSES).desc(), Task.due_at.desc(), Task.id)

    def render(rows) -> str:
        tasks = rows["tasks"]
        return render_template(
            "tasks/panel_client.html",
            client=client,
            tasks=tasks,
            names=_names(tasks),
            tz=user.timezone,
            now=utcnow(),
            status_labels=STATUS_LABELS,
        )

    return PanelSource({"tasks": Read(query, order, limit=20)}, render)


@bp.app_template_filter("local")
def local_time(moment: datetime | None, tz_name: str | None = None) -> str:
    """A stored UTC time as "YYYY-MM-DD HH:MM" in ``tz_name`` (the viewer's by default)."""
    if moment is None:
        return "—"
    zone = tz_name or getattr(current_principal(), "timezone", "UTC")
    return f"{services.to_local(moment, zone):%Y-%m-%d %H:%M}"


UNIT_LABELS = {
    "minutes": _l("minutes"),
    "hours": _l("hours"),
    "working_days": _l("working days"),
}


@bp.route("/templates")
@requires("tasks.templates")
def templates():
    found = db.session.execute(sa.select(TaskTemplate).order_by(TaskTemplate.code)).scalars()
    return render_template(
        "tasks/templates.html", templates=found, units=UNIT_LABELS, priorities=PRIORITY_LABELS
    )


@bp.route("/templates/new", methods=["GET", "POST"])
@bp.route("/templates/<int:template_id>", methods=["GET", "POST"])
@requires("tasks.templates")
def template_edit(template_id: int | None = None):
    found = None
    if template_id is not None:
        found = db.session.get(TaskTemplate, template_id)
        if found is None:
            abort(404)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form
        values: dict[str, Any] = {
            "code": form.get("code", "").strip(),
            "title": form.get("title", ""),
            "description": form.get("description", ""),
            "due_unit": form.get("due_unit", "hours"),
            "priority": form.get("priority", "normal"),
        }
        amount = form.get("due_amount", "").strip() or "0"
        values["due_amount"] = (
            int(amount) if amount.isascii() and amount.isdigit() and len(amount) < 7 else -1
        )
        if found is not None and parse_id(form.get("version")) != found.version:
            errors = {"_form": [_("Someone changed this template meanwhile; open it again.")]}
        else:
            try:
                services.save_template(found, values)
            except ValidationFailed as exc:
                db.session.rollback()
                errors = exc.errors
        if not errors:
            flash(_("The template is saved."), "success")
            return redirect(url_for(".templates"))
        values["version"] = found.version if found is not None else None
        status = 422
    else:
        status = 200
        values = (
            {k: getattr(found, k) for k in (*services.TEMPLATE_FIELDS, "version")}
            if found is not None
            else {"due_amount": 15, "due_unit": "minutes", "priority": "normal"}
        )
    page = render_template(
        "tasks/template_form.html",
        template=found,
        values=values,
        errors=errors,
        units=UNIT_LABELS,
        priorities=PRIORITY_LABELS,
    )
    return page, status


@bp.route("/templates/<int:template_id>/delete", methods=["POST"])
@requires("tasks.templates")
def template_delete(template_id: int):
    found = db.session.get(TaskTemplate, template_id)
    if found is None:
        abort(404)
    services.delete_template(found)
    flash(_("The template is deleted."), "success")
    return redirect(url_for(".templates"))
