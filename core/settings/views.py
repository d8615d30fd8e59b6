"""Admin page: installation settings declared by core and the active plugins."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.security import requires
from core.settings import services

bp = Blueprint("settings", __name__, url_prefix="/admin/settings")


@bp.route("/", methods=["GET", "POST"])
@requires("core.settings.manage")
def index():
    definitions = services.definitions()
    errors: dict[str, list[str]] = {}
    values = {d.key: services.get(d.key) for _, d in definitions}
    if request.method == "POST":
        submitted = {}
        for _plugin, d in definitions:
            if d.kind == "bool":
                submitted[d.key] = d.key in request.form
            elif d.key in request.form:
                submitted[d.key] = request.form[d.key]
            # A setting the form did not show (declared by a plugin enabled meanwhile, or
            # added since the page was loaded) keeps its value rather than failing the save.
        errors = services.save(submitted)
        if not errors:
            flash(_("Settings saved."), "success")
            return redirect(url_for(".index"))
        values.update(submitted)
    grouped: dict[str, list] = {}
    for plugin, d in definitions:
        grouped.setdefault(plugin, []).append(d)
    return render_template("settings/index.html", grouped=grouped, values=values, errors=errors), (
        422 if errors else 200
    )
