"""The audit log records who changed what, with old and new values; admins browse it."""

from __future__ import annotations

import sqlalchemy as sa

from core.audit.models import AuditLog
from core.db import db
from core.users.models import User
from tests.conftest import api_token


def _entries(app, entity, entity_id):
    with app.app_context():
        return (
            db.session.execute(
                sa.select(AuditLog)
                .filter_by(entity=entity, entity_id=entity_id)
                .order_by(AuditLog.id)
            )
            .scalars()
            .all()
        )


def test_changes_through_the_api_are_recorded_with_the_actor_and_values(app):
    client = app.test_client()
    headers = api_token(client)
    user = client.post(
        "/api/v1/users",
        headers=headers,
        json={"email": "olga@example.com", "name": "Olga", "password": "long-enough-pw"},
    ).get_json()
    client.patch(
        f"/api/v1/users/{user['id']}",
        headers=headers,
        json={"version": user["version"], "name": "Olga Ivanova", "timezone": "Europe/Chisinau"},
    )
    created, updated = _entries(app, "users", user["id"])
    with app.app_context():
        admin_id = db.session.execute(
            sa.select(User.id).filter_by(email="admin@example.com")
        ).scalar()
    assert created.action == "create" and created.user_id == admin_id
    assert created.changes["email"] == [None, "olga@example.com"]
    assert created.changes["password_hash"] == ["***", "***"]
    assert updated.action == "update" and updated.user_id == admin_id
    assert updated.changes == {
        "name": ["Olga", "Olga Ivanova"],
        "timezone": ["UTC", "Europe/Chisinau"],
    }


def test_role_membership_changes_are_recorded(app):
    client = app.test_client()
    headers = api_token(client)
    role = client.post("/api/v1/roles", headers=headers, json={"name": "Support"}).get_json()
    user = client.post(
        "/api/v1/users",
        headers=headers,
        json={"email": "p@example.com", "name": "P", "password": "long-enough-pw"},
    ).get_json()
    client.patch(
        f"/api/v1/users/{user['id']}",
        headers=headers,
        json={"version": user["version"], "role_ids": [role["id"]]},
    )
    last = _entries(app, "users", user["id"])[-1]
    assert last.changes["roles"] == [[], [role["id"]]]


def test_plugin_toggles_are_audited(app):
    client = app.test_client()
    headers = api_token(client)
    client.patch("/api/v1/plugins/hello", headers=headers, json={"enabled": True})
    with app.app_context():
        entries = (
            db.session.execute(
                sa.select(AuditLog).filter_by(entity="plugins").order_by(AuditLog.id)
            )
            .scalars()
            .all()
        )
    assert entries[-1].changes["enabled"] == [False, True]


def test_admin_browses_and_filters_the_audit_log(app, admin_client):
    client = app.test_client()
    headers = api_token(client)
    client.post("/api/v1/teams", headers=headers, json={"name": "Chișinău office"})
    page = admin_client.get("/admin/audit/?entity=teams").get_data(as_text=True)
    assert "Chișinău office" in page and "teams #" in page
    api = client.get("/api/v1/audit?entity=teams", headers=headers).get_json()
    assert api["items"][0]["changes"]["name"] == [None, "Chișinău office"]
    assert admin_client.get("/admin/audit/?entity_id=abc").status_code == 200


def test_new_records_remember_who_created_them(app):
    client = app.test_client()
    headers = api_token(client)
    team = client.post("/api/v1/teams", headers=headers, json={"name": "Berlin"}).get_json()
    from core.users.models import Team

    with app.app_context():
        admin_id = db.session.execute(
            sa.select(User.id).filter_by(email="admin@example.com")
        ).scalar()
        assert db.session.get(Team, team["id"]).created_by_id == admin_id


def test_a_concurrent_write_that_lost_the_race_gets_409_not_500(app):
    """Two workers read version 1; the second to save must not overwrite the first."""
    from sqlalchemy.orm.exc import StaleDataError

    from core.users.models import Team

    with app.app_context():
        team = Team(name="Race")
        db.session.add(team)
        db.session.commit()
        team_id = team.id
    with app.test_request_context("/api/v1/teams"):
        stale = db.session.get(Team, team_id)
        with db.engine.begin() as conn:  # the other worker saves first
            conn.execute(
                sa.text("UPDATE teams SET name='Winner', version=2 WHERE id=:i"), {"i": team_id}
            )
        stale.name = "Loser"
        try:
            db.session.commit()
        except StaleDataError as exc:
            response = app.make_response(app.handle_user_exception(exc))
        else:
            raise AssertionError("the stale write went through")
        assert response.status_code == 409
        assert response.get_json()["code"] == "conflict"
    with app.app_context():
        assert db.session.get(Team, team_id).name == "Winner"


def test_roles_at_creation_tokens_and_sign_ins_are_in_the_log(app):
    client = app.test_client()
    headers = api_token(client)
    with app.app_context():
        admin = db.session.execute(
            sa.select(User).filter_by(email="admin@example.com")
        ).scalar_one()
        admin_id, role_id = admin.id, admin.roles[0].id
    created = client.post(
        "/api/v1/users",
        headers=headers,
        json={
            "email": "boss2@example.com",
            "name": "Boss",
            "password": "long-enough-pw",
            "role_ids": [role_id],
        },
    ).get_json()
    first = _entries(app, "users", created["id"])[0]
    assert first.changes["roles"] == [None, [role_id]]
    tokens = _entries(app, "api_tokens", 1)
    assert tokens[0].action == "create" and tokens[0].user_id == admin_id
    assert tokens[0].changes["token_hash"] == ["***", "***"]
    sign_ins = [e for e in _entries(app, "users", admin_id) if "last_login_at" in e.changes]
    assert sign_ins and sign_ins[-1].user_id == admin_id
