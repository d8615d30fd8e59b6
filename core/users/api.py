"""JSON API for tokens, users, teams, roles and the permission catalogue."""

from __future__ import annotations

import sqlalchemy as sa
from flask import request
from flask.views import MethodView
from flask_smorest import abort

from core.api import ApiBlueprint, refuse_stale
from core.db import db
from core.security import current_actor, login_required_only, public, requires
from core.users import services
from core.users.catalog import known_codes, permissions_by_plugin, scope_areas
from core.users.models import ApiToken, Role, Team, User
from core.users.schemas import (
    NewTokenSchema,
    PermissionSchema,
    RoleSchema,
    RoleUpdateSchema,
    TeamSchema,
    TeamUpdateSchema,
    TokenRequestSchema,
    TokenSchema,
    UserPageSchema,
    UserQuerySchema,
    UserSchema,
    UserUpdateSchema,
)

auth_blp = ApiBlueprint("api_auth", __name__, url_prefix="/api/v1/auth", description="API tokens")
users_blp = ApiBlueprint("api_users", __name__, url_prefix="/api/v1/users", description="Users")
teams_blp = ApiBlueprint("api_teams", __name__, url_prefix="/api/v1/teams", description="Teams")
roles_blp = ApiBlueprint("api_roles", __name__, url_prefix="/api/v1/roles", description="Roles")
perms_blp = ApiBlueprint(
    "api_permissions", __name__, url_prefix="/api/v1/permissions", description="Permission codes"
)
blueprints = (auth_blp, users_blp, teams_blp, roles_blp, perms_blp)


def _fail(exc: services.ValidationFailed):
    abort(exc.status, message="Invalid input.", errors={"json": exc.errors})


def _allowed(guard, *args) -> None:
    try:
        guard(*args)
    except services.NotAllowed as exc:
        abort(403, message=str(exc))


def _get_or_404(model, ident: int):
    obj = db.session.get(model, ident)
    if obj is None:
        abort(404, message=f"{model.__name__} {ident} does not exist.")
    return obj


# --- tokens -----------------------------------------------------------------------------


@auth_blp.route("/token")
class IssueToken(MethodView):
    @public
    @auth_blp.arguments(TokenRequestSchema)
    @auth_blp.response(201, NewTokenSchema)
    def post(self, data):
        """Exchange e-mail and password for a new API token (shown once)."""
        try:
            user = services.authenticate(
                data["email"], data["password"], request.remote_addr or "?"
            )
        except services.RateLimited as exc:
            abort(429, message=str(exc), headers={"Retry-After": str(exc.retry_after)})
        if user is None:
            abort(401, message="Wrong e-mail or password.")
        token, raw = services.create_token(user, data["name"])
        token.token = raw  # dumped once in this response, never stored
        return token


@auth_blp.route("/tokens")
class Tokens(MethodView):
    @login_required_only
    @auth_blp.response(200, TokenSchema(many=True))
    def get(self):
        """Your API tokens (their values are never shown again)."""
        return (
            db.session.execute(
                sa.select(ApiToken).filter_by(user_id=current_actor().id).order_by(ApiToken.id)
            )
            .scalars()
            .all()
        )


@auth_blp.route("/tokens/<int:token_id>")
class TokenItem(MethodView):
    @login_required_only
    @auth_blp.response(204)
    def delete(self, token_id):
        """Revoke one of your tokens; it stops working at once."""
        token = db.session.get(ApiToken, token_id)
        if token is None or token.user_id != current_actor().id:
            abort(404, message=f"Token {token_id} does not exist.")
        services.revoke_token(token)


# --- users ------------------------------------------------------------------------------


@users_blp.route("")
class Users(MethodView):
    @requires("core.users.view")
    @users_blp.arguments(UserQuerySchema, location="query")
    @users_blp.response(200, UserPageSchema)
    def get(self, args):
        """List users by id, ``limit`` at a time; pass ``next_cursor`` as ``after``."""
        query = sa.select(User).order_by(User.id)
        if "after" in args:
            query = query.where(User.id > args["after"])
        if args.get("q"):
            like = f"%{args['q'].lower()}%"
            query = query.where(sa.or_(sa.func.lower(User.name).like(like), User.email.like(like)))
        if "active" in args:
            query = query.where(User.active == args["active"])
        if "team_id" in args:
            query = query.where(User.team_id == args["team_id"])
        rows = db.session.execute(query.limit(args["limit"] + 1)).scalars().all()
        more = len(rows) > args["limit"]
        rows = rows[: args["limit"]]
        return {"items": rows, "next_cursor": rows[-1].id if more else None}

    @requires("core.users.manage")
    @users_blp.arguments(UserSchema)
    @users_blp.response(201, UserSchema)
    def post(self, data):
        """Create a user."""
        roles = _roles(data.pop("role_ids"))
        team = _get_team(data.pop("team_id"))
        _allowed(services.guard_roles, current_actor(), roles)
        try:
            return services.create_user(roles=roles, team=team, **data)
        except services.ValidationFailed as exc:
            _fail(exc)


def _roles(ids: list[int]) -> list[Role]:
    ids = list(dict.fromkeys(ids))
    roles = db.session.execute(sa.select(Role).where(Role.id.in_(ids))).scalars().all()
    if len(roles) != len(ids):
        abort(
            422,
            message="Invalid input.",
            errors={"json": {"role_ids": ["One or more roles do not exist."]}},
        )
    return list(roles)


