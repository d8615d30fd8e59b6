"""Deals through the API: CRUD, moves and their rules, history, totals, bad input, scopes."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.db import db, utcnow
from plugins.sales import events
from plugins.sales.models import Deal, DealLine, Product, StageChange
from tests.conftest import make_user
from tests.plugins.sales.deals_helpers import manager, new_client, reason_id, sales_on, stages


@pytest.fixture
def sales(app):
    sales_on(app)
    return app


def _deal(api, client_id, **extra):
    response = api.post(
        "/api/v1/sales/deals",
        json={"title": "Windows for the cottage", "client_id": client_id, **extra},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_deal_is_created_read_changed_and_deleted_through_the_api(sales, api):
    client_id = new_client(sales)
    deal = _deal(
        api,
        client_id,
        amount="1500.50",
        currency="mdl",
        source="website",
        expected_close_on="2026-12-20",
        utm={"utm_source": "google"},
    )
    assert deal["stage_id"] == stages(sales)["First call"]
    assert deal["amount"] == "1500.50" and deal["currency"] == "MDL"
    assert deal["utm"] == {"utm_source": "google"} and deal["closed_at"] is None
    got = api.get(f"/api/v1/sales/deals/{deal['id']}").get_json()
    assert got["title"] == "Windows for the cottage" and got["version"] == 1
    changed = api.patch(
        f"/api/v1/sales/deals/{deal['id']}", json={"version": 1, "title": "Windows and doors"}
    )
    assert changed.status_code == 200 and changed.get_json()["version"] == 2
    listed = api.get("/api/v1/sales/deals", query_string={"client_id": client_id}).get_json()
    assert [d["title"] for d in listed["items"]] == ["Windows and doors"]
    assert api.delete(f"/api/v1/sales/deals/{deal['id']}").status_code == 204
    assert api.get(f"/api/v1/sales/deals/{deal['id']}").status_code == 404


def test_the_openapi_document_lists_the_sales_paths(sales, api):
    paths = api.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/sales/pipelines",
        "/api/v1/sales/deals",
        "/api/v1/sales/deals/{deal_id}",
        "/api/v1/sales/deals/{deal_id}/move",
    ):
        assert path in paths


def test_pipelines_are_listed_with_their_stages_and_created_by_an_admin(sales, api):
    listed = api.get("/api/v1/sales/pipelines").get_json()
    assert [s["name"] for s in listed[0]["stages"]] == [
        "First call",
        "Measurements",
        "Approval",
        "Payment",
        "Installation",
        "Won",
        "Lost",
    ]
    created = api.post(
        "/api/v1/sales/pipelines",
        json={"name": "Service", "stages": [{"name": "Request"}, {"name": "Done", "kind": "won"}]},
    )
    assert created.status_code == 201
    assert [s["kind"] for s in created.get_json()["stages"]] == ["open", "won"]
    assert api.post("/api/v1/sales/pipelines", json={"name": "Service"}).status_code == 422


def test_moving_records_who_and_when_and_tells_the_listeners(sales, api):
    entered = []
    listener = events.on_stage_entered(
        lambda deal, change, actor: entered.append(change.to_stage_id)
    )
    try:
        s = stages(sales)
        deal = _deal(api, new_client(sales))
        for name in ("Measurements", "Approval", "Payment"):
            moved = api.post(f"/api/v1/sales/deals/{deal['id']}/move", json={"stage_id": s[name]})
            assert moved.status_code == 200 and moved.get_json()["stage_id"] == s[name]
    finally:
        events._listeners.remove(listener)
    assert entered == [s["First call"], s["Measurements"], s["Approval"], s["Payment"]]
    with sales.app_context():
        changes = (
            db.session.execute(
                sa.select(StageChange)
                .where(StageChange.deal_id == deal["id"])
                .order_by(StageChange.id)
            )
            .scalars()
            .all()
        )
        assert [(c.from_stage_id, c.to_stage_id) for c in changes] == [
            (None, s["First call"]),
            (s["First call"], s["Measurements"]),
            (s["Measurements"], s["Approval"]),
            (s["Approval"], s["Payment"]),
        ]
        assert all(c.by_id == 1 and c.at is not None for c in changes)


def test_won_sets_closed_at_lost_needs_a_reason_and_reopening_clears_both(sales, api):
    s = stages(sales)
    deal = _deal(api, new_client(sales))
    url = f"/api/v1/sales/deals/{deal['id']}/move"
    won = api.post(url, json={"stage_id": s["Won"]}).get_json()
    assert won["closed_at"] is not None
    reopened = api.post(url, json={"stage_id": s["Payment"]}).get_json()
    assert reopened["closed_at"] is None
    refused = api.post(url, json={"stage_id": s["Lost"]})
    assert refused.status_code == 422 and "lost_reason_id" in refused.get_json()["errors"]
    assert api.get(f"/api/v1/sales/deals/{deal['id']}").get_json()["stage_id"] == s["Payment"]
    lost = api.post(
        url, json={"stage_id": s["Lost"], "lost_reason_id": reason_id(sales), "note": "Too far"}
    ).get_json()
    assert lost["lost_reason_id"] == reason_id(sales) and lost["lost_note"] == "Too far"
    assert lost["closed_at"] is not None
    back = api.post(url, json={"stage_id": s["Approval"]}).get_json()
    assert back["lost_reason_id"] is None and back["closed_at"] is None


def test_a_stage_of_another_pipeline_or_a_removed_one_is_refused(sales, api):
    other = api.post("/api/v1/sales/pipelines", json={"name": "Service"}).get_json()
    deal = _deal(api, new_client(sales))
    url = f"/api/v1/sales/deals/{deal['id']}/move"
    refused = api.post(url, json={"stage_id": other["stages"][0]["id"]})
    assert refused.status_code == 422 and "stage_id" in refused.get_json()["errors"]
    assert api.post(url, json={"stage_id": 999_999}).status_code == 422
    with sales.app_context():
        from core.db import utcnow
        from plugins.sales.models import Stage

        db.session.get(Stage, stages(sales)["Approval"]).removed_at = utcnow()
        db.session.commit()
    assert api.post(url, json={"stage_id": stages(sales)["Approval"]}).status_code == 422
    after = api.get(f"/api/v1/sales/deals/{deal['id']}").get_json()
    assert after["stage_id"] == stages(sales)["First call"] and after["version"] == 1


def test_lines_compute_net_vat_and_totals_rounded_half_up_and_make_the_amount(sales, api):
    with sales.app_context():
        product = Product(
            name="PVC window 1200x1400",
            unit="pcs",
            price=Decimal("4250.00"),
            currency="MDL",
            vat_rate=Decimal("20"),
        )
        db.session.add(product)
        db.session.commit()
        product_id = product.id
    deal = _deal(
        api,
        new_client(sales),
        currency="MDL",
        amount="1",
        lines=[
            {
                "name": "Glass",
                "quantity": "3",
                "price": "19.99",
                "discount_percent": "12.5",
                "vat_rate": "20",
            },
            {"name": "Screw", "quantity": "1", "price": "0.05", "discount_percent": "50"},
            {"product_id": product_id, "quantity": "2", "discount_percent": "10"},
        ],
    )
    lines = deal["lines"]
    # 3 x 19.99 = 59.97, less 12.5 % = 52.47375 -> 52.47; VAT 20 % = 10.494 -> 10.49.
    assert (lines[0]["net_amount"], lines[0]["vat_amount"], lines[0]["total_amount"]) == (
        "52.47",
        "10.49",
        "62.96",
    )
    # 0.025 rounds half up to 0.03 (banker's rounding would give 0.02).
    assert lines[1]["net_amount"] == "0.03" and lines[1]["total_amount"] == "0.03"
    # The product fills name, unit, price and VAT: 2 x 4250 less 10 % = 7650, VAT 1530.
    assert lines[2]["name"] == "PVC window 1200x1400" and lines[2]["price"] == "4250.00"
    assert (lines[2]["net_amount"], lines[2]["vat_amount"], lines[2]["total_amount"]) == (
        "7650.00",
        "1530.00",
        "9180.00",
    )
    assert deal["amount"] == "9242.99"
    patched = api.patch(
        f"/api/v1/sales/deals/{deal['id']}",
        json={
            "version": deal["version"],
            "lines": [{"name": "Door", "price": "100", "vat_rate": "7.5"}],
        },
    ).get_json()
    assert patched["amount"] == "107.50" and len(patched["lines"]) == 1


BAD = [
    ({"lines": [{"name": "x", "quantity": "-1", "price": "1"}]}, "lines.0.quantity"),
    ({"lines": [{"name": "x", "price": "-5"}]}, "lines.0.price"),
    (
        {"lines": [{"name": "x", "price": "5", "discount_percent": "100.5"}]},
        "lines.0.discount_percent",
    ),
    ({"lines": [{"product_id": 424242}]}, "lines.0.product_id"),
    ({"currency": "ABC"}, "currency"),
    ({"client_id": 999_999}, "client_id"),
    ({"amount": "-3"}, "amount"),
    ({"expected_close_on": "someday"}, "expected_close_on"),
    ({"title": ""}, "title"),
]


@pytest.mark.parametrize(("change", "field"), BAD)
def test_bad_input_is_refused_naming_the_field_and_changes_nothing(sales, api, change, field):
    client_id = new_client(sales)
    deal = _deal(api, client_id, amount="10")
    response = api.patch(f"/api/v1/sales/deals/{deal['id']}", json={"version": 1, **change})
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    after = api.get(f"/api/v1/sales/deals/{deal['id']}").get_json()
    assert after["version"] == 1 and after["amount"] == "10.00" and after["lines"] == []
    created = api.post("/api/v1/sales/deals", json={"title": "x", "client_id": client_id, **change})
    assert created.status_code == 422 and field in created.get_json()["errors"]
    with sales.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Deal)).scalar() == 1
        assert db.session.execute(sa.select(sa.func.count()).select_from(DealLine)).scalar() == 0


def test_a_contact_of_another_client_and_an_inactive_owner_are_refused(sales, api):
    from core.users import services as user_services
    from core.users.models import User

    first, second = new_client(sales, "First"), new_client(sales, "Second")
    contact = api.post(
        f"/api/v1/clients/{second}/contacts", json={"first_name": "Ion", "last_name": "Rusu"}
    )
    assert contact.status_code == 201, contact.get_json()
    refused = api.post(
        "/api/v1/sales/deals",
        json={"title": "x", "client_id": first, "contact_person_id": contact.get_json()["id"]},
    )
    assert refused.status_code == 422 and "contact_person_id" in refused.get_json()["errors"]
    gone = make_user(sales, "gone@example.com")
    with sales.app_context():
        user_services.update_user(db.session.get(User, gone), {"active": False})
    refused = api.post(
        "/api/v1/sales/deals", json={"title": "x", "client_id": first, "owner_id": gone}
    )
    assert refused.status_code == 422 and "owner_id" in refused.get_json()["errors"]


def test_a_stale_version_gets_409_and_changes_nothing(sales, api):
    deal = _deal(api, new_client(sales))
    url = f"/api/v1/sales/deals/{deal['id']}"
    assert api.patch(url, json={"version": 1, "title": "First edit"}).status_code == 200
    stale = api.patch(url, json={"version": 1, "title": "Second edit"})
    assert stale.status_code == 409
    assert api.get(url).get_json()["title"] == "First edit"
    move = api.post(url + "/move", json={"stage_id": stages(sales)["Approval"], "version": 1})
    assert move.status_code == 409


def test_scope_own_team_and_all_apply_to_every_route(sales, api):
    from core.users.models import Team

    with sales.app_context():
        team = Team(name="North")
        db.session.add(team)
        db.session.commit()
        team_id = team.id
    anna, anna_api = manager(sales, "anna@example.com", "own", team_id)
    boris, boris_api = manager(sales, "boris@example.com", "own", team_id)
    _head, team_api = manager(sales, "head@example.com", "team", team_id)
    _boss, all_api = manager(sales, "boss@example.com", "all")
    client_id = new_client(sales)
    deal = _deal(api, client_id, owner_id=anna)
    path = f"/api/v1/sales/deals/{deal['id']}"
    client = sales.test_client()
    approval = stages(sales)["Approval"]

    def calls(headers):
        return [
            client.get(path, headers=headers).status_code,
            client.patch(path, json={"version": 1, "title": "Mine"}, headers=headers).status_code,
            client.post(path + "/move", json={"stage_id": approval}, headers=headers).status_code,
            client.delete(path, headers=headers).status_code,
        ]

    assert calls(boris_api) == [404, 404, 404, 404]
    listed = client.get("/api/v1/sales/deals", headers=boris_api).get_json()["items"]
    assert listed == []
    assert client.get(path, headers=anna_api).status_code == 200
    assert client.get(path, headers=team_api).status_code == 200
    assert client.get(path, headers=all_api).status_code == 200
    assert [
        d["id"] for d in client.get("/api/v1/sales/deals", headers=team_api).get_json()["items"]
    ] == [deal["id"]]
    assert api.get(path).get_json()["title"] == "Windows for the cottage"


def test_the_list_filters_and_pages_with_a_cursor(sales, api):
    client_id = new_client(sales)
    s = stages(sales)
    ids = [_deal(api, client_id, source="website" if n % 2 else "phone")["id"] for n in range(5)]
    api.post(f"/api/v1/sales/deals/{ids[0]}/move", json={"stage_id": s["Won"]})
    first = api.get("/api/v1/sales/deals", query_string={"limit": 2}).get_json()
    assert [d["id"] for d in first["items"]] == ids[::-1][:2] and first["next_cursor"]
    second = api.get(
        "/api/v1/sales/deals", query_string={"limit": 2, "cursor": first["next_cursor"]}
    ).get_json()
    assert [d["id"] for d in second["items"]] == ids[::-1][2:4]
    web = api.get("/api/v1/sales/deals", query_string={"source": "website"}).get_json()
    assert len(web["items"]) == 2
    won = api.get("/api/v1/sales/deals", query_string={"stage_id": s["Won"]}).get_json()
    assert [d["id"] for d in won["items"]] == [ids[0]]
    today = utcnow().date().isoformat()
    dated = api.get("/api/v1/sales/deals", query_string={"created_from": today}).get_json()
    assert len(dated["items"]) == 5
    assert api.get("/api/v1/sales/deals", query_string={"limit": 0}).status_code == 422
    assert api.get("/api/v1/sales/deals", query_string={"created_from": "x"}).status_code == 422
