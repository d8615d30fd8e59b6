"""Holes found in review, kept shut: privilege escalation, input that used to answer 500."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.db import db
from core.users.models import Role, User
from tests.conftest import ADMIN_EMAIL, PASSWORD, api_token, login, make_user, post_form


def _ids(app):
    with app.app_context():
        admin_role = db.session.execute(sa.select(Role.id).filter_by(is_admin=True)).scalar_one()
        admin = db.session.execute(sa.select(User).filter_by(email=ADMIN_EMAIL)).scalar_one()
        return admin_role, admin.id, admin.version


@pytest.fixture
def manager(app):
    make_user(app, "hr@example.com", ["core.users.view", "core.users.manage", "core.roles.manage"])
    client = app.test_client()
    return client, api_token(client, "hr@example.com")


def test_a_user_manager_cannot_make_anyone_an_administrator(app, manager):
    client, headers = manager
    admin_role, admin_id, admin_version = _ids(app)
    with app.app_context():
        me = db.session.execute(sa.select(User).filter_by(email="hr@example.com")).scalar_one()
        my_id, my_version = me.id, me.version
    response = client.patch(
        f"/api/v1/users/{my_id}",
        headers=headers,
        json={"version": my_version, "role_ids": [admin_role]},
    )
    assert response.status_code == 403 and "administrator" in response.get_json()["message"]
    response = client.post(
        "/api/v1/users",
        headers=headers,
        json={
            "email": "sock@example.com",
            "name": "Sock",
            "password": "long-enough-pw",
            "role_ids": [admin_role],
        },
    )
    assert response.status_code == 403
    response = client.patch(
        f"/api/v1/users/{admin_id}",
        headers=headers,
        json={"version": admin_version, "password": "attacker-chosen-pw"},
    )
    assert response.status_code == 403
    assert login(app.test_client(), ADMIN_EMAIL, PASSWORD).status_code == 302
    assert client.get("/api/v1/plugins", headers=headers).status_code == 403


def test_a_role_manager_cannot_grant_what_they_do_not_hold(app, manager):
    client, headers = manager
    with app.app_context():
        my_role = db.session.execute(
            sa.select(Role).filter_by(name="role for hr@example.com")
        ).scalar_one()
        role_id, version = my_role.id, my_role.version
    response = client.patch(
        f"/api/v1/roles/{role_id}", headers=headers, json={"version": version, "is_admin": True}
    )
    assert response.status_code == 403
    response = client.post(
        "/api/v1/roles",
        headers=headers,
        json={"name": "Plugins", "permissions": ["core.plugins.manage"]},
    )
    assert response.status_code == 403 and "core.plugins.manage" in response.get_json()["message"]
    response = client.post(
        "/api/v1/roles", headers=headers, json={"name": "Wide", "scopes": {"clients": "all"}}
    )
    assert response.status_code == 403 and "scope" in response.get_json()["message"]
    ok = client.post(
        "/api/v1/roles",
        headers=headers,
        json={"name": "Viewer", "permissions": ["core.users.view"]},
    )
    assert ok.status_code == 201


def test_the_user_form_refuses_escalation_too(app):
    make_user(app, "hr@example.com", ["core.users.view", "core.users.manage"])
    admin_role, admin_id, _ = _ids(app)
    page = app.test_client()
    login(page, "hr@example.com")
    with app.app_context():
        me = db.session.execute(sa.select(User).filter_by(email="hr@example.com")).scalar_one()
    response = post_form(
        page,
        f"/admin/users/{me.id}",
        {
            "name": "HR",
            "email": "hr@example.com",
            "version": str(me.version),
            "locale": "en",
            "timezone": "UTC",
            "active": "on",
            "role_ids": [str(admin_role)],
        },
        page=f"/admin/users/{me.id}",
    )
    assert response.status_code == 403
    assert page.get("/admin/plugins/").status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        (
            "post",
            "/api/v1/auth/token",
            {"data": "[" * 100000 + "]" * 100000, "content_type": "application/json"},
        ),
        ("get", "/api/v1/users/99999999999999999999", {}),
        ("get", "/api/v1/users?after=99999999999999999999", {}),
        ("get", "/api/v1/audit?entity_id=99999999999999999999", {}),
        ("post", "/api/v1/auth/token", {"json": {"email": "a\x00b", "password": "x"}}),
        ("get", "/api/v1/users?q=a%00b", {}),
    ],
)
def test_odd_api_input_gets_4xx_not_500(app, method, path, kwargs):
    client = app.test_client()
    headers = api_token(client)
    response = getattr(client, method)(path, headers=headers, **kwargs)
    assert 400 <= response.status_code < 500, (
        path,
        response.status_code,
        response.get_data()[:300],
    )
    assert response.get_json()["code"]


@pytest.mark.parametrize(
    "path",
    [
        "/admin/audit/?before=%C2%B2",
        "/clients/merge?ids=1,%C2%B2",
        "/admin/audit/?entity_id=99999999999999999999999",
    ],
)
def test_odd_page_input_gets_no_500(app, admin_client, path):
    assert admin_client.get(path).status_code < 500


def test_a_nul_character_in_a_form_is_refused(app, client):
    token = (
        client.get("/login")
        .get_data(as_text=True)
        .split('name="csrf-token" content="')[1]
        .split('"')[0]
    )
    response = client.post("/login", data={"email": "a\x00b", "password": "x", "csrf_token": token})
    assert response.status_code == 400


def test_relations_do_not_reveal_clients_outside_the_scope(app):
    from core.clients import services

    make_user(app, "own@example.com", ["clients.view"], {"clients": "own"})
    with app.app_context():
        me = db.session.execute(sa.select(User).filter_by(email="own@example.com")).scalar_one()
        mine = services.create_client({"name": "Mine", "owner_id": me.id})
        secret = services.create_client({"name": "Secret Partner", "owner_id": 1})
        services.add_relation(mine, secret, "partner")
        mine_id = mine.id
    page = app.test_client()
    login(page, "own@example.com")
    card = page.get(f"/clients/{mine_id}").get_data(as_text=True)
    assert "Secret Partner" not in card and "a client you cannot see" in card
