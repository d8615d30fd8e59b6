"""User, role, team and token logic, shared by the web UI, the API, the CLI and tests."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, NamedTuple
from zoneinfo import available_timezones

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app

from core.audit.models import audit_actor
from core.cache import cached
from core.config import SUPPORTED_LOCALES
from core.db import db, utcnow
from core.security import hash_token
from core.users.models import SCOPES, ApiToken, LoginAttempt, Role, Team, User

# Argon2id with the library's recommended parameters (RFC 9106, 64 MiB). Test suites may set
# CRM_PASSWORD_HASH_COST=low: still Argon2id, with less memory and time per hash.
_HASHERS = {
    "default": PasswordHasher(),
    "low": PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1),
}


class UserChoice(NamedTuple):
    id: int
    name: str


def active_users() -> tuple[UserChoice, ...]:
    """Active users by name (owner and assignee choices, filters); kept in the worker
    cache (core.cache), which a write to the users table drops."""

    def load() -> tuple[UserChoice, ...]:
        return tuple(
            UserChoice(*row)
            for row in db.session.execute(
                sa.select(User.id, User.name).where(User.active).order_by(User.name)
            )
        )

    return cached("active_users", load)


def user_names(ids: Iterable[int | None]) -> dict[int, str]:
    """The names of the users ``ids`` (active or not), from the worker cache of every
    user's name: pages that show who owns or does what (cards, the board, task lists)
    need no statement of their own for it."""

    def load() -> dict[int, str]:
        return dict(db.session.execute(sa.select(User.id, User.name)).all())

    names = cached("user_names", load)
    found = {i: names[i] for i in ids if i in names}
    missing = {i for i in ids if i is not None and i not in names}
    if missing:  # created since the cache was filled, on a host whose counter lags
        found.update(
            db.session.execute(sa.select(User.id, User.name).where(User.id.in_(missing))).all()
        )
    return found


def _hasher() -> PasswordHasher:
    return _HASHERS.get(
        current_app.config.get("CRM_PASSWORD_HASH_COST", "default"), _HASHERS["default"]
    )


MIN_PASSWORD = 10
_TIMEZONES = frozenset(available_timezones())


class ValidationFailed(Exception):
    """Input that cannot be saved: ``errors`` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]], status: int = 422) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors
        self.status = status


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed sign-ins. Try again later.")
        self.retry_after = retry_after


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_password_strength(password: str) -> list[str]:
    problems = []
    if len(password) < MIN_PASSWORD:
        problems.append(f"Use at least {MIN_PASSWORD} characters.")
    if len(password) > 256:
        problems.append("Use at most 256 characters.")
    return problems


def normalise_email(email: str) -> str:
    return email.strip().lower()


