"""Signing in and out, revocable sessions, CSRF, rate limits and API tokens."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from core.db import db, utcnow
from core.users import services
from core.users.models import ApiToken, User
from tests.conftest import ADMIN_EMAIL, PASSWORD, api_token, csrf_token, login, make_user, post_form


def test_passwords_are_stored_as_argon2id_hashes(app):
    with app.app_context():
        user = db.session.execute(sa.select(User).filter_by(email=ADMIN_EMAIL)).scalar_one()
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


def test_login_then_dashboard_then_logout(app, client):
    assert client.get("/").status_code == 302
    response = login(client)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Ada Admin" in client.get("/").get_data(as_text=True)
    assert post_form(client, "/logout").status_code == 302
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_unknown_user_and_wrong_password_get_the_same_answer(app, client):
    wrong = login(client, ADMIN_EMAIL, "not-the-password")
    unknown = login(client, "nobody@example.com", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong e-mail or password." in wrong.get_data(as_text=True)
    assert "Wrong e-mail or password." in unknown.get_data(as_text=True)
    api = app.test_client()
    a = api.post("/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": "nope-nope-nope"})
    b = api.post(
        "/api/v1/auth/token", json={"email": "x@example.com", "password": "nope-nope-nope"}
    )
    assert a.status_code == b.status_code == 401
    assert a.get_json()["message"] == b.get_json()["message"]


def test_session_cookie_is_httponly_and_samesite_lax(app, client):
    token = csrf_token(client)
    response = client.post(
        "/login", data={"email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": token}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_over_https(app, client):
    token = csrf_token(client)
    response = client.post(
        "/login",
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},
        data={"email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def test_login_is_rate_limited_per_account(app, client):
    for _ in range(app.config["CRM_LOGIN_MAX_PER_ACCOUNT"]):
        assert login(client, ADMIN_EMAIL, "wrong-password!").status_code == 401
    # Even the right password is refused while the account is locked out.
    assert login(client, ADMIN_EMAIL, PASSWORD).status_code == 429
    response = app.test_client().post(
        "/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": PASSWORD}
    )
    assert response.status_code == 429 and response.headers["Retry-After"]


def test_login_is_rate_limited_per_address(app, client):
    app.config["CRM_LOGIN_MAX_PER_IP"] = 3
    for n in range(3):
        assert login(client, f"guess{n}@example.com", "wrong-password!").status_code == 401
    assert login(client, ADMIN_EMAIL, PASSWORD).status_code == 429


def test_logout_ends_every_session_of_the_user(app):
    first, second = app.test_client(), app.test_client()
    login(first)
    login(second)
    assert second.get("/").status_code == 200
    post_form(first, "/logout")
    assert second.get("/").status_code == 302


def test_password_change_ends_other_sessions_but_keeps_this_one(app):
    mine, other = app.test_client(), app.test_client()
    login(mine)
    login(other)
    response = post_form(
        mine,
        "/profile/password",
        {"current_password": PASSWORD, "new_password": "a-brand-new-secret"},
        page="/profile",
    )
    assert response.status_code == 302
    assert mine.get("/").status_code == 200
    assert other.get("/").status_code == 302
    assert login(app.test_client(), ADMIN_EMAIL, "a-brand-new-secret").status_code == 302


def test_password_change_with_wrong_current_password_changes_nothing(app, admin_client):
    post_form(
        admin_client,
        "/profile/password",
        {"current_password": "wrong", "new_password": "a-brand-new-secret"},
        page="/profile",
    )
    assert "not right" in admin_client.get("/profile").get_data(as_text=True)
    assert login(app.test_client(), ADMIN_EMAIL, PASSWORD).status_code == 302


def test_deactivating_a_user_ends_their_sessions_and_tokens_stop_working(app, admin_client):
    user_id = make_user(app, "leaver@example.com", permissions=["core.users.view"])
    theirs = app.test_client()
    login(theirs, "leaver@example.com")
    headers = api_token(app.test_client(), "leaver@example.com")
    assert theirs.get("/").status_code == 200
    with app.app_context():
        version = db.session.get(User, user_id).version
    response = post_form(
        admin_client,
        f"/admin/users/{user_id}",
        {
            "name": "Leaver",
            "email": "leaver@example.com",
            "version": version,
            "locale": "en",
            "timezone": "UTC",
        },
        page=f"/admin/users/{user_id}",
    )
    assert response.status_code == 302
    assert theirs.get("/").status_code == 302
    assert app.test_client().get("/api/v1/users/me", headers=headers).status_code == 401
    assert login(app.test_client(), "leaver@example.com").status_code == 401


def test_a_form_without_a_valid_csrf_token_is_refused(app, admin_client):
    response = admin_client.post("/admin/plugins/hello/enable", data={"csrf_token": "stale"})
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    response = admin_client.post("/admin/plugins/hello/enable")
    assert response.status_code == 400
    with app.app_context():
        from core.plugin_system.services import get

        assert get("hello", app).state == "disabled"


def test_login_form_needs_csrf_too(client):
    response = client.post("/login", data={"email": ADMIN_EMAIL, "password": PASSWORD})
    assert response.status_code == 400


def test_the_api_refuses_cookie_authentication(app, admin_client):
    response = admin_client.get("/api/v1/users")
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthorized"
    assert "bearer token" in response.get_json()["message"]


def test_api_without_token_or_with_garbage_gets_401(app):
    client = app.test_client()
    assert client.get("/api/v1/users").status_code == 401
    response = client.get("/api/v1/users", headers={"Authorization": "Bearer crm_garbage"})
    assert response.status_code == 401
    assert response.get_json()["message"] == "The API token is invalid, expired or revoked."


def test_tokens_are_stored_hashed_and_can_be_revoked(app):
    client = app.test_client()
    headers = api_token(client)
    raw = headers["Authorization"].split()[1]
    assert client.get("/api/v1/users/me", headers=headers).get_json()["email"] == ADMIN_EMAIL
    with app.app_context():
        stored = db.session.execute(sa.select(ApiToken)).scalar_one()
        assert raw not in (stored.token_hash, stored.prefix) and raw.startswith(stored.prefix)
        token_id = stored.id
    listed = client.get("/api/v1/auth/tokens", headers=headers).get_json()
    assert [t["id"] for t in listed] == [token_id] and "token" not in listed[0]
    assert client.delete(f"/api/v1/auth/tokens/{token_id}", headers=headers).status_code == 204
    assert client.get("/api/v1/users/me", headers=headers).status_code == 401


def test_an_expired_token_is_refused(app):
    client = app.test_client()
    headers = api_token(client)
    with app.app_context():
        token = db.session.execute(sa.select(ApiToken)).scalar_one()
        token.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert client.get("/api/v1/users/me", headers=headers).status_code == 401


def test_tokens_are_created_and_revoked_on_the_profile_page(app, admin_client):
    response = post_form(
        admin_client, "/profile/tokens", {"name": "Accounting sync"}, page="/profile"
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Accounting sync" in page and 'data-testid="new-token"' in page
    # Never in the (signed, not encrypted) session cookie.
    assert "crm_" not in response.headers.get("Set-Cookie", "")
    raw = page.split('data-testid="new-token"')[1].split("<code>")[1].split("</code>")[0]
    headers = {"Authorization": f"Bearer {raw}"}
    assert app.test_client().get("/api/v1/users/me", headers=headers).status_code == 200
    # Shown once: the next visit does not show it again.
    assert raw not in admin_client.get("/profile").get_data(as_text=True)
    with app.app_context():
        token_id = db.session.execute(sa.select(ApiToken.id)).scalar_one()
    post_form(admin_client, f"/profile/tokens/{token_id}/revoke", page="/profile")
    assert app.test_client().get("/api/v1/users/me", headers=headers).status_code == 401


def test_next_parameter_cannot_redirect_off_site(app, client):
    token = csrf_token(client)
    response = client.post(
        "/login?next=https://evil.example/",
        data={"email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/"


def test_cli_user_commands(app, crm):
    result = crm(
        "users",
        "create",
        "--email",
        "Mia@Example.com",
        "--name",
        "Mia",
        "--password",
        "long-enough-pw",
        "--role",
        "Administrator",
    )
    assert result.exit_code == 0, result.output
    assert "mia@example.com" in crm("users", "list").output
    assert login(app.test_client(), "mia@example.com", "long-enough-pw").status_code == 302
    result = crm(
        "users",
        "create",
        "--email",
        "mia@example.com",
        "--name",
        "Mia",
        "--password",
        "long-enough-pw",
    )
    assert result.exit_code == 1 and "already exists" in result.output
    result = crm(
        "users", "create", "--email", "bo@example.com", "--name", "Bo", "--password", "short"
    )
    assert result.exit_code == 1 and "at least 10 characters" in result.output
    result = crm(
        "users",
        "create",
        "--email",
        "bo@example.com",
        "--name",
        "Bo",
        "--password",
        "long-enough-pw",
        "--role",
        "Nope",
    )
    assert result.exit_code == 1 and "no role named 'Nope'" in result.output
    result = crm("users", "set-password", "mia@example.com", "--password", "another-long-pw")
    assert result.exit_code == 0
    assert login(app.test_client(), "mia@example.com", "another-long-pw").status_code == 302
    result = crm("users", "set-password", "ghost@example.com", "--password", "another-long-pw")
    assert result.exit_code == 1 and "no user" in result.output
    with app.app_context():
        assert services.normalise_email(" A@B.C ") == "a@b.c"


def test_guessing_the_current_password_on_the_profile_is_rate_limited_too(app, admin_client):
    for _ in range(app.config["CRM_LOGIN_MAX_PER_ACCOUNT"] + 1):
        response = post_form(
            admin_client,
            "/profile/password",
            {"current_password": "guess-guess", "new_password": "x" * 12},
            page="/profile",
        )
        assert response.status_code == 302
    assert "Too many failed sign-ins" in admin_client.get("/profile").get_data(as_text=True)