def _get_team(team_id: int | None) -> Team | None:
    if team_id is None:
        return None
    team = db.session.get(Team, team_id)
    if team is None:
        abort(422, message="Invalid input.", errors={"json": {"team_id": ["No such team."]}})
    return team


@users_blp.route("/me")
class Me(MethodView):
    @login_required_only
    @users_blp.response(200, UserSchema)
    def get(self):
        """The user the token belongs to."""
        return current_actor()


@users_blp.route("/<int:user_id>")
class UserItem(MethodView):
    @requires("core.users.view")
    @users_blp.response(200, UserSchema)
    def get(self, user_id):
        """One user."""
        return _get_or_404(User, user_id)

    @requires("core.users.manage")
    @users_blp.arguments(UserUpdateSchema)
    @users_blp.response(200, UserSchema)
    def patch(self, data, user_id):
        """Change a user; send the ``version`` you read (409 if it changed since)."""
        user = _get_or_404(User, user_id)
        refuse_stale(user, data.pop("version"))
        _allowed(services.guard_user_edit, current_actor(), user)
        if "role_ids" in data:
            _allowed(services.guard_roles, current_actor(), _roles(data["role_ids"]))
        password = data.pop("password", None)
        try:
            services.update_user(user, data)
            if password is not None:
                services.set_password(user, password)
        except services.ValidationFailed as exc:
            db.session.rollback()
            _fail(exc)
        return user


# --- teams ------------------------------------------------------------------------------


@teams_blp.route("")
class Teams(MethodView):
    @requires("core.users.view")
    @teams_blp.response(200, TeamSchema(many=True))
    def get(self):
        """Every team."""
        return db.session.execute(sa.select(Team).order_by(Team.name)).scalars().all()

    @requires("core.users.manage")
    @teams_blp.arguments(TeamSchema)
    @teams_blp.response(201, TeamSchema)
    def post(self, data):
        """Create a team."""
        try:
            return services.save_team(Team(), data)
        except services.ValidationFailed as exc:
            _fail(exc)


@teams_blp.route("/<int:team_id>")
class TeamItem(MethodView):
    @requires("core.users.view")
    @teams_blp.response(200, TeamSchema)
    def get(self, team_id):
        """One team."""
        return _get_or_404(Team, team_id)

    @requires("core.users.manage")
    @teams_blp.arguments(TeamUpdateSchema)
    @teams_blp.response(200, TeamSchema)
    def patch(self, data, team_id):
        """Rename a team or change its head."""
        team = _get_or_404(Team, team_id)
        refuse_stale(team, data.pop("version"))
        try:
            return services.save_team(team, data)
        except services.ValidationFailed as exc:
            _fail(exc)


# --- roles ------------------------------------------------------------------------------


@roles_blp.route("")
class Roles(MethodView):
    @requires("core.roles.manage")
    @roles_blp.response(200, RoleSchema(many=True))
    def get(self):
        """Every role with its permission codes and scopes."""
        return db.session.execute(sa.select(Role).order_by(Role.name)).scalars().all()

    @requires("core.roles.manage")
    @roles_blp.arguments(RoleSchema)
    @roles_blp.response(201, RoleSchema)
    def post(self, data):
        """Create a role."""
        _allowed(services.guard_role_edit, current_actor(), None, data)
        try:
            return services.save_role(
                Role(), data, known_codes(), {a.code for _, a in scope_areas()}
            )
        except services.ValidationFailed as exc:
            _fail(exc)


@roles_blp.route("/<int:role_id>")
class RoleItem(MethodView):
    @requires("core.roles.manage")
    @roles_blp.response(200, RoleSchema)
    def get(self, role_id):
        """One role."""
        return _get_or_404(Role, role_id)

    @requires("core.roles.manage")
    @roles_blp.arguments(RoleUpdateSchema)
    @roles_blp.response(200, RoleSchema)
    def patch(self, data, role_id):
        """Change a role; send the ``version`` you read (409 if it changed since)."""
        role = _get_or_404(Role, role_id)
        refuse_stale(role, data.pop("version"))
        _allowed(services.guard_role_edit, current_actor(), role, data)
        try:
            return services.save_role(role, data, known_codes(), {a.code for _, a in scope_areas()})
        except services.ValidationFailed as exc:
            _fail(exc)

    @requires("core.roles.manage")
    @roles_blp.response(204)
    def delete(self, role_id):
        """Delete a role; refused while users hold it."""
        role = _get_or_404(Role, role_id)
        _allowed(services.guard_role_edit, current_actor(), role, {})
        try:
            services.delete_role(role)
        except services.ValidationFailed as exc:
            abort(409, message=" ".join(m for msgs in exc.errors.values() for m in msgs))


@perms_blp.route("")
class Permissions(MethodView):
    @requires("core.roles.manage")
    @perms_blp.response(200, PermissionSchema(many=True))
    def get(self):
        """Every permission code declared by core and the installed plugins."""
        return [
            {"code": p.code, "label": str(p.label), "plugin": plugin}
            for plugin, perms in permissions_by_plugin().items()
            for p in perms
        ]
