"""Fixtures: a migrated app on SQLite (or PostgreSQL with CRM_TEST_DATABASE_URL), clients, users."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from core import create_app
from core.cli import ensure_admin_role, upgrade_core
from core.db import db
from core.plugin_system import services as plugin_services
from core.users import services as user_services
from core.users.models import Role, Team
from tests.smtp_sink import SmtpSink

ADMIN_EMAIL = "admin@example.com"
PASSWORD = "correct-horse-battery"


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 5432), timeout=1
        ):
            return True
    except OSError:
        return False


def _database_url(tmp_path) -> str:
    url = os.environ.get("CRM_TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    if not _reachable(url):
        pytest.skip(f"CRM_TEST_DATABASE_URL {url} is not reachable")
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def make_app(tmp_path, database_url: str | None = None, **overrides):
    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SQLALCHEMY_DATABASE_URI": database_url or _database_url(tmp_path),
        "SECRET_KEY": "test-secret",
        "CRM_JOBS_IMMEDIATE": True,
        "CRM_PLUGIN_STATE_TTL": 0.0,
        # Changes reach the caches through the process and file counters; a time bound
        # would only make query counts depend on how slow the machine is.
        "CRM_CACHE_TTL": 3600.0,
        "CRM_JOB_RETRY_BASE_SECONDS": 0.01,
        "CRM_PASSWORD_HASH_COST": "low",
    }
    config.update(overrides)
    return create_app(config)


def _initialise(application) -> None:
    """What `crm init` does: migrate, record the plugins, create the admin role and admin."""
    with application.app_context():
        upgrade_core(application)
        plugin_services.sync_discovered(application)
        ensure_admin_role()
        admin_role = db.session.execute(sa.select(Role).filter_by(is_admin=True)).scalar_one()
        user_services.create_user(ADMIN_EMAIL, "Ada Admin", PASSWORD, roles=[admin_role])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """One migrated SQLite database per run; each test starts from a copy of it."""
    folder = tmp_path_factory.mktemp("template")
    path = folder / "crm.sqlite3"
    application = make_app(folder, f"sqlite:///{path}")
    _initialise(application)
    with application.app_context():
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.engine.dispose()
    return path


@pytest.fixture
def app(tmp_path, request) -> Iterator:
    if os.environ.get("CRM_TEST_DATABASE_URL"):
        application = make_app(tmp_path)
        _initialise(application)
    else:
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "crm.sqlite3"
        shutil.copyfile(template, path)
        application = make_app(tmp_path, f"sqlite:///{path}")
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def crm(app, tmp_path):
    """Run the real ``crm`` command against the test database; returns click's Result."""
    from click.testing import CliRunner

    from core.cli import main

    env = {
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "CRM_INSTANCE_PATH": str(tmp_path / "cli-instance"),
        "CRM_JOBS_IMMEDIATE": "1",
    }

    def run(*args: str, input: str | None = None):
        return CliRunner().invoke(main, list(args), env=env, input=input)

    return run


def csrf_token(client, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client, email: str = ADMIN_EMAIL, password: str = PASSWORD):
    token = csrf_token(client)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def post_form(client, path: str, data: dict | None = None, page: str = "/"):
    """Submit a form the way a browser does: with the CSRF token of a page it loaded."""
    data = dict(data or {})
    data["csrf_token"] = csrf_token(client, page)
    return client.post(path, data=data)


@pytest.fixture
def admin_client(client):
    response = login(client)
    assert response.status_code == 302
    return client


def make_user(
    app,
    email: str,
    permissions: list[str] = (),
    scopes: dict | None = None,
    team_id: int | None = None,
    name: str | None = None,
    role_name: str | None = None,
):
    """A user holding one role with exactly ``permissions`` and ``scopes``."""
    with app.app_context():
        role = Role(
            name=role_name or f"role for {email}",
            permissions=list(permissions),
            scopes=scopes or {},
        )
        db.session.add(role)
        db.session.commit()
        team = db.session.get(Team, team_id) if team_id else None
        user = user_services.create_user(
            email, name or email.split("@")[0].title(), PASSWORD, roles=[role], team=team
        )
        return user.id


def api_token(client, email: str = ADMIN_EMAIL, password: str = PASSWORD) -> dict:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


@pytest.fixture
def api(app):
    """The API as the admin: ``api.get(path)``, ``api.post(path, json=...)``, ... with a token."""
    client = app.test_client()
    headers = api_token(client)

    class Api:
        def __getattr__(self, method):
            def call(path, **kwargs):
                kwargs.setdefault("headers", headers)
                return getattr(client, method)(path, **kwargs)

            return call

    return Api()


def enable(app, name: str) -> None:
    with app.app_context():
        plugin_services.enable(name, app)


def disable(app, name: str) -> None:
    with app.app_context():
        plugin_services.disable(name, app)


class QueryCounter:
    """Counts the SQL statements the app sends while active, with their text."""

    def __init__(self, app) -> None:
        self.app = app
        self.statements: list[str] = []
        self.parameters: list = []

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.statements.append(statement)
        self.parameters.append(parameters)

    def __enter__(self) -> QueryCounter:
        with self.app.app_context():
            self.engine = db.engine
        sa.event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._record)

    @property
    def count(self) -> int:
        return len(self.statements)


def run_at_once(app, work: Callable[[], None], threads: int) -> list[BaseException]:
    """``work()`` in ``threads`` threads started together, each in an app context of its
    own (so its own database session, removed when it ends): what they raised, if any."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with app.app_context():
                work()
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            failures.append(exc)

    started = [threading.Thread(target=run) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(timeout=120)
    return failures


@pytest.fixture
def smtp_server(app) -> Iterator[SmtpSink]:
    """A loopback SMTP server, and the app configured to send through it."""
    sink = SmtpSink()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port, SMTP_SSL=False)
    app.config.update(SMTP_STARTTLS=False, SMTP_USERNAME=None)
    try:
        yield sink
    finally:
        sink.stop()
