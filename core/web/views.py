"""The dashboard: widgets from core and every active plugin, in weight order."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, redirect, render_template, request
from markupsafe import Markup

from core.security import current_actor, login_required_only, public

log = logging.getLogger(__name__)

bp = Blueprint("web", __name__, static_folder="static", static_url_path="/static/crm")


@bp.route("/")
@login_required_only
def dashboard():
    user = current_actor()
    registry = current_app.extensions["crm_plugins"]
    widgets = []
    contributed = registry.collect("dashboard_widgets", app=current_app, user=user)
    for plugin, widget in sorted(contributed, key=lambda pw: (pw[1].weight, pw[1].name)):
        if widget.permission and not user.has_permission(widget.permission):
            continue
        try:
            html = widget.render(user)
        except Exception:
            if plugin == "core":
                raise
            # One broken widget must not take the dashboard down with it.
            log.exception("plugin %s: widget %s failed", plugin, widget.name)
            continue
        widgets.append(
            {
                "name": widget.name,
                "title": widget.title,
                "width": widget.width,
                "html": Markup(html),
            }
        )
    return render_template("web/dashboard.html", widgets=widgets)


@bp.route("/search")
@login_required_only
def search():
    from core.clients.global_search import run

    query = request.args.get("q", "").strip()[:200]
    results = run(current_app, current_actor(), query, 20) if query else []
    if len(results) == 1 and request.args.get("go"):
        return redirect(results[0].url)
    groups: dict[str, list] = {}
    for result in results:
        groups.setdefault(result.group or result.kind.capitalize(), []).append(result)
    return render_template("web/search.html", query=query, groups=groups)


@bp.route("/health")
@public
def health():
    return {"status": "ok"}
