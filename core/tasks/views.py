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
from core.security import current_actor, current_principal, login_required_only, public, requires
from core.tasks import ical, services
from core.tasks.models import ACTIVE, ACTIVE_STATUSES, PRIORITIES, STATUSES, Task, TaskTemplate
from core.users.models import User
from core.users.services import ValidationFailed

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


def _links(tasks: list[Task], user: Any) -> dict[tuple[str, int], records.Linked]:
    return records.resolve(
        [(t.record_kind, t.record_id) for t in tasks if t.record_kind and t.record_id], user
    )


def _names(tasks: list[Task]) -> dict[int, str]:
    ids = {t.assignee_id for t in tasks} | {t.created_by_id for t in tasks if t.created_by_id}
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(User.id, User.name).where(User.id.in_(ids))).all())


def group(tasks: list[Task], tz_name: str, now: datetime) -> dict[str, list[Task]]:
    """Overdue, today, this week (to Sunday) and later, on the calendar of ``tz_name``."""
    today = services.to_local(now, tz_name).date()
    week_end = today + timedelta(days=6 - today.weekday())
    groups: dict[str, list[Task]] = {"overdue": [], "today": [], "week": [], "later": []}
    for task in tasks:
        if task.due_at is None:
            groups["later"].append(task)
            continue
        local = services.to_local(task.due_at, tz_name).date()
        if task.due_at < now:
            groups["overdue"].append(task)
        elif local == today:
            groups["today"].append(task)
        elif local <= week_end:
            groups["week"].append(task)
        else:
            groups["later"].append(task)
    return groups


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


def _active(query: sa.Select) -> list[Task]:
    return list(db.session.execute(active(query)).scalars())


@bp.route("/")
@requires("tasks.view")
def mine():
    user = current_principal()
    tasks = _active(sa.select(Task).where(Task.assignee_id == user.id).limit(1000))
    return render_template(
        "tasks/list.html",
        heading=_("My tasks"),
        groups=group(tasks, user.timezone, utcnow()),
        titles=GROUP_TITLES,
        links=_links(tasks, user),
        names=_names(tasks),
        show_assignee=False,
    )


@bp.route("/team")
@requires("tasks.view")
def team():
    user = current_principal()
    members = services.team_member_ids(user)
    tasks = (
        _active(sa.select(Task).where(Task.assignee_id.in_(members)).limit(1000)) if members else []
    )
    return render_template(
        "tasks/list.html",
        heading=_("Team tasks"),
        groups=group(tasks, user.timezone, utcnow()),
        titles=GROUP_TITLES,
        links=_links(tasks, user),
        names=_names(tasks),
        show_assignee=True,
        not_head=not members,
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


def render_client_tasks_panel(client: Any, user: Any) -> str:
    tasks = list(
        db.session.execute(
            services.scoped(sa.select(Task), user)
            .where(Task.record_kind == "client", Task.record_id == client.id)
            .order_by(Task.status.in_(ACTIVE_STATUSES).desc(), Task.due_at.desc(), Task.id)
            .limit(20)
        ).scalars()
    )
    return render_template(
        "tasks/panel_client.html",
        client=client,
        tasks=tasks,
        names=_names(tasks),
        tz=user.timezone,
        now=utcnow(),
        status_labels=STATUS_LABELS,
    )


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
