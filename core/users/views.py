"""Pages: sign in and out, your profile and tokens, and the users, teams and roles admin."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import login_user, logout_user
from marshmallow import Schema, ValidationError

from core.api import _flatten
from core.config import SUPPORTED_LOCALES
from core.db import db
from core.security import current_actor, login_required_only, public, requires
from core.users import services
from core.users.catalog import known_codes, permissions_by_plugin, scope_areas
from core.users.models import SCOPES, ApiToken, Role, Team, User
from core.users.schemas import RoleSchema, TeamSchema, UserSchema, UserUpdateSchema

auth_bp = Blueprint("auth", __name__)
admin_bp = Blueprint("admin", __name__, url_prefix="/admin")


def _load(schema: Schema, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    try:
        return schema.load(data), {}
    except ValidationError as exc:
        return {}, _flatten(exc.messages)


def _form(*fields: str, lists: tuple[str, ...] = (), bools: tuple[str, ...] = ()) -> dict[str, Any]:
    """The submitted form as schema input: blank optional fields left out, ids as numbers."""
    data: dict[str, Any] = {}
    for field in fields:
        value = request.form.get(field, "").strip()
        if value != "":
            data[field] = value
    for field in lists:
        data[field] = [v for v in request.form.getlist(field) if v]
    for field in bools:
        data[field] = field in request.form
    return data


def _safe_next(target: str | None) -> str:
    if (
        target
        and not urlsplit(target).netloc
        and target.startswith("/")
        and not target.startswith("//")
    ):
        return target
    return url_for("web.dashboard")


# --- signing in ---------------------------------------------------------------------------


@auth_bp.route("/login", methods=["GET", "POST"])
@public
def login():
    error = None
    status = 200
    if request.method == "POST":
        email = request.form.get("email", "")
        try:
            user = services.authenticate(
                email, request.form.get("password", ""), request.remote_addr or "?"
            )
        except services.RateLimited as exc:
            error, status = str(exc), 429
            user = None
        else:
            if user is None:
                # One answer for an unknown e-mail and a wrong password.
                error, status = _("Wrong e-mail or password."), 401
        if user is not None:
            session.clear()
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", error=error), status


@auth_bp.route("/logout", methods=["POST"])
@login_required_only
def logout():
    services.end_sessions(current_actor())
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@auth_bp.route("/profile", methods=["GET", "POST"])
@login_required_only
def profile():
    user = current_actor()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data = _form("name", "locale", "timezone")
        data["version"] = user.version
        loaded, errors = _load(
            UserUpdateSchema(only=("version", "name", "locale", "timezone")), data
        )
        if not errors:
            loaded.pop("version")
            try:
                services.update_user(user, loaded)
                flash(_("Your profile is saved."), "success")
                return redirect(url_for(".profile"))
            except services.ValidationFailed as exc:
                db.session.rollback()
                errors = exc.errors
    return _profile_page(user, errors)


def _profile_page(user, errors: dict[str, list[str]], new_token: str | None = None):
    tokens = (
        db.session.execute(
            sa.select(ApiToken).filter_by(user_id=user.id).order_by(ApiToken.id.desc())
        )
        .scalars()
        .all()
    )
    from core import notifications
    from core.tasks.services import user_settings

    task_settings = user_settings(user.id)
    db.session.commit()
    return render_template(
        "auth/profile.html",
        user=user,
        errors=errors,
        tokens=tokens,
        locales=SUPPORTED_LOCALES,
        new_token=new_token,
        events=sorted(notifications.events().values(), key=lambda e: e.code),
        channels=sorted(notifications.channels().values(), key=lambda c: c.name != "in_app"),
        preferences=notifications.preference_table(user.id),
        task_settings=task_settings,
    ), (422 if errors else 200)


@auth_bp.route("/profile/password", methods=["POST"])
@login_required_only
def change_password():
    user = current_actor()
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    try:
        confirmed = services.authenticate(user.email, current, request.remote_addr or "?")
    except services.RateLimited as exc:
        flash(str(exc), "error")
        return redirect(url_for(".profile"))
    if confirmed is None:
        flash(_("Your current password is not right."), "error")
        return redirect(url_for(".profile"))
    try:
        services.set_password(user, new)
    except services.ValidationFailed as exc:
        flash(" ".join(exc.errors["password"]), "error")
        return redirect(url_for(".profile"))
    # The new session token ends every other session; keep this one signed in.
    login_user(user)
    flash(_("Your password is changed; other sessions are signed out."), "success")
    return redirect(url_for(".profile"))


@auth_bp.route("/profile/tokens", methods=["POST"])
@login_required_only
def create_token():
    name = request.form.get("name", "").strip()[:100] or "API token"
    _token, raw = services.create_token(current_actor(), name)
    # Shown once, in this very response: never in a cookie, never stored in clear.
    return _profile_page(current_actor(), {}, new_token=raw)


@auth_bp.route("/profile/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required_only
def revoke_token(token_id: int):
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != current_actor().id:
        abort(404)
    services.revoke_token(token)
    flash(_("The token is revoked."), "success")
    return redirect(url_for(".profile"))


# --- users ----------------------------------------------------------------------------------


def _choices() -> dict[str, Any]:
    return {
        "teams": db.session.execute(sa.select(Team).order_by(Team.name)).scalars().all(),
        "roles": db.session.execute(sa.select(Role).order_by(Role.name)).scalars().all(),
        "locales": SUPPORTED_LOCALES,
    }


@admin_bp.route("/users")
@requires("core.users.view")
def users():
    rows = (
        db.session.execute(
            sa.select(User)
            .options(sa.orm.selectinload(User.roles), sa.orm.selectinload(User.team))
            .order_by(User.name)
        )
        .scalars()
        .all()
    )
    return render_template("admin/users.html", users=rows)


@admin_bp.route("/users/new", methods=["GET", "POST"])
@requires("core.users.manage")
def user_new():
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data = _form(
            "email",
            "name",
            "password",
            "team_id",
            "locale",
            "timezone",
            lists=("role_ids",),
            bools=("active",),
        )
        loaded, errors = _load(UserSchema(), data)
        if not errors:
            role_ids = loaded.pop("role_ids")
            team_id = loaded.pop("team_id")
            roles = db.session.execute(sa.select(Role).where(Role.id.in_(role_ids))).scalars().all()
            services.guard_roles(current_actor(), list(roles))
            try:
                user = services.create_user(
                    roles=list(roles),
                    team=db.session.get(Team, team_id) if team_id else None,
                    **loaded,
                )
                flash(_("User %(name)s is created.", name=user.name), "success")
                return redirect(url_for(".users"))
            except services.ValidationFailed as exc:
                errors = exc.errors
    return render_template(
        "admin/user_form.html", user=None, errors=errors, form=request.form, **_choices()
    ), (422 if errors else 200)


@admin_bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@requires("core.users.manage")
def user_edit(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data = _form(
            "email",
            "name",
            "team_id",
            "locale",
            "timezone",
            "version",
            "password",
            lists=("role_ids",),
            bools=("active",),
        )
        if "team_id" not in data:
            data["team_id"] = None
        services.guard_user_edit(current_actor(), user)
        loaded, errors = _load(UserUpdateSchema(), data)
        if not errors and "role_ids" in loaded:
            granted = (
                db.session.execute(sa.select(Role).where(Role.id.in_(loaded["role_ids"])))
                .scalars()
                .all()
            )
            services.guard_roles(current_actor(), list(granted))
        if not errors and loaded["version"] != user.version:
            errors = {
                "version": [_("Someone else changed this user meanwhile. Reload and try again.")]
            }
        if not errors:
            loaded.pop("version")
            password = loaded.pop("password", None)
            if user.id == current_actor().id and not loaded.get("active", True):
                errors = {"active": [_("You cannot deactivate yourself.")]}
            else:
                try:
                    services.update_user(user, loaded)
                    if password:
                        services.set_password(user, password)
                    flash(_("User %(name)s is saved.", name=user.name), "success")
                    return redirect(url_for(".users"))
                except services.ValidationFailed as exc:
                    db.session.rollback()
                    errors = exc.errors
    return render_template(
        "admin/user_form.html",
        user=user,
        errors=errors,
        form=request.form if errors else None,
        **_choices(),
    ), (422 if errors else 200)


# --- teams ----------------------------------------------------------------------------------


@admin_bp.route("/teams", methods=["GET", "POST"])
@requires("core.users.view")
def teams():
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if not current_actor().has_permission("core.users.manage"):
            abort(403)
        data = _form("name", "head_id")
        loaded, errors = _load(TeamSchema(), data)
        if not errors:
            try:
                services.save_team(Team(), loaded)
                flash(_("Team is created."), "success")
                return redirect(url_for(".teams"))
            except services.ValidationFailed as exc:
                errors = exc.errors
    rows = (
        db.session.execute(
            sa.select(Team)
            .options(sa.orm.selectinload(Team.members), sa.orm.selectinload(Team.head))
            .order_by(Team.name)
        )
        .scalars()
        .all()
    )
    people = (
        db.session.execute(sa.select(User).where(User.active).order_by(User.name)).scalars().all()
    )
    return render_template("admin/teams.html", teams=rows, users=people, errors=errors), (
        422 if errors else 200
    )


@admin_bp.route("/teams/<int:team_id>", methods=["POST"])
@requires("core.users.manage")
def team_edit(team_id: int):
    team = db.session.get(Team, team_id) or abort(404)
    data = _form("name", "head_id")
    data.setdefault("head_id", None)
    loaded, errors = _load(TeamSchema(), data)
    if not errors and request.form.get("version") != str(team.version):
        errors = {"version": [_("Someone else changed this team meanwhile. Reload and try again.")]}
    if not errors:
        try:
            services.save_team(team, loaded)
            flash(_("Team is saved."), "success")
        except services.ValidationFailed as exc:
            errors = exc.errors
    if errors:
        flash("; ".join(" ".join(v) for v in errors.values()), "error")
    return redirect(url_for(".teams"))


# --- roles ----------------------------------------------------------------------------------


@admin_bp.route("/roles")
@requires("core.roles.manage")
def roles():
    rows = db.session.execute(sa.select(Role).order_by(Role.name)).scalars().all()
    return render_template("admin/roles.html", roles=rows)


@admin_bp.route("/roles/new", methods=["GET", "POST"])
@admin_bp.route("/roles/<int:role_id>", methods=["GET", "POST"])
@requires("core.roles.manage")
def role_edit(role_id: int | None = None):
    role = (db.session.get(Role, role_id) or abort(404)) if role_id else None
    areas = scope_areas()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data = _form("name", "description", lists=("permissions",), bools=("is_admin",))
        data["scopes"] = {
            area.code: request.form.get(f"scope_{area.code}", "own") for _, area in areas
        }
        if role is not None and request.form.get("version", "") != str(role.version):
            errors = {
                "version": [_("Someone else changed this role meanwhile. Reload and try again.")]
            }
        else:
            loaded, errors = _load(RoleSchema(), data)
        if not errors:
            services.guard_role_edit(current_actor(), role, loaded)
            try:
                services.save_role(
                    role or Role(), loaded, known_codes(), {a.code for _, a in areas}
                )
                flash(_("Role is saved."), "success")
                return redirect(url_for(".roles"))
            except services.ValidationFailed as exc:
                db.session.rollback()
                errors = exc.errors
    return render_template(
        "admin/role_form.html",
        role=role,
        errors=errors,
        form=request.form if errors else None,
        groups=permissions_by_plugin(),
        areas=areas,
        scopes=SCOPES,
    ), (422 if errors else 200)


@admin_bp.route("/roles/<int:role_id>/delete", methods=["POST"])
@requires("core.roles.manage")
def role_delete(role_id: int):
    role = db.session.get(Role, role_id) or abort(404)
    services.guard_role_edit(current_actor(), role, {})
    try:
        services.delete_role(role)
        flash(_("Role is deleted."), "success")
    except services.ValidationFailed as exc:
        flash(" ".join(m for msgs in exc.errors.values() for m in msgs), "error")
    return redirect(url_for(".roles"))