def validate_profile(locale: str | None, timezone: str | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if locale is not None and locale not in SUPPORTED_LOCALES:
        errors["locale"] = [f"Choose one of: {', '.join(SUPPORTED_LOCALES)}."]
    if timezone is not None and timezone not in _TIMEZONES:
        errors["timezone"] = ["Unknown time zone; use a name such as Europe/Berlin."]
    return errors


def _email_taken(email: str, except_id: int | None = None) -> bool:
    query = sa.select(User.id).where(User.email == email)
    if except_id is not None:
        query = query.where(User.id != except_id)
    return db.session.execute(query).first() is not None


def create_user(
    email: str,
    name: str,
    password: str,
    roles: list[Role] | None = None,
    team: Team | None = None,
    locale: str | None = None,
    timezone: str = "UTC",
    active: bool = True,
) -> User:
    email = normalise_email(email)
    if locale is None:
        from core.settings.services import get as setting

        locale = setting("core.default_locale") or current_app.config["BABEL_DEFAULT_LOCALE"]
    errors = validate_profile(locale, timezone)
    if _email_taken(email):
        errors["email"] = ["A user with this e-mail already exists."]
    if problems := check_password_strength(password):
        errors["password"] = problems
    if errors:
        raise ValidationFailed(errors)
    user = User(
        email=email,
        name=name.strip(),
        password_hash=hash_password(password),
        roles=list(roles or []),
        team=team,
        locale=locale,
        timezone=timezone,
        active=active,
    )
    db.session.add(user)
    db.session.commit()
    _emit("user_created", user=user)
    return user


def update_user(user: User, data: dict[str, Any]) -> User:
    """Apply validated fields (name, email, active, team_id, role_ids, locale, timezone)."""
    errors = validate_profile(data.get("locale"), data.get("timezone"))
    if "email" in data:
        data["email"] = normalise_email(data["email"])
        if _email_taken(data["email"], except_id=user.id):
            errors["email"] = ["A user with this e-mail already exists."]
    if "team_id" in data and data["team_id"] is not None:
        if db.session.get(Team, data["team_id"]) is None:
            errors["team_id"] = ["No such team."]
    roles = None
    if "role_ids" in data:
        ids = list(dict.fromkeys(data["role_ids"]))
        roles = db.session.execute(sa.select(Role).where(Role.id.in_(ids))).scalars().all()
        if len(roles) != len(ids):
            errors["role_ids"] = ["One or more roles do not exist."]
    if errors:
        raise ValidationFailed(errors)
    for field in ("name", "email", "active", "team_id", "locale", "timezone"):
        if field in data:
            setattr(user, field, data[field])
    if roles is not None:
        user.roles = list(roles)
    if "active" in data and not data["active"]:
        user.session_token = secrets.token_urlsafe(32)
    changes = _pending_changes(user)
    db.session.commit()
    if changes:
        _emit("user_updated", user=user, changes=changes)
    return user


def _pending_changes(obj: Any) -> dict[str, Any]:
    from core.audit.models import field_changes

    return field_changes(obj, "update")


def set_password(user: User, password: str) -> None:
    if problems := check_password_strength(password):
        raise ValidationFailed({"password": problems})
    user.password_hash = hash_password(password)
    user.session_token = secrets.token_urlsafe(32)
    db.session.commit()


def end_sessions(user: User) -> None:
    """Invalidate every session of ``user`` (logout everywhere)."""
    user.session_token = secrets.token_urlsafe(32)
    db.session.commit()


def _check_rate(ip: str, email: str) -> None:
    config = current_app.config
    window = config["CRM_LOGIN_WINDOW_SECONDS"]
    since = utcnow() - timedelta(seconds=window)
    per_ip = db.session.execute(
        sa.select(sa.func.count()).where(LoginAttempt.ip == ip, LoginAttempt.at >= since)
    ).scalar_one()
    per_account = db.session.execute(
        sa.select(sa.func.count()).where(LoginAttempt.email == email, LoginAttempt.at >= since)
    ).scalar_one()
    if (
        per_ip >= config["CRM_LOGIN_MAX_PER_IP"]
        or per_account >= config["CRM_LOGIN_MAX_PER_ACCOUNT"]
    ):
        raise RateLimited(retry_after=window)


def authenticate(email: str, password: str, ip: str) -> User | None:
    """The user for these credentials, or None; raises RateLimited after too many failures.

    An unknown e-mail costs the same hash as a wrong password, so timing tells nothing.
    """
    email = normalise_email(email or "")[:254]
    _check_rate(ip, email)
    # Count this attempt before the (slow) hash check, so parallel guesses cannot all slip
    # under the limit; a successful sign-in removes it again.
    attempt = LoginAttempt(ip=ip[:64], email=email)
    db.session.add(attempt)
    db.session.commit()
    user = db.session.execute(sa.select(User).filter_by(email=email)).scalar_one_or_none()
    ok = False
    if user is not None:
        try:
            ok = _hasher().verify(user.password_hash, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
    else:
        _hasher().hash(password or "")
    if not ok or user is None or not user.active:
        return None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    reset = audit_actor.set(user.id)  # the sign-in is the user's own change
    try:
        user.last_login_at = utcnow()
        db.session.execute(sa.delete(LoginAttempt).where(LoginAttempt.email == email))
        db.session.commit()
    finally:
        audit_actor.reset(reset)
    return user


def create_token(user: User, name: str, days: int | None = None) -> tuple[ApiToken, str]:
    """Create an API token; the raw value is returned once and only its hash is stored."""
    raw = "crm_" + secrets.token_urlsafe(32)
    days = days if days is not None else current_app.config["CRM_API_TOKEN_DAYS"]
    token = ApiToken(
        user=user,
        name=(name or "API token").strip()[:100],
        token_hash=hash_token(raw),
        prefix=raw[:12],
        expires_at=utcnow() + timedelta(days=days) if days else None,
    )
    reset = audit_actor.set(user.id)
    try:
        db.session.add(token)
        db.session.commit()
    finally:
        audit_actor.reset(reset)
    return token, raw


def revoke_token(token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.commit()


def save_role(role: Role, data: dict[str, Any], known: set[str], areas: set[str]) -> Role:
    """Validate and save a role (name, description, is_admin, permissions, scopes)."""
    errors: dict[str, list[str]] = {}
    if "name" in data:
        data["name"] = data["name"].strip()
        query = sa.select(Role.id).where(Role.name == data["name"])
        if role.id is not None:
            query = query.where(Role.id != role.id)
        if not data["name"]:
            errors["name"] = ["Enter a name."]
        elif db.session.execute(query).first() is not None:
            errors["name"] = ["A role with this name already exists."]
    if "permissions" in data:
        unknown = sorted(set(data["permissions"]) - known)
        if unknown:
            errors["permissions"] = [f"Unknown permission codes: {', '.join(unknown)}."]
        data["permissions"] = sorted(set(data["permissions"]))
    if "scopes" in data:
        bad_areas = sorted(set(data["scopes"]) - areas)
        if bad_areas:
            errors["scopes"] = [f"Unknown areas: {', '.join(bad_areas)}."]
        if any(v not in SCOPES for v in data["scopes"].values()):
            errors.setdefault("scopes", []).append(f"A scope is one of: {', '.join(SCOPES)}.")
    if errors:
        raise ValidationFailed(errors)
    for field in ("name", "description", "is_admin", "permissions", "scopes"):
        if field in data:
            setattr(role, field, data[field])
    if role.id is None:
        db.session.add(role)
    db.session.commit()
    return role


def delete_role(role: Role) -> None:
    holders = db.session.execute(
        sa.select(sa.func.count()).select_from(User).where(User.roles.any(Role.id == role.id))
    ).scalar_one()
    if holders:
        raise ValidationFailed(
            {"role": [f"{holders} user(s) hold this role; take it from them first."]}, 409
        )
    db.session.delete(role)
    db.session.commit()


def save_team(team: Team, data: dict[str, Any]) -> Team:
    errors: dict[str, list[str]] = {}
    if "name" in data:
        data["name"] = data["name"].strip()
        query = sa.select(Team.id).where(Team.name == data["name"])
        if team.id is not None:
            query = query.where(Team.id != team.id)
        if not data["name"]:
            errors["name"] = ["Enter a name."]
        elif db.session.execute(query).first() is not None:
            errors["name"] = ["A team with this name already exists."]
    if data.get("head_id") is not None and db.session.get(User, data["head_id"]) is None:
        errors["head_id"] = ["No such user."]
    if errors:
        raise ValidationFailed(errors)
    for field in ("name", "head_id"):
        if field in data:
            setattr(team, field, data[field])
    if team.id is None:
        db.session.add(team)
    db.session.commit()
    return team


def _emit(hook: str, **kwargs: Any) -> None:
    app = current_app._get_current_object()
    app.extensions["crm_plugins"].notify(hook, app=app, **kwargs)


# --- who may grant what -----------------------------------------------------------------------
# Holding "core.users.manage" or "core.roles.manage" must not be a way to become an
# administrator: a non-administrator grants only what they hold themselves, and never
# touches administrators or their roles. The CLI acts as an administrator (actor None).


class NotAllowed(Exception):
    """The actor may not make this change; views and the API answer 403 with the message."""


def _held(user: User) -> set[str]:
    return {code for role in user.roles for code in (role.permissions or [])}


def _check_grant(actor: User, permissions: set[str], scopes: dict[str, str]) -> None:
    missing = sorted(permissions - _held(actor))
    if missing:
        raise NotAllowed(f"You cannot grant permissions you do not hold: {', '.join(missing)}.")
    wider = sorted(
        area
        for area, scope in scopes.items()
        if SCOPES.index(scope) > SCOPES.index(actor.scope_for(area))
    )
    if wider:
        raise NotAllowed(f"You cannot grant a wider record scope than yours: {', '.join(wider)}.")


def guard_roles(actor: User | None, roles: list[Role]) -> None:
    """``actor`` may give these roles to someone."""
    if actor is None or actor.is_admin:
        return
    for role in roles:
        if role.is_admin:
            raise NotAllowed("Only an administrator can grant the administrator role.")
        _check_grant(actor, set(role.permissions or []), role.scopes or {})


def guard_user_edit(actor: User | None, target: User) -> None:
    """``actor`` may change ``target`` (name, e-mail, password, roles, active)."""
    if actor is None or actor.is_admin:
        return
    if target.is_admin:
        raise NotAllowed("Only an administrator can change an administrator.")
    if _held(target) - _held(actor):
        raise NotAllowed("This user holds permissions you do not; ask an administrator.")


def guard_role_edit(actor: User | None, role: Role | None, data: dict[str, Any]) -> None:
    """``actor`` may create (role None), change or delete this role."""
    if actor is None or actor.is_admin:
        return
    if (role is not None and role.is_admin) or data.get("is_admin"):
        raise NotAllowed("Only an administrator can create or change administrator roles.")
    permissions = set(data.get("permissions", role.permissions if role else []) or [])
    scopes = data.get("scopes", role.scopes if role else {}) or {}
    _check_grant(actor, permissions, scopes)
