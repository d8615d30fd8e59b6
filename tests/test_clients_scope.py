"""Record scope on clients: "own" sees its own, "team" its team's, "all" everything — in every
list, search, card and API route. And lists stay a fixed few queries however long they are."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.clients import queries, services
from core.db import db
from core.users.models import Team, User
from tests.conftest import QueryCounter, api_token, login, make_user

VIEW = ["clients.view", "clients.create", "clients.edit", "clients.delete", "clients.merge"]


def _user_id(app, email):
    with app.app_context():
        return db.session.execute(sa.select(User.id).filter_by(email=email)).scalar_one()


@pytest.fixture
def office(app):
    """Anna and Boris (scope own) in team North with Lena (scope team); Sam (scope all) in South."""
    with app.app_context():
        north, south = Team(name="North"), Team(name="South")
        db.session.add_all([north, south])
        db.session.commit()
        north_id, south_id = north.id, south.id
    make_user(app, "anna@example.com", VIEW, {"clients": "own"}, north_id, "Anna")
    make_user(app, "boris@example.com", VIEW, {"clients": "own"}, north_id, "Boris")
    make_user(app, "lena@example.com", VIEW, {"clients": "team"}, north_id, "Lena")
    make_user(app, "sam@example.com", VIEW, {"clients": "all"}, south_id, "Sam")
    ids = {}
    with app.app_context():
        for name, owner in [
            ("Anna Windows", "anna"),
            ("Boris Doors", "boris"),
            ("Sam Blinds", "sam"),
        ]:
            client = services.create_client(
                {
                    "name": name,
                    "owner_id": _user_id(app, f"{owner}@example.com"),
                    "phones": [f"+49 30 55{len(ids)}0000"],
                    "emails": [f"{owner}@client.example"],
                }
            )
            ids[owner] = client.id
    return ids


def _api(app, email):
    client = app.test_client()
    headers = api_token(client, email)
    return client, headers


def _visible_ids(app, email, query=""):
    client, headers = _api(app, email)
    response = client.get("/api/v1/clients", headers=headers, query_string={"q": query})
    assert response.status_code == 200
    return sorted(c["id"] for c in response.get_json()["items"])


def test_each_scope_sees_what_it_should_in_the_api_list(app, office):
    assert _visible_ids(app, "anna@example.com") == [office["anna"]]
    assert _visible_ids(app, "boris@example.com") == [office["boris"]]
    assert _visible_ids(app, "lena@example.com") == sorted([office["anna"], office["boris"]])
    assert _visible_ids(app, "sam@example.com") == sorted(office.values())


@pytest.mark.parametrize("query", ["Boris", "boris@client.example", "+49 30 5510000", "5510000"])
def test_searching_never_reveals_another_managers_client(app, office, query):
    assert _visible_ids(app, "anna@example.com", query) == []
    assert _visible_ids(app, "boris@example.com", query) == [office["boris"]]


def test_every_client_route_answers_404_for_a_client_outside_the_scope(app, office):
    client, headers = _api(app, "anna@example.com")
    other = office["boris"]
    calls = [
        ("get", f"/api/v1/clients/{other}", None),
        ("patch", f"/api/v1/clients/{other}", {"version": 1, "name": "Mine now"}),
        ("delete", f"/api/v1/clients/{other}", None),
        ("get", f"/api/v1/clients/{other}/contacts", None),
        ("post", f"/api/v1/clients/{other}/contacts", {"last_name": "Spy"}),
        ("get", f"/api/v1/clients/{other}/relations", None),
        (
            "post",
            f"/api/v1/clients/{other}/relations",
            {"other_id": office["anna"], "kind": "partner"},
        ),
    ]
    for method, path, body in calls:
        response = getattr(client, method)(path, headers=headers, json=body)
        assert response.status_code == 404, (method, path, response.get_json())
    # Relating her own client to his is refused the same way: his id is not hers to use.
    response = client.post(
        f"/api/v1/clients/{office['anna']}/relations",
        headers=headers,
        json={"other_id": other, "kind": "partner"},
    )
    assert response.status_code == 422
    with app.app_context():
        sam = db.session.get(User, _user_id(app, "sam@example.com"))
        assert queries.get_visible(other, sam).name == "Boris Doors"


def test_pages_hide_other_managers_clients_too(app, office, client):
    login(client, "anna@example.com")
    listing = client.get("/clients/").get_data(as_text=True)
    assert "Anna Windows" in listing and "Boris Doors" not in listing
    assert "Boris Doors" not in client.get("/clients/?q=Boris").get_data(as_text=True)
    assert "Boris Doors" not in client.get("/search?q=Boris").get_data(as_text=True)
    for path in (f"/clients/{office['boris']}", f"/clients/{office['boris']}/edit"):
        assert client.get(path).status_code == 404, path
    page = client.get("/clients/")
    token = page.get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]
    response = client.post(f"/clients/{office['boris']}/delete", data={"csrf_token": token})
    assert response.status_code == 404


def test_the_duplicate_finder_never_pairs_a_client_with_another_managers(app, office):
    """Anna's new client has Boris's e-mail; neither sees the pair, their team lead and Sam do."""
    with app.app_context():
        copy = services.create_client(
            {
                "name": "Anna Copy",
                "owner_id": _user_id(app, "anna@example.com"),
                "emails": ["boris@client.example"],
            }
        ).id
    client, headers = _api(app, "sam@example.com")
    assert client.post("/api/v1/clients/duplicate-scans", headers=headers).status_code == 202
    pair = frozenset((copy, office["boris"]))

    def pairs(email):
        client, headers = _api(app, email)
        response = client.get("/api/v1/clients/duplicate-pairs", headers=headers)
        assert response.status_code == 200
        return {
            frozenset((p["client_a"]["id"], p["client_b"]["id"])): p["id"]
            for p in response.get_json()["items"]
        }

    assert set(pairs("sam@example.com")) == set(pairs("lena@example.com")) == {pair}
    assert pairs("anna@example.com") == {} and pairs("boris@example.com") == {}
    pair_id = pairs("sam@example.com")[pair]
    for email in ("anna@example.com", "boris@example.com"):
        client, headers = _api(app, email)
        path = f"/api/v1/clients/duplicate-pairs/{pair_id}/dismiss"
        assert client.post(path, headers=headers).status_code == 404, email
        login(client, email)
        page = client.get("/clients/duplicates/").get_data(as_text=True)
        assert "Boris Doors" not in page and "Anna Copy" not in page
        assert f'data-pair-id="{pair_id}"' not in page
    client, headers = _api(app, "sam@example.com")
    assert (
        client.post(
            f"/api/v1/clients/duplicate-pairs/{pair_id}/dismiss", headers=headers
        ).get_json()["status"]
        == "dismissed"
    )


def _client_rows(app, count):
    with app.app_context():
        owner = _user_id(app, "admin@example.com")
        for n in range(count):
            services.create_client(
                {
                    "name": f"Row {n:03d}",
                    "owner_id": owner,
                    "tags": ["t"],
                    "phones": [f"+49 30 {1000000 + n}"],
                    "emails": [f"row{n}@example.com"],
                }
            )


@pytest.mark.parametrize("path", ["/api/v1/clients?limit={n}", "/clients/?limit={n}"])
def test_a_list_runs_the_same_few_queries_for_10_rows_as_for_100(app, path, client):
    _client_rows(app, 100)
    if path.startswith("/api"):
        headers = api_token(client)
    else:
        login(client)
        headers = {}
    counts = {}
    for n in (10, 100):
        client.get(path.format(n=n), headers=headers)  # warm caches (plugin state, settings)
        with QueryCounter(app) as counter:
            response = client.get(path.format(n=n), headers=headers)
        assert response.status_code == 200
        counts[n] = counter.count
        assert not any(
            "count(" in s.lower() and "from clients" in s.lower() for s in counter.statements
        ), counter.statements
    assert counts[10] == counts[100] <= 16, counts


def test_a_deep_page_uses_the_keyset_not_offset(app):
    _client_rows(app, 30)
    client, headers = _api(app, "admin@example.com")
    cursor = client.get("/api/v1/clients?limit=10", headers=headers).get_json()["next_cursor"]
    with QueryCounter(app) as counter:
        client.get("/api/v1/clients", headers=headers, query_string={"limit": 10, "cursor": cursor})
    main = [
        (s, p)
        for s, p in zip(counter.statements, counter.parameters, strict=True)
        if "FROM clients" in s and "ORDER BY" in s
    ]
    statement, parameters = main[0]
    assert "(clients.name_key, clients.id) >" in statement
    if "OFFSET" in statement:  # SQLite always renders one; it must skip nothing
        assert parameters[-1] == 0
