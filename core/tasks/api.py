"""JSON API for tasks, within the caller's "tasks" scope."""

from __future__ import annotations

import sqlalchemy as sa
from flask.views import MethodView
from flask_smorest import abort

from core.api import ApiBlueprint, refuse_invalid, refuse_stale
from core.db import db
from core.security import current_actor, current_principal, requires
from core.tasks import services
from core.tasks.models import Task, TaskTemplate
from core.tasks.schemas import (
    TaskCreateSchema,
    TaskListQuerySchema,
    TaskOutSchema,
    TaskPageSchema,
    TaskPatchSchema,
    TaskTemplateCreateSchema,
    TaskTemplateOutSchema,
    TaskTemplatePatchSchema,
)
from core.users.services import ValidationFailed

blp = ApiBlueprint("api_tasks", __name__, url_prefix="/api/v1/tasks", description="Tasks")
templates_blp = ApiBlueprint(
    "api_task_templates",
    __name__,
    url_prefix="/api/v1/task-templates",
    description="Task templates that plugins and stage rules create tasks from",
)


def _visible(task_id: int) -> Task:
    task = services.visible(task_id, current_principal())
    if task is None:
        abort(404, message=f"Task {task_id} does not exist or is not yours to see.")
    return task


def _when(args: dict, name: str):
    if name not in args:
        return None
    try:
        return services.parse_due(args[name], "UTC")
    except (ValueError, TypeError):
        abort(
            422,
            message="Invalid input.",
            errors={"query": {name: ["Enter an ISO 8601 date or date-time."]}},
        )


@blp.route("")
class Tasks(MethodView):
    @requires("tasks.view")
    @blp.arguments(TaskListQuerySchema, location="query")
    @blp.response(200, TaskPageSchema)
    def get(self, args):
        """Tasks the caller may see, oldest first, ``limit`` at a time; pass ``next_cursor``
        as ``cursor``. Filters: assignee, status, due range, linked record."""
        query = services.scoped(sa.select(Task), current_principal())
        if "assignee_id" in args:
            query = query.where(Task.assignee_id == args["assignee_id"])
        if "status" in args:
            query = query.where(Task.status == args["status"])
        due_from, due_to = _when(args, "due_from"), _when(args, "due_to")
        if due_from is not None:
            query = query.where(Task.due_at >= due_from)
        if due_to is not None:
            query = query.where(Task.due_at < due_to)
        if "record_kind" in args:
            query = query.where(Task.record_kind == args["record_kind"])
        if "record_id" in args:
            query = query.where(Task.record_id == args["record_id"])
        if "cursor" in args:
            query = query.where(Task.id > args["cursor"])
        limit = args["limit"]
        rows = db.session.execute(query.order_by(Task.id).limit(limit + 1)).scalars().all()
        cursor = rows[limit - 1].id if len(rows) > limit else None
        return {"items": rows[:limit], "next_cursor": cursor}

    @requires("tasks.edit")
    @blp.arguments(TaskCreateSchema)
    @blp.response(201, TaskOutSchema)
    def post(self, data):
        """Create a task (assigned to the caller unless ``assignee_id`` says otherwise)."""
        try:
            return services.create_task(data, current_actor())
        except ValidationFailed as exc:
            refuse_invalid(exc)


@blp.route("/<int:task_id>")
class TaskItem(MethodView):
    @requires("tasks.view")
    @blp.response(200, TaskOutSchema)
    def get(self, task_id):
        """One task (404 when it is outside the caller's scope)."""
        return _visible(task_id)

    @requires("tasks.edit")
    @blp.arguments(TaskPatchSchema)
    @blp.response(200, TaskOutSchema)
    def patch(self, data, task_id):
        """Change a task; send the ``version`` you read (409 if it changed since)."""
        task = _visible(task_id)
        refuse_stale(task, data.pop("version"), "task")
        try:
            return services.update_task(task, data, current_actor())
        except ValidationFailed as exc:
            refuse_invalid(exc)

    @requires("tasks.delete")
    @blp.response(204)
    def delete(self, task_id):
        """Delete a task."""
        services.delete_task(_visible(task_id))


@templates_blp.route("")
class TaskTemplates(MethodView):
    @requires("tasks.view")
    @templates_blp.response(200, TaskTemplateOutSchema(many=True))
    def get(self):
        """Every task template, by code."""
        return db.session.execute(sa.select(TaskTemplate).order_by(TaskTemplate.code)).scalars()

    @requires("tasks.templates")
    @templates_blp.arguments(TaskTemplateCreateSchema)
    @templates_blp.response(201, TaskTemplateOutSchema)
    def post(self, data):
        """Add a template ("Call the client within 15 minutes": 15 minutes after creation)."""
        try:
            return services.save_template(None, data)
        except ValidationFailed as exc:
            refuse_invalid(exc)


def _template(template_id: int) -> TaskTemplate:
    found = db.session.get(TaskTemplate, template_id)
    if found is None:
        abort(404, message=f"Task template {template_id} does not exist.")
    return found


@templates_blp.route("/<int:template_id>")
class TaskTemplateItem(MethodView):
    @requires("tasks.view")
    @templates_blp.response(200, TaskTemplateOutSchema)
    def get(self, template_id):
        """One template."""
        return _template(template_id)

    @requires("tasks.templates")
    @templates_blp.arguments(TaskTemplatePatchSchema)
    @templates_blp.response(200, TaskTemplateOutSchema)
    def patch(self, data, template_id):
        """Change a template; send the ``version`` you read (409 if it changed since)."""
        found = _template(template_id)
        refuse_stale(found, data.pop("version"), "task template")
        try:
            return services.save_template(found, data)
        except ValidationFailed as exc:
            refuse_invalid(exc)

    @requires("tasks.templates")
    @templates_blp.response(204)
    def delete(self, template_id):
        """Delete a template (tasks made from it stay)."""
        services.delete_template(_template(template_id))
