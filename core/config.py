"""Configuration from environment variables, with safe defaults for one machine."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

SUPPORTED_LOCALES = ("en", "ru", "ro", "de")


def default_instance_path() -> Path:
    return Path(os.environ.get("CRM_INSTANCE_PATH", Path.cwd() / "instance")).resolve()


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a whole number, got {raw!r}") from exc


def load_secret_key(instance_path: Path) -> str:
    """Return SECRET_KEY from the environment, or from instance/secret_key (created 0600)."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # O_EXCL: when several workers start at once, only one writes the key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def normalise_database_url(url: str) -> str:
    """Accept the common postgres:// spellings and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def build_config(instance_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    env = os.environ
    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'crm.sqlite3'}"
    config: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "REDIS_URL": env.get("REDIS_URL") or None,
        "SMTP_HOST": env.get("SMTP_HOST", "localhost"),
        "SMTP_PORT": _int("SMTP_PORT", 25),
        "SMTP_USERNAME": env.get("SMTP_USERNAME") or None,
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD") or None,
        "SMTP_STARTTLS": _bool(env.get("SMTP_STARTTLS")),
        "SMTP_SSL": _bool(env.get("SMTP_SSL")),
        "MAIL_FROM": env.get("MAIL_FROM", "crm@localhost"),
        # The address of the CRM as users reach it, for links in e-mails sent by jobs.
        "CRM_BASE_URL": env.get("CRM_BASE_URL", "").rstrip("/"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Secure is also switched on per request when it arrives over HTTPS (core.web.sessions).
        "SESSION_COOKIE_SECURE": _bool(env.get("CRM_SECURE_COOKIES")),
        "CRM_BEHIND_PROXY": _bool(env.get("CRM_BEHIND_PROXY")),
        "PERMANENT_SESSION_LIFETIME": _int("CRM_SESSION_HOURS", 12) * 3600,
        "WTF_CSRF_TIME_LIMIT": _int("CRM_CSRF_HOURS", 12) * 3600,
        "BABEL_DEFAULT_LOCALE": env.get("CRM_DEFAULT_LOCALE", "en"),
        "BABEL_DEFAULT_TIMEZONE": env.get("CRM_DEFAULT_TIMEZONE", "UTC"),
        "BOOTSTRAP_SERVE_LOCAL": True,
        "MAX_CONTENT_LENGTH": _int("CRM_MAX_UPLOAD_MB", 60) * 1024 * 1024,
        "CRM_IMPORT_MAX_MB": _int("CRM_IMPORT_MAX_MB", 25),
        # The largest file attached to a record (checked while it is read; nothing is kept).
        "CRM_ATTACHMENT_MAX_MB": _int("CRM_ATTACHMENT_MAX_MB", 20),
        "API_TITLE": "CRM API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        # How often a worker process looks for plugin toggles made by other processes.
        "CRM_PLUGIN_STATE_TTL": float(env.get("CRM_PLUGIN_STATE_TTL", "0.5")),
        # How long a worker trusts its cached users, roles, tokens, settings and option lists
        # when they are changed where it cannot see (another host); see core.cache.
        "CRM_CACHE_TTL": float(env.get("CRM_CACHE_TTL", "1.0")),
        "CRM_LOGIN_MAX_PER_ACCOUNT": _int("CRM_LOGIN_MAX_PER_ACCOUNT", 5),
        "CRM_LOGIN_MAX_PER_IP": _int("CRM_LOGIN_MAX_PER_IP", 30),
        "CRM_LOGIN_WINDOW_SECONDS": _int("CRM_LOGIN_WINDOW_SECONDS", 900),
        "CRM_API_TOKEN_DAYS": _int("CRM_API_TOKEN_DAYS", 365),
        "CRM_PASSWORD_HASH_COST": env.get("CRM_PASSWORD_HASH_COST", "default"),
        "CRM_JOBS_IMMEDIATE": _bool(env.get("CRM_JOBS_IMMEDIATE")),
        "CRM_JOBS_SQLITE_PATH": env.get("CRM_JOBS_SQLITE_PATH")
        or str(instance_path / "jobs.sqlite3"),
        "CRM_JOB_RETRY_BASE_SECONDS": float(env.get("CRM_JOB_RETRY_BASE_SECONDS", "10")),
    }
    if overrides:
        config.update(overrides)
        if "SQLALCHEMY_DATABASE_URI" in overrides:
            config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(
                overrides["SQLALCHEMY_DATABASE_URI"]
            )
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = load_secret_key(instance_path)
    return config
