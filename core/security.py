"""Access control in one place: every route declares a permission, one check enforces it.

Views declare with ``@requires("code")``, ``@public`` or ``@login_required_only``; a
blueprint may set a default with ``blueprint_permission``. The check runs before every
request and fails closed: a route that declares nothing answers 403 (and a test walks
``app.url_map`` so such a route never ships). The same check answers 404 for the routes
of a disabled plugin. ``scoped`` applies a role's record scope to a query.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask, abort, current_app, g, request
from flask_login import current_user

from core.db import db, utcnow

PUBLIC = "@public"
AUTHENTICATED = "@authenticated"
F = TypeVar("F", bound=Callable[..., Any])


def requires(code: str) -> Callable[[F], F]:
    """Declare the permission code a view needs."""

    def mark(func: F) -> F:
        func._crm_permission = code  # type: ignore[attr-defined]
        return func

    return mark


def public(func: F) -> F:
    func._crm_permission = PUBLIC  # type: ignore[attr-defined]
    return func


def login_required_only(func: F) -> F:
    """Any logged-in user (their own profile, the dashboard)."""
    func._crm_permission = AUTHENTICATED  # type: ignore[attr-defined]
    return func


def csrf_exempt(func: F) -> F:
    """For public endpoints posted to from other sites (web forms); never for cookie pages."""
    func._crm_csrf_exempt = True  # type: ignore[attr-defined]
    return func


def blueprint_permission(app: Flask, blueprint_name: str, code: str) -> None:
    app.extensions.setdefault("crm_blueprint_permissions", {})[blueprint_name] = code


def declared_permission(app: Flask, endpoint: str, method: str) -> str | None:
    """The permission a route declares for ``method``, or None when it declares none."""
    view = app.view_functions.get(endpoint)
    if view is None:
        return None
    code = None
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        handler = getattr(view_class, method.lower(), None)
        if handler is None and method == "HEAD":
            handler = getattr(view_class, "get", None)
        code = getattr(handler, "_crm_permission", None) or getattr(
            view_class, "_crm_permission", None
        )
    else:
        code = getattr(view, "_crm_permission", None)
    if code is None and "." in endpoint:
        blueprint = endpoint.rsplit(".", 1)[0]
        code = app.extensions.get("crm_blueprint_permissions", {}).get(blueprint)
    if code is None and (endpoint == "static" or endpoint.endswith(".static")):
        code = PUBLIC
    return code


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_api_request() -> bool:
    return request.path.startswith("/api/")


@dataclass(frozen=True, eq=False)
class Principal:
    """Who a request acts as: the user's own fields and what their roles allow, read once
    and kept in the worker cache (core.cache), so a request needs no user or role query.

    It answers ``has_permission`` and ``scope_for`` exactly as ``User`` does and speaks
    Flask-Login's protocol. Code that changes the user loads it with ``current_actor()``.
    """

    id: int
    email: str
    name: str
    team_id: int | None
    locale: str
    timezone: str
    active: bool
    session_token: str
    is_admin: bool
    permissions: frozenset[str]
    # Area -> the widest scope of the user's roles; read-only, as requests share it.
    scopes: Mapping[str, str] = field(default_factory=dict)

    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    def has_permission(self, code: str) -> bool:
        return self.is_admin or code in self.permissions

    def scope_for(self, area: str) -> str:
        return "all" if self.is_admin else self.scopes.get(area, "own")


def load_principal(user_id: int) -> Principal | None:
    """The user and their roles in two small queries (no ORM objects), or None."""
    from core.users.models import SCOPE_RANK, Role, User, user_roles

    row = db.session.execute(
        sa.select(
            User.id,
            User.email,
            User.name,
            User.team_id,
            User.locale,
            User.timezone,
            User.active,
            User.session_token,
        ).where(User.id == user_id)
    ).first()
    if row is None:
        return None
    is_admin, permissions, scopes = False, set(), {}
    for role_admin, role_permissions, role_scopes in db.session.execute(
        sa.select(Role.is_admin, Role.permissions, Role.scopes)
        .join(user_roles, user_roles.c.role_id == Role.id)
        .where(user_roles.c.user_id == user_id)
    ):
        is_admin = is_admin or bool(role_admin)
        permissions.update(role_permissions or ())
        for area, scope in (role_scopes or {}).items():
            # The widest scope of any role wins (unknown words count as "own").
            if SCOPE_RANK.get(scope, 0) > SCOPE_RANK[scopes.get(area, "own")]:
                scopes[area] = scope
    return Principal(
        id=row.id,
        email=row.email,
        name=row.name,
        team_id=row.team_id,
        locale=row.locale,
        timezone=row.timezone,
        active=bool(row.active),
        session_token=row.session_token,
        is_admin=is_admin,
        permissions=frozenset(permissions),
        scopes=MappingProxyType(scopes),
    )


def principal_for_session(user_id: str) -> Principal | None:
    """Flask-Login's ``user_id`` ("<id>:<session token>") -> the principal, if still valid:
    a rotated session token (logout, password change, deactivation) ends old sessions."""
    from core.cache import cached
    from core.ids import parse_id

    ident, _, token = user_id.partition(":")
    if parse_id(ident) is None or not token:
        return None

    def load() -> Principal | None:
        principal = load_principal(parse_id(ident))
        if principal is None or not principal.active or principal.session_token != token:
            return None
        return principal

    return cached(("session", user_id), load)


def _token_principal(token_hash: str) -> tuple[Principal, datetime | None] | None:
    from core.users.models import ApiToken

    row = db.session.execute(
        sa.select(
            ApiToken.id,
            ApiToken.user_id,
            ApiToken.expires_at,
            ApiToken.revoked_at,
            ApiToken.last_used_at,
        ).where(ApiToken.token_hash == token_hash)
    ).first()
    now = utcnow()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    principal = load_principal(row.user_id)
    if principal is None or not principal.active:
        return None
    # Write last use at most once a minute: no write per request on a busy integration.
    # Cache-neutral: this write must not drop every worker's cached users and tokens.
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        db.session.execute(
            sa.update(ApiToken)
            .where(ApiToken.id == row.id)
            .values(last_used_at=now)
            .execution_options(crm_cache_neutral=True)
        )
        db.session.commit()
    return principal, row.expires_at


def _user_from_bearer() -> Principal | None:
    from core.cache import cached

    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    raw = header[7:].strip()
    if not raw:
        return None
    token_hash = hash_token(raw)
    found = cached(("token", token_hash), lambda: _token_principal(token_hash))
    if found is not None and found[1] is not None and found[1] <= utcnow():
        found = None  # expired while cached
    if found is None:
        abort(401, description="The API token is invalid, expired or revoked.")
    return found[0]


def current_principal() -> Principal | None:
    """Who this request acts as, from the worker cache: enough for permission and scope
    checks, and for showing their name. Use ``current_actor()`` to change the user."""
    return g.get("crm_user")


def current_actor() -> Any:
    """The ``User`` this request acts as (token user for the API, session user for pages),
    loaded on first use."""
    user = g.get("crm_actor")
    if user is None:
        principal = g.get("crm_user")
        if principal is None:
            return None
        from core.users.models import User

        if isinstance(principal, User):
            return principal
        # With the roles in the same statement: whoever asks for the User mostly checks
        # a permission on it next (plugins' panels, menus), which reads the roles.
        user = db.session.get(User, principal.id, options=[sa.orm.joinedload(User.roles)])
        g.crm_actor = user
    return user


def reject_unusable_input() -> None:
    """Input no part of the CRM can store or parse: refused up front with 400.

    NUL characters (PostgreSQL cannot store them in text) and JSON nested so deeply that
    parsing it exhausts the stack.
    """
    for values in (request.args, request.form):
        for value in values.values():
            if "\x00" in value:
                abort(400, description="The request contains a NUL character.")
    if request.is_json and request.content_length:
        raw = request.get_data(cache=True)
        if b"\x00" in raw or b"\\u0000" in raw:
            abort(400, description="The request contains a NUL character.")
        try:
            request.get_json(silent=True)
        except RecursionError:
            abort(400, description="The JSON body is nested too deeply.")


def check_request_access() -> None:
    """before_request: plugin on? route declared? user allowed? Fails closed."""
    app = current_app
    reject_unusable_input()
    endpoint = request.endpoint
    if endpoint is None:
        return  # 404/405 answered by Flask itself
    registry = app.extensions["crm_plugins"]
    registry.refresh()
    blueprint = request.blueprints[-1] if request.blueprints else None
    owner = app.extensions["crm_blueprint_owner"].get(blueprint) if blueprint else None
    if owner is not None and not registry.is_active(owner):
        abort(404)
    if request.method == "OPTIONS":
        return
    code = declared_permission(app, endpoint, request.method)
    if code is None:
        abort(403, description="This route declares no permission.")
    if is_api_request():
        if request.headers.get("Authorization") is None and request.cookies.get(
            app.config.get("SESSION_COOKIE_NAME", "session")
        ):
            if code != PUBLIC:
                abort(401, description="The API takes a bearer token, not a session cookie.")
        user = _user_from_bearer()
    else:
        if request.method not in ("GET", "HEAD") and not getattr(
            app.view_functions[endpoint], "_crm_csrf_exempt", False
        ):
            from core.web import csrf

            csrf.protect()
        user = current_user._get_current_object() if current_user.is_authenticated else None
    g.crm_user = user
    if code == PUBLIC:
        return
    if user is None:
        if is_api_request():
            abort(401, description="Authentication required: send 'Authorization: Bearer <token>'.")
        return app.login_manager.unauthorized()
    if code != AUTHENTICATED and not user.has_permission(code):
        abort(403, description=f"You need the permission {code!r}.")


def scoped(query: sa.Select, user: Any, area: str, owner_column: Any) -> sa.Select:
    """Limit ``query`` to the records ``user`` may see in ``area``.

    own: records whose ``owner_column`` is the user; team: owned by anyone in the user's
    team; all: everything. Every list, search, export, report and API route of a scoped
    area goes through here.
    """
    from core.users.models import User

    scope = user.scope_for(area)
    if scope == "all":
        return query
    if scope == "team" and user.team_id is not None:
        team_members = sa.select(User.id).where(User.team_id == user.team_id)
        return query.where(owner_column.in_(team_members))
    return query.where(owner_column == user.id)


def can_see(user: Any, area: str, owner_id: int | None) -> bool:
    """The same rule as ``scoped`` for one record already loaded."""
    from core.users.models import User

    scope = user.scope_for(area)
    if scope == "all":
        return True
    if owner_id == user.id:
        return True
    if scope == "team" and user.team_id is not None and owner_id is not None:
        owner = db.session.get(User, owner_id)
        return owner is not None and owner.team_id == user.team_id
    return False
