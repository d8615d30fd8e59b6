"""Bulk changes and saved filters: many clients at once, each change in the history."""

from __future__ import annotations

import sqlalchemy as sa

from core.clients import services
from core.clients.models import Client
from core.db import db
from core.users.models import User
from tests.conftest import api_token, login, make_user, post_form


def _seed(app, count=6):
    with app.app_context():
        ids = [
            services.create_client(
                {
                    "name": f"Bulk {n}",
                    "status": "lead",
                    "owner_id": 1,
                    "tags": ["old"] if n % 2 else [],
                }
            ).id
            for n in range(count)
        ]
        return ids


def _client(app, client_id) -> Client:
    with app.app_context():
        client = db.session.get(Client, client_id)
        client.tags  # noqa: B018 - load while the session is open
        return client


def test_bulk_api_by_ids_and_by_filter(app):
    ids = _seed(app)
    make_user(app, "new.owner@example.com", ["clients.view"], name="New Owner")
    with app.app_context():
        new_owner = db.session.execute(
            sa.select(User.id).filter_by(email="new.owner@example.com")
        ).scalar()
    client = app.test_client()
    headers = api_token(client)
    response = client.post(
        "/api/v1/clients/bulk",
        headers=headers,
        json={"action": "assign_owner", "value": new_owner, "ids": ids[:3]},
    )
    assert response.status_code == 200 and response.get_json() == {"changed": 3}
    assert [_client(app, i).owner_id for i in ids] == [new_owner] * 3 + [1] * 3
    response = client.post(
        "/api/v1/clients/bulk",
        headers=headers,
        json={"action": "set_status", "value": "customer", "filter": {"tags": "old"}},
    )
    assert response.get_json() == {"changed": 3}
    assert [_client(app, i).status for i in ids] == ["lead", "customer"] * 3
    response = client.post(
        "/api/v1/clients/bulk",
        headers=headers,
        json={"action": "add_tags", "value": ["vip", "old"], "ids": ids},
    )
    assert response.get_json() == {"changed": 6}
    assert sorted(t.name for t in _client(app, ids[0]).tags) == ["old", "vip"]
    found = client.get("/api/v1/clients?q=vip", headers=headers).get_json()["items"]
    assert len(found) == 6  # the search index knows the new tags
    history = client.get(
        "/api/v1/audit", headers=headers, query_string={"entity": "clients", "entity_id": ids[0]}
    ).get_json()["items"]
    assert history[0]["changes"]["tags"] == [[], ["old", "vip"]]
    response = client.post(
        "/api/v1/clients/bulk", headers=headers, json={"action": "trash", "ids": ids[:2]}
    )
    assert response.get_json() == {"changed": 2}
    assert len(client.get("/api/v1/clients", headers=headers).get_json()["items"]) == 4


def test_bad_bulk_requests_change_nothing(app):
    ids = _seed(app)
    client = app.test_client()
    headers = api_token(client)
    cases = [
        ({"action": "explode", "ids": ids}, "action"),
        ({"action": "set_status", "value": "vip", "ids": ids}, "value"),
        ({"action": "assign_owner", "value": 999, "ids": ids}, "value"),
        ({"action": "add_tags", "value": [], "ids": ids}, "value"),
        ({"action": "set_status", "value": "customer"}, "ids"),
        (
            {"action": "set_status", "value": "customer", "filter": {"sort": "colour"}},
            "filter.sort",
        ),
    ]
    for body, field in cases:
        response = client.post("/api/v1/clients/bulk", headers=headers, json=body)
        assert response.status_code == 422, (body, response.get_json())
        assert field in response.get_json()["errors"], (body, response.get_json())
    assert {_client(app, i).status for i in ids} == {"lead"}


def test_bulk_never_reaches_outside_the_scope(app):
    ids = _seed(app, 2)
    make_user(
        app,
        "own@example.com",
        ["clients.view", "clients.edit", "clients.delete"],
        {"clients": "own"},
    )
    client = app.test_client()
    headers = api_token(client, "own@example.com")
    response = client.post(
        "/api/v1/clients/bulk", headers=headers, json={"action": "trash", "ids": ids}
    )
    assert response.get_json() == {"changed": 0}
    response = client.post(
        "/api/v1/clients/bulk", headers=headers, json={"action": "trash", "filter": {}}
    )
    assert response.get_json() == {"changed": 0}
    make_user(app, "editor@example.com", ["clients.view", "clients.edit"], {"clients": "all"})
    headers = api_token(client, "editor@example.com")
    response = client.post(
        "/api/v1/clients/bulk", headers=headers, json={"action": "trash", "ids": ids}
    )
    assert response.status_code == 403
    assert all(_client(app, i).deleted_at is None for i in ids)


def test_bulk_form_and_saved_filters_on_the_list(app, admin_client):
    ids = _seed(app)
    page = admin_client.get("/clients/?tags=old")
    assert 'data-testid="bulk-form"' in page.get_data(as_text=True)
    post_form(
        admin_client,
        "/clients/bulk",
        {"action": "set_status", "value": "prospect", "scope": "filter", "query": "tags=old"},
        page="/clients/?tags=old",
    )
    assert [_client(app, i).status for i in ids] == ["lead", "prospect"] * 3
    post_form(
        admin_client,
        "/clients/bulk",
        {"action": "add_tags", "value": "north, east", "scope": "selected", "ids": [str(ids[0])]},
        page="/clients/",
    )
    assert sorted(t.name for t in _client(app, ids[0]).tags) == ["east", "north"]
    post_form(
        admin_client,
        "/clients/filters",
        {"name": "Old ones", "query": "tags=old"},
        page="/clients/?tags=old",
    )
    listing = admin_client.get("/clients/").get_data(as_text=True)
    assert "Old ones" in listing and "?tags=old" in listing
    other = app.test_client()
    make_user(app, "other@example.com", ["clients.view"], {"clients": "all"})
    login(other, "other@example.com")
    assert "Old ones" not in other.get("/clients/").get_data(as_text=True)
