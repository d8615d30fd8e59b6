"""The public lead endpoint ``POST /forms/<form_key>`` and the admin pages of lead forms."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from core.db import db
from core.security import csrf_exempt, public, requires
from core.users.models import User
from core.users.services import ValidationFailed
from plugins.sales.deals.pipelines import pipelines
from plugins.sales.leads import services
from plugins.sales.leads.models import LeadForm

log = logging.getLogger(__name__)

public_bp = Blueprint("sales_lead_capture", __name__, url_prefix="/forms")
admin_bp = Blueprint(
    "sales_leads", __name__, url_prefix="/sales/admin/lead-forms", template_folder="../templates"
)


# --- the public endpoint -------------------------------------------------------------------


def _cors(response, form: LeadForm | None):
    origin = (request.headers.get("Origin") or "").rstrip("/")
    if form is not None and origin and origin in form.origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "3600"
        response.headers["Vary"] = "Origin"
    return response


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _error(form: LeadForm, status: int, message: str, errors: dict | None = None, **headers):
    response = jsonify({"message": message, "errors": errors or {}})
    response.status_code = status
    response.headers.update(headers)
    return _cors(response, form)


def _success(form: LeadForm, deal_id: int | None):
    message = form.success_message or _("Thank you! We will contact you shortly.")
    if form.redirect_url and not _wants_json():
        return _cors(redirect(form.redirect_url, code=303), form)
    response = jsonify({"message": message, "ok": True})
    response.status_code = 201
    return _cors(response, form)


@public_bp.route("/<form_key>", methods=["POST", "OPTIONS"])
@public
@csrf_exempt
def submit(form_key: str):
    form = services.by_key(form_key)
    if form is None or not form.active:
        abort(404)
    if request.method == "OPTIONS":
        return _cors(make_response("", 204), form)
    origin = (request.headers.get("Origin") or "").rstrip("/")
    if origin and form.origins and origin not in form.origins:
        # A browser would not let the page read the answer; refuse it outright.
        return _error(form, 403, _("This site may not post to this form."))
    data = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if not isinstance(data, dict):
        return _error(form, 400, _("Send the fields as a JSON object or as a form."))
    ip = request.remote_addr or ""
    digest = services.ip_hash(ip)
    try:
        services.check_rate(form, digest)
    except services.RateLimited as exc:
        services.record(form, digest, "limited")
        return _error(
            form,
            429,
            _("Too many requests; try again in a minute."),
            **{"Retry-After": str(exc.retry_after)},
        )
    honeypot = data.get(services.HONEYPOT)
    if honeypot not in (None, "") and str(honeypot).strip():
        log.info("sales: spam on lead form %s (honeypot filled)", form.id)
        services.record(form, digest, "spam")
        return _success(form, None)
    try:
        deal = services.submit(form, data)
    except ValidationFailed as exc:
        db.session.rollback()
        services.record(form, digest, "invalid", error=str(exc.errors)[:2000])
        return _error(form, 422, _("Please correct the fields."), exc.errors)
    services.record(form, digest, "created", deal_id=deal.id)
    return _success(form, deal.id)


# --- admin ---------------------------------------------------------------------------------


def _form_or_404(form_id: int) -> LeadForm:
    return db.session.get(LeadForm, form_id) or abort(404)


def _posted() -> dict:
    data = {
        k: request.form.get(k, "")
        for k in (
            "name",
            "pipeline_id",
            "owner_id",
            "owner_role",
            "source",
            "allowed_origins",
            "success_message",
            "redirect_url",
        )
    }
    data["active"] = "active" in request.form
    return data


def _choices() -> dict:
    users = db.session.query(User).filter(User.active.is_(True)).order_by(User.name).all()
    return {"pipelines": pipelines(active_only=True), "users": users}


@admin_bp.route("", methods=["GET", "POST"])
@requires("sales.admin")
def index():
    if request.method == "POST":
        data = _posted()
        data["active"] = True
        try:
            form = services.save_form(data)
        except ValidationFailed as exc:
            db.session.rollback()
            for messages in exc.errors.values():
                flash(" ".join(messages), "error")
            return render_template(
                "sales/admin_lead_forms.html", forms=services.forms(), data=data, **_choices()
            ), 422
        flash(_("The form is created."), "success")
        return redirect(url_for(".edit", form_id=form.id))
    return render_template(
        "sales/admin_lead_forms.html", forms=services.forms(), data={}, **_choices()
    )


@admin_bp.route("/<int:form_id>", methods=["GET", "POST"])
@requires("sales.admin")
def edit(form_id: int):
    form = _form_or_404(form_id)
    status = 200
    if request.method == "POST":
        try:
            services.save_form(_posted(), form)
            flash(_("The form is saved."), "success")
            return redirect(url_for(".edit", form_id=form.id))
        except ValidationFailed as exc:
            db.session.rollback()
            status = 422
            for messages in exc.errors.values():
                flash(" ".join(messages), "error")
    action = url_for("sales_lead_capture.submit", form_key=form.key, _external=True)
    return render_template(
        "sales/admin_lead_form.html", form=form, action=action, **_choices()
    ), status
