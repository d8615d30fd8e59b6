"""Admin pages of stage rules: /sales/admin/stages/<id>/rules (list, add, edit, remove)."""

from __future__ import annotations

import json
import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.db import db
from core.security import requires
from core.users.services import ValidationFailed
from plugins.sales.automation import actions, services
from plugins.sales.automation.models import StageRule

bp = Blueprint(
    "sales_automation", __name__, url_prefix="/sales/admin", template_folder="../templates"
)


def _posted() -> tuple[dict, dict]:
    form = request.form
    errors: dict[str, list[str]] = {}
    try:
        params = json.loads(form.get("params") or "{}")
    except ValueError:
        params = None
        errors["params"] = [_("Give the parameters as a JSON object.")]
    data = {
        "action": form.get("action", ""),
        "trigger": form.get("trigger", "enter"),
        "params": params,
        "active": "active" in form,
    }
    if re.fullmatch(r"[0-9]{1,6}", (form.get("position") or "").strip()):
        data["position"] = int(form["position"])
    if re.fullmatch(r"[0-9]{1,18}", (form.get("version") or "").strip()):
        data["version"] = int(form["version"])
    return data, errors


def _page(stage, status: int = 200, data: dict | None = None):
    rules = services.stage_rules(stage.id)
    return render_template(
        "sales/admin_stage_rules.html",
        stage=stage,
        rules=rules,
        describe=services.describe,
        actions=actions.all_actions(),
        data=data or {},
        json=json,
    ), status


@bp.route("/stages/<int:stage_id>/rules", methods=["GET", "POST"])
@requires("sales.admin")
def rules(stage_id: int):
    stage = services.live_stage(stage_id) or abort(404)
    if request.method == "GET":
        return _page(stage)
    data, errors = _posted()
    rule = None
    if request.form.get("rule_id"):
        raw = request.form["rule_id"].strip()
        rule = db.session.get(StageRule, int(raw)) if re.fullmatch(r"[0-9]{1,18}", raw) else None
        if rule is None or rule.stage_id != stage.id:
            abort(404)
        if request.form.get("remove"):
            services.delete_rule(rule)
            flash(_("The rule is removed."), "success")
            return redirect(url_for(".rules", stage_id=stage.id))
    if not errors:
        try:
            services.save_rule(stage, data, rule)
        except ValidationFailed as exc:
            errors = exc.errors
    if errors:
        db.session.rollback()
        for field, messages in errors.items():
            flash(f"{field}: {' '.join(messages)}", "error")
        return _page(stage, 422, {**data, "params_text": request.form.get("params", "")})
    flash(_("The rule is saved."), "success")
    return redirect(url_for(".rules", stage_id=stage.id))
