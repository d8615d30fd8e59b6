"""Admin pages: pipelines and their stages (add, rename, reorder, remove), lost reasons."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.db import db
from core.ids import parse_id
from core.security import current_actor, requires
from core.users.services import ValidationFailed
from plugins.sales.deals import pipelines
from plugins.sales.deals.views import KIND_LABELS
from plugins.sales.models import LostReason, Pipeline, Stage

bp = Blueprint(
    "sales_pipelines", __name__, url_prefix="/sales/admin", template_folder="../templates"
)


def _stage_form() -> dict:
    form = request.form
    return {
        k: form.get(k, "") for k in ("name", "probability", "target_hours", "kind") if k in form
    }


def _flash_errors(exc: ValidationFailed) -> None:
    db.session.rollback()
    for messages in exc.errors.values():
        flash(" ".join(messages), "error")


@bp.route("/pipelines", methods=["GET", "POST"])
@requires("sales.admin")
def index():
    if request.method == "POST":
        try:
            pipeline = pipelines.create_pipeline({"name": request.form.get("name", "")})
        except ValidationFailed as exc:
            _flash_errors(exc)
            return redirect(url_for(".index"))
        flash(_("The pipeline is created."), "success")
        return redirect(url_for(".pipeline", pipeline_id=pipeline.id))
    return render_template("sales/admin_pipelines.html", pipelines=pipelines.pipelines())


def _pipeline_or_404(pipeline_id: int) -> Pipeline:
    return db.session.get(Pipeline, pipeline_id) or abort(404)


def _live_stage_or_404(stage_id: int) -> Stage:
    stage = db.session.get(Stage, stage_id)
    if stage is None or stage.removed_at is not None:
        abort(404)
    return stage


@bp.route("/pipelines/<int:pipeline_id>", methods=["GET", "POST"])
@requires("sales.admin")
def pipeline(pipeline_id: int):
    found = _pipeline_or_404(pipeline_id)
    if request.method == "POST":
        try:
            pipelines.update_pipeline(
                found,
                {"name": request.form.get("name", ""), "active": "active" in request.form},
            )
            flash(_("The pipeline is saved."), "success")
        except ValidationFailed as exc:
            _flash_errors(exc)
        return redirect(url_for(".pipeline", pipeline_id=found.id))
    stages = pipelines.live_stages(found.id)
    return render_template(
        "sales/admin_pipeline.html",
        pipeline=found,
        stages=stages,
        counts={s.id: pipelines.deal_count(s.id) for s in stages},
        kind_labels=KIND_LABELS,
    )


@bp.route("/pipelines/<int:pipeline_id>/stages", methods=["POST"])
@requires("sales.admin")
def add_stage(pipeline_id: int):
    found = _pipeline_or_404(pipeline_id)
    try:
        pipelines.add_stage(found, _stage_form())
        flash(_("The stage is added."), "success")
    except ValidationFailed as exc:
        _flash_errors(exc)
    return redirect(url_for(".pipeline", pipeline_id=found.id))


@bp.route("/stages/<int:stage_id>", methods=["POST"])
@requires("sales.admin")
def stage(stage_id: int):
    found = _live_stage_or_404(stage_id)
    action = request.form.get("action", "save")
    try:
        if action == "up":
            pipelines.move_stage(found, -1)
        elif action == "down":
            pipelines.move_stage(found, 1)
        else:
            pipelines.update_stage(found, _stage_form())
            flash(_("The stage is saved."), "success")
    except ValidationFailed as exc:
        _flash_errors(exc)
    return redirect(url_for(".pipeline", pipeline_id=found.pipeline_id))


@bp.route("/stages/<int:stage_id>/remove", methods=["GET", "POST"])
@requires("sales.admin")
def remove_stage(stage_id: int):
    """Ask where the stage's deals go, then remove it (its name stays in the history)."""
    found = _live_stage_or_404(stage_id)
    errors: dict = {}
    if request.method == "POST":
        try:
            moved = pipelines.remove_stage(
                found,
                current_actor(),
                move_to_id=parse_id(request.form.get("move_to")),
                lost_reason_id=request.form.get("lost_reason_id"),
            )
        except ValidationFailed as exc:
            db.session.rollback()
            errors = exc.errors
        else:
            flash(_("The stage is removed; %(n)s deals moved.", n=moved), "success")
            return redirect(url_for(".pipeline", pipeline_id=found.pipeline_id))
    others = [s for s in pipelines.live_stages(found.pipeline_id) if s.id != found.id]
    return render_template(
        "sales/admin_remove_stage.html",
        stage=found,
        others=others,
        count=pipelines.deal_count(found.id),
        reasons=pipelines.lost_reasons(),
        errors=errors,
    ), (422 if errors else 200)


@bp.route("/lost-reasons", methods=["GET", "POST"])
@requires("sales.admin")
def lost_reasons():
    if request.method == "POST":
        reason = None
        reason_id = parse_id(request.form.get("reason_id"))
        if reason_id:
            reason = db.session.get(LostReason, reason_id) or abort(404)
        data = {"name": request.form.get("name", "")}
        if reason is not None:
            data["active"] = "active" in request.form
        try:
            pipelines.save_lost_reason(reason, data)
            flash(_("The lost reason is saved."), "success")
        except ValidationFailed as exc:
            _flash_errors(exc)
        return redirect(url_for(".lost_reasons"))
    return render_template(
        "sales/admin_lost_reasons.html", reasons=pipelines.lost_reasons(active_only=False)
    )
