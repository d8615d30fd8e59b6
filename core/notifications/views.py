"""Pages: the user's notifications (mark read, mark all read) and their channel choices."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core import notifications
from core.ids import parse_id
from core.security import current_principal, login_required_only

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.route("")
@login_required_only
def index():
    user = current_principal()
    unread_only = request.args.get("unread") == "1"
    before = parse_id(request.args.get("before", "")) if request.args.get("before") else None
    rows, cursor = notifications.page(user.id, unread_only=unread_only, before=before)
    return render_template(
        "notifications/index.html", rows=rows, cursor=cursor, unread_only=unread_only
    )


@bp.route("/<int:notification_id>/read", methods=["POST"])
@login_required_only
def read(notification_id: int):
    user = current_principal()
    from core.db import db
    from core.notifications.models import Notification

    row = db.session.get(Notification, notification_id)
    if row is None or row.user_id != user.id:
        abort(404)
    notifications.mark_read(user.id, notification_id)
    target = request.form.get("next")
    if target == "open" and row.url:
        return redirect(row.url)
    return redirect(url_for(".index"))


@bp.route("/read-all", methods=["POST"])
@login_required_only
def read_all():
    notifications.mark_read(current_principal().id)
    flash(_("All notifications are marked read."), "success")
    return redirect(url_for(".index"))


@bp.route("/preferences", methods=["POST"])
@login_required_only
def preferences():
    chosen = []
    for value in request.form.getlist("pref"):
        code, _sep, channel = value.partition(":")
        chosen.append((code, channel))
    notifications.save_preferences(current_principal().id, chosen)
    flash(_("Your notification choices are saved."), "success")
    return redirect(url_for("auth.profile") + "#notifications")
