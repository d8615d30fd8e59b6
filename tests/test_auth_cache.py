"""Workers cache who a session or token belongs to (core.cache). A change takes effect on the
next request in this process and in every process on this host, and within CRM_CACHE_TTL
seconds when it is made where no counter sees it (another host, SQL typed by hand)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import sqlalchemy as sa

from core.db import db
from core.users.models import ApiToken, Role, User
from tests.conftest import api_token, login, make_user

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _in_another_process(app, code: str) -> None:
    """Run ``code`` in a new Python process with its own app on the same database and
    instance folder, as another gunicorn worker or a `crm` command would."""
    env = dict(
        os.environ,
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        CRM_INSTANCE_PATH=app.instance_path,
    )
    script = "from core import create_app\nfrom core.db import db\napp = create_app()\n"
    script += "with app.app_context():\n" + textwrap.indent(textwrap.dedent(code), "    ")
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]


def _without_counters(app, sql: str) -> None:
    """Write through the bare DBAPI connection: no engine event sees it, as if another host
    or a person at the SQL prompt had made the change."""
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(sql)
            raw.commit()
        finally:
            raw.close()


def test_a_role_losing_a_permission_takes_effect_on_the_next_request(app):
    _trust_cache_for_an_hour(app)
    make_user(app, "clerk@example.com", ["clients.view"], role_name="Clerk")
    api = app.test_client()
    headers = api_token(api, "clerk@example.com")
    page = app.test_client()
    login(page, "clerk@example.com")
    assert api.get("/api/v1/clients", headers=headers).status_code == 200
    assert page.get("/clients/").status_code == 200
    with app.app_context():
        role = db.session.execute(sa.select(Role).filter_by(name="Clerk")).scalar_one()
        role.permissions = ["core.users.view"]
        db.session.commit()
    assert api.get("/api/v1/clients", headers=headers).status_code == 403
    assert page.get("/clients/").status_code == 403
    with app.app_context():
        role = db.session.execute(sa.select(Role).filter_by(name="Clerk")).scalar_one()
        role.permissions = ["clients.view"]
        db.session.commit()
    assert api.get("/api/v1/clients", headers=headers).status_code == 200


def test_a_wider_scope_takes_effect_on_the_next_request(app, api):
    _trust_cache_for_an_hour(app)
    api.post("/api/v1/clients", json={"name": "Someone Else's"})
    make_user(app, "seller@example.com", ["clients.view"], {"clients": "own"}, role_name="Seller")
    client = app.test_client()
    headers = api_token(client, "seller@example.com")
    assert client.get("/api/v1/clients", headers=headers).get_json()["items"] == []
    with app.app_context():
        role = db.session.execute(sa.select(Role).filter_by(name="Seller")).scalar_one()
        role.scopes = {"clients": "all"}
        db.session.commit()
    names = [c["name"] for c in client.get("/api/v1/clients", headers=headers).get_json()["items"]]
    assert names == ["Someone Else's"]


def _trust_cache_for_an_hour(app) -> None:
    """Only the counters, not the expiry, can explain what the next request sees."""
    app.extensions["crm_cache"].ttl = 3600.0


def test_a_token_revoked_by_another_process_on_this_host_stops_at_once(app):
    _trust_cache_for_an_hour(app)
    client = app.test_client()
    headers = api_token(client)
    assert client.get("/api/v1/users/me", headers=headers).status_code == 200
    _in_another_process(
        app,
        """
        from core.db import utcnow
        from core.users.models import ApiToken
        for token in db.session.query(ApiToken):
            token.revoked_at = utcnow()
        db.session.commit()
        """,
    )
    assert client.get("/api/v1/users/me", headers=headers).status_code == 401


def test_sessions_ended_by_another_process_on_this_host_end_at_once(app):
    _trust_cache_for_an_hour(app)
    browser = app.test_client()
    login(browser)
    assert browser.get("/clients/").status_code == 200
    _in_another_process(
        app,
        """
        from core.users import services
        from core.users.models import User
        services.end_sessions(db.session.query(User).filter_by(email="admin@example.com").one())
        """,
    )
    assert browser.get("/clients/").status_code == 302


def test_a_change_no_counter_sees_takes_effect_within_the_ttl(tmp_path):
    from tests.conftest import _initialise, make_app

    app = make_app(tmp_path, CRM_CACHE_TTL=0.3)
    _initialise(app)
    try:
        client = app.test_client()
        headers = api_token(client)
        browser = app.test_client()
        login(browser)
        assert client.get("/api/v1/users/me", headers=headers).status_code == 200
        assert browser.get("/clients/").status_code == 200
        _without_counters(app, "UPDATE api_tokens SET revoked_at = CURRENT_TIMESTAMP")
        _without_counters(app, "UPDATE users SET active = false")
        time.sleep(0.4)  # past CRM_CACHE_TTL: the worker reads the database again
        assert client.get("/api/v1/users/me", headers=headers).status_code == 401
        assert browser.get("/clients/").status_code == 302
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_token_use_is_still_recorded_without_dropping_the_caches(app):
    from core import cache

    client = app.test_client()
    headers = api_token(client)
    before = cache._Process.generation
    assert client.get("/api/v1/users/me", headers=headers).status_code == 200
    assert cache._Process.generation == before
    with app.app_context():
        token = db.session.execute(sa.select(ApiToken)).scalar_one()
        assert token.last_used_at is not None


def test_a_user_renamed_shows_the_new_name_on_the_next_page(app, admin_client):
    assert "Ada Admin" in admin_client.get("/clients/").get_data(as_text=True)
    with app.app_context():
        user = db.session.execute(sa.select(User).filter_by(name="Ada Admin")).scalar_one()
        user.name = "Ada Lovelace"
        db.session.commit()
    assert "Ada Lovelace" in admin_client.get("/clients/").get_data(as_text=True)


def test_option_lists_and_settings_changed_by_another_process_apply_at_once(app, admin_client):
    """Option lists, custom fields and settings are cached per worker too."""
    _trust_cache_for_an_hour(app)
    assert "Customer" in admin_client.get("/clients/").get_data(as_text=True)
    api = app.test_client()
    headers = api_token(api)
    assert api.get("/api/v1/clients?cf_size=big", headers=headers).status_code == 422
    _in_another_process(
        app,
        """
        from core.clients.models import ClientOption, CustomField
        from core.settings import services as settings
        option = db.session.query(ClientOption).filter_by(list="status", code="customer").one()
        option.label = "Paying customer"
        db.session.add(CustomField(key="size", label="Size", kind="text", choices=[]))
        db.session.commit()
        settings.save({"core.phone_region": "DE"})
        """,
    )
    assert "Paying customer" in admin_client.get("/clients/").get_data(as_text=True)
    assert api.get("/api/v1/clients?cf_size=big", headers=headers).status_code == 200
    with app.test_request_context():
        from core.clients.services import phone_region

        assert phone_region() == "DE"
