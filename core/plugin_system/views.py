"""Admin page: every discovered plugin, its state, and buttons to toggle it."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from core.plugin_system import services
from core.security import requires

bp = Blueprint("plugins", __name__, url_prefix="/admin/plugins")


@bp.route("/")
@requires("core.plugins.manage")
def index():
    return render_template("plugins/index.html", plugins=services.overview())


@bp.route("/<name>/enable", methods=["POST"])
@requires("core.plugins.manage")
def enable(name: str):
    try:
        view = services.enable(name)
        flash(_("Plugin %(title)s is enabled.", title=view.title), "success")
    except services.PluginError as exc:
        if exc.status == 404:
            abort(404, description=exc.message)
        flash(exc.message, "error")
    return redirect(url_for(".index"))


@bp.route("/<name>/disable", methods=["POST"])
@requires("core.plugins.manage")
def disable(name: str):
    try:
        view = services.disable(name)
        flash(_("Plugin %(title)s is disabled; its data is kept.", title=view.title), "success")
    except services.PluginError as exc:
        if exc.status == 404:
            abort(404, description=exc.message)
        flash(exc.message, "error")
    return redirect(url_for(".index"))
