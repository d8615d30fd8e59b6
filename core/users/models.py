"""Users, teams, roles and API tokens."""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.audit.models import Audited
from core.db import BusinessMixin, db, utcnow

SCOPES = ("own", "team", "all")
SCOPE_RANK = {scope: rank for rank, scope in enumerate(SCOPES)}

user_roles = sa.Table(
    "user_roles",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role_id", sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)


class Team(Audited, BusinessMixin, db.Model):
    __tablename__ = "teams"

    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    head_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL", use_alter=True), nullable=True
    )
    head: Mapped[User | None] = relationship(foreign_keys=[head_id])
    members: Mapped[list[User]] = relationship(
        back_populates="team", foreign_keys="User.team_id", order_by="User.name"
    )


class Role(Audited, BusinessMixin, db.Model):
    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    # Superuser roles hold every permission, including those of plugins enabled later.
    is_admin: Mapped[bool] = mapped_column(default=False)
    permissions: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # Record scope per area, e.g. {"clients": "own", "tasks": "team"}; missing means "own".
    scopes: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)


class User(Audited, BusinessMixin, db.Model):
    __tablename__ = "users"
    # Sign-ins show in the history as changes of last_login_at, made by the user.
    __audit_exclude__ = ("password_hash", "session_token")

    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    team_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("teams.id", ondelete="SET NULL"), nullable=True, index=True
    )
    locale: Mapped[str] = mapped_column(sa.String(10), default="en")
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    # Rotated on logout, password change and deactivation: every older session dies with it.
    session_token: Mapped[str] = mapped_column(
        sa.String(64), default=lambda: secrets.token_urlsafe(32)
    )
    last_login_at: Mapped[datetime | None] = mapped_column(nullable=True)

    team: Mapped[Team | None] = relationship(back_populates="members", foreign_keys=[team_id])
    roles: Mapped[list[Role]] = relationship(secondary=user_roles, order_by="Role.name")

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @property
    def is_admin(self) -> bool:
        return any(role.is_admin for role in self.roles)

    def has_permission(self, code: str) -> bool:
        return self.is_admin or any(code in (role.permissions or []) for role in self.roles)

    def scope_for(self, area: str) -> str:
        if self.is_admin:
            return "all"
        best = "own"
        for role in self.roles:
            scope = (role.scopes or {}).get(area, "own")
            if SCOPE_RANK.get(scope, 0) > SCOPE_RANK[best]:
                best = scope
        return best

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class ApiToken(Audited, db.Model):
    """Creating and revoking tokens is audited: a token minted from a stolen session shows."""

    __tablename__ = "api_tokens"
    __audit_exclude__ = ("token_hash",)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)

    user: Mapped[User] = relationship()

    @property
    def is_valid(self) -> bool:
        now = utcnow()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class LoginAttempt(db.Model):
    """Failed sign-ins, counted per address and per account to slow down guessing."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    ip: Mapped[str] = mapped_column(sa.String(64), index=True)
    email: Mapped[str] = mapped_column(sa.String(254), index=True)
