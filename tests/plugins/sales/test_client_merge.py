"""Merging clients with deals, invoices and sales plans: everything of the merged client
shows on the survivor, the board and the funnel are unchanged, and purging the merged
client from the trash keeps the invoices."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from core.db import db
from plugins.sales.models import StageEntry, StageTotal
from tests.plugins.sales.deals_helpers import manager, sales_on, stages


def _ok(response, status=200):
    assert response.status_code == status, response.get_json()
    return response.get_json()


def _totals(app) -> tuple[set, set]:
    """The board's stage totals and the funnel's stage entries, as the triggers keep them."""
    with app.app_context():
        totals = {
            (t.stage_id, t.owner_key, t.currency, t.source_key, t.deals, t.amount_cents)
            for t in db.session.execute(sa.select(StageTotal)).scalars()
        }
        entries = {
            (e.stage_id, e.day, e.owner_key, e.currency, e.entries)
            for e in db.session.execute(sa.select(StageEntry)).scalars()
        }
    return totals, entries


def test_deals_invoices_and_plans_of_a_merged_client_move_to_the_survivor(app, api, admin_client):
    sales_on(app)
    s = stages(app)
    anna, _ = manager(app, "anna@example.com")
    merged = _ok(
        api.post("/api/v1/clients", json={"name": "Okna Plus", "phones": ["+373 22 123 456"]}),
        201,
    )
    survivor = _ok(api.post("/api/v1/clients", json={"name": "OKNA PLUS SRL"}), 201)
    a, b = merged["id"], survivor["id"]
    contact = _ok(
        api.post(f"/api/v1/clients/{a}/contacts", json={"first_name": "Ion", "last_name": "Rusu"}),
        201,
    )

    def deal(client_id, title, amount, currency, **extra):
        body = {"title": title, "client_id": client_id, "amount": amount, "currency": currency}
        return _ok(api.post("/api/v1/sales/deals", json={**body, **extra}), 201)

    windows = deal(a, "Windows for the office", "100.10", "EUR", owner_id=anna, source="ads")
    windows = _ok(
        api.patch(
            f"/api/v1/sales/deals/{windows['id']}",
            json={"version": windows["version"], "contact_person_id": contact["id"]},
        )
    )
    doors = deal(a, "Doors", "20.00", "USD")
    _ok(api.post(f"/api/v1/sales/deals/{doors['id']}/move", json={"stage_id": s["Approval"]}))
    own = deal(b, "Survivor's own deal", "50.00", "EUR")
    invoice = _ok(api.post(f"/api/v1/sales/deals/{windows['id']}/invoices", json={}), 201)
    assert invoice["client_id"] == a
    month, next_month = date.today().replace(day=1), date.today().replace(day=28) + timedelta(5)
    plans = ((a, month, "1000.00"), (b, month, "500.00"), (a, next_month, "300.00"))
    for client_id, when, amount in plans:
        plan = {"kind": "client", "dimension_id": client_id, "currency": "EUR", "amount": amount}
        _ok(api.post("/api/v1/sales/plans", json={**plan, "month": when.strftime("%Y-%m")}), 201)

    today = date.today()
    funnel_url = (
        f"/api/v1/reports/sales.funnel?period=custom&period_from={today - timedelta(1)}"
        f"&period_to={today + timedelta(1)}"
    )
    funnel_before = _ok(api.get(funnel_url))
    assert sum(r["entered"] for r in funnel_before["rows"]) == 4  # 3 deals, one moved on
    totals_before = _totals(app)
    assert totals_before[0] and totals_before[1]

    _ok(
        api.post(
            "/api/v1/clients/merge",
            json={"survivor_id": b, "merged_ids": [a], "version": survivor["version"]},
        )
    )

    # The deals and the invoice show on the survivor (API and card), none on the merged one.
    listed = _ok(api.get("/api/v1/sales/deals", query_string={"client_id": b}))["items"]
    assert {d["id"] for d in listed} == {windows["id"], doors["id"], own["id"]}
    assert _ok(api.get("/api/v1/sales/deals", query_string={"client_id": a}))["items"] == []
    invoices = _ok(api.get("/api/v1/sales/invoices", query_string={"client_id": b}))["items"]
    assert [i["number"] for i in invoices] == [invoice["number"]]
    card = admin_client.get(f"/clients/{b}").get_data(as_text=True)
    assert "Windows for the office" in card and "Doors" in card and invoice["number"] in card
    # The contact person came along with the client, so the deal keeps it.
    moved = _ok(api.get(f"/api/v1/sales/deals/{windows['id']}"))
    assert moved["contact_person_id"] == contact["id"]
    assert moved["version"] == windows["version"] + 1  # a form opened before is stale
    contacts = _ok(api.get(f"/api/v1/clients/{b}/contacts"))
    assert [c["id"] for c in contacts] == [contact["id"]]

    # The board and the funnel count exactly what they counted before.
    assert _totals(app) == totals_before
    assert _ok(api.get(funnel_url)) == funnel_before

    # Each moved deal and invoice says so once in its history.
    for entity, entity_id in (("sales_deals", windows["id"]), ("sales_invoices", invoice["id"])):
        history = _ok(
            api.get("/api/v1/audit", query_string={"entity": entity, "entity_id": entity_id})
        )["items"]
        moves = [
            h["changes"]["client_id"]
            for h in history
            if h["action"] == "update" and "client_id" in h["changes"]
        ]
        assert moves == [[a, b]], history

    # The plans of the merged client are the survivor's, added up where both had one.
    plans = _ok(api.get("/api/v1/sales/plans", query_string={"kind": "client"}))
    assert sorted((p["dimension_id"], p["month"], p["amount"]) for p in plans) == [
        (b, month.strftime("%Y-%m"), "1500.00"),
        (b, next_month.strftime("%Y-%m"), "300.00"),
    ]

    # Purging the merged client for good keeps the invoice, the deals and their totals.
    assert api.post(f"/api/v1/clients/{a}/purge").status_code == 204
    assert _ok(api.get(f"/api/v1/sales/invoices/{invoice['id']}"))["client_id"] == b
    assert len(_ok(api.get("/api/v1/sales/deals", query_string={"client_id": b}))["items"]) == 3
    assert _totals(app) == totals_before
