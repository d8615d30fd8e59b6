"""The dashboard: widgets from core and every active plugin, in weight order."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from markupsafe import Markup

from core.security import current_actor, login_required_only, public

bp = Blueprint("web", __name__, static_folder="static", static_url_path="/static/crm")


@bp.route("/")
@login_required_only
def dashboard():
    user = current_actor()
    registry = current_app.extensions["crm_plugins"]
    widgets = []
    items = [w for _, w in registry.collect("dashboard_widgets", app=current_app, user=user)]
    for widget in sorted(items, key=lambda w: (w.weight, w.name)):
        if widget.permission and not user.has_permission(widget.permission):
            continue
        widgets.append(
            {
                "name": widget.name,
                "title": widget.title,
                "width": widget.width,
                "html": Markup(widget.render(user)),
            }
        )
    return render_template("web/dashboard.html", widgets=widgets)


@bp.route("/health")
@public
def health():
    return {"status": "ok"}
