"""Every route declares a permission; users without it get 403; scopes limit what they see."""

from __future__ import annotations

import sqlalchemy as sa
from crm_test_plugins.hello.models import Greeting

from core.db import db
from core.security import declared_permission, scoped
from core.users.models import Team, User
from tests.conftest import api_token, enable, login, make_app, make_user

SAFE_TO_CALL = {"GET"}


def test_every_route_declares_a_permission(app):
    missing = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"OPTIONS"}):
            if declared_permission(app, rule.endpoint, method) is None:
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    assert not missing, "routes without a declared permission:\n" + "\n".join(missing)


def test_a_route_without_a_declaration_is_refused(app, tmp_path):
    other = make_app(tmp_path / "other", app.config["SQLALCHEMY_DATABASE_URI"])

    @other.route("/undeclared")
    def undeclared():
        return "secret"

    client = other.test_client()
    login(client)
    response = client.get("/undeclared")
    assert response.status_code == 403 and b"secret" not in response.data


def test_pages_and_api_answer_403_without_the_permission(app, client):
    make_user(app, "clerk@example.com", permissions=["core.users.view"])
    login(client, "clerk@example.com")
    assert client.get("/admin/users").status_code == 200
    for path in (
        "/admin/users/new",
        "/admin/roles",
        "/admin/plugins/",
        "/admin/audit/",
        "/admin/settings/",
    ):
        assert client.get(path).status_code == 403, path
    headers = api_token(client, "clerk@example.com")
    api = client.application.test_client()
    assert api.get("/api/v1/users", headers=headers).status_code == 200
    for method, path in (
        ("get", "/api/v1/roles"),
        ("get", "/api/v1/plugins"),
        ("patch", "/api/v1/plugins/hello"),
        ("post", "/api/v1/users"),
        ("get", "/api/v1/audit"),
    ):
        response = getattr(api, method)(path, headers=headers, json={})
        assert response.status_code == 403, (method, path)
        assert response.get_json()["code"] == "forbidden"


def test_admin_menu_shows_only_what_the_user_may_open(app, client):
    make_user(app, "clerk@example.com", permissions=["core.users.view"])
    login(client, "clerk@example.com")
    page = client.get("/").get_data(as_text=True)
    assert ">Users</a>" in page
    assert ">Plugins</a>" not in page and ">Roles</a>" not in page


def _greetings_seen_by(app, email):
    with app.app_context():
        user = db.session.execute(sa.select(User).filter_by(email=email)).scalar_one()
        query = scoped(
            sa.select(Greeting.text).order_by(Greeting.id), user, "greetings", Greeting.owner_id
        )
        return db.session.execute(query).scalars().all()


def test_scope_own_team_and_all(app):
    enable(app, "hello")  # greets each new user with a greeting they own
    with app.app_context():
        north, south = Team(name="North"), Team(name="South")
        db.session.add_all([north, south])
        db.session.commit()
        north_id, south_id = north.id, south.id
    make_user(app, "own@example.com", ["hello.view"], {"greetings": "own"}, north_id, "Own")
    make_user(app, "mate@example.com", ["hello.view"], {"greetings": "own"}, north_id, "Mate")
    make_user(app, "lead@example.com", ["hello.view"], {"greetings": "team"}, north_id, "Lead")
    make_user(app, "far@example.com", ["hello.view"], {"greetings": "all"}, south_id, "Far")
    assert _greetings_seen_by(app, "own@example.com") == ["Welcome, Own!"]
    assert _greetings_seen_by(app, "lead@example.com") == [
        "Welcome, Own!",
        "Welcome, Mate!",
        "Welcome, Lead!",
    ]
    assert _greetings_seen_by(app, "far@example.com") == [
        "Welcome, Own!",
        "Welcome, Mate!",
        "Welcome, Lead!",
        "Welcome, Far!",
    ]


def test_scope_applies_through_the_plugin_api_too(app):
    enable(app, "hello")
    make_user(app, "a@example.com", ["hello.view"], {"greetings": "own"}, name="Anna")
    make_user(app, "b@example.com", ["hello.view"], {"greetings": "own"}, name="Boris")
    client = app.test_client()
    seen = client.get(
        "/api/v1/hello/greetings", headers=api_token(client, "a@example.com")
    ).get_json()
    assert [g["text"] for g in seen] == ["Welcome, Anna!"]


def test_the_widest_scope_of_a_users_roles_wins_and_admins_see_all(app):
    from core.users.models import Role

    with app.app_context():
        user = User(email="x@example.com", name="X", password_hash="-")
        user.roles = [
            Role(name="r1", scopes={"greetings": "own"}),
            Role(name="r2", scopes={"greetings": "team"}),
        ]
        assert user.scope_for("greetings") == "team"
        assert user.scope_for("deals") == "own"
        user.roles.append(Role(name="boss", is_admin=True))
        assert user.scope_for("deals") == "all"


def test_a_stale_team_form_does_not_undo_a_newer_rename(app, admin_client):
    from tests.conftest import post_form

    with app.app_context():
        team = Team(name="Sales")
        db.session.add(team)
        db.session.commit()
        team_id = team.id
    post_form(
        admin_client,
        f"/admin/teams/{team_id}",
        {"name": "Sales North", "version": "1"},
        page="/admin/teams",
    )
    post_form(
        admin_client,
        f"/admin/teams/{team_id}",
        {"name": "Sales", "version": "1"},
        page="/admin/teams",
    )
    with app.app_context():
        assert db.session.get(Team, team_id).name == "Sales North"
