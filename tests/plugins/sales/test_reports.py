"""Sales analytics: exact figures on a small known data set for every report, the "own"
scope, ABC class boundaries, forecast weighting, plans (API and page), the dashboard
widget, bad filters, and the reports going away with the plugin."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.clients import services as client_services
from core.db import db
from core.interactions.models import Interaction
from core.tasks.models import Task
from core.users.models import User
from plugins.sales.analytics.models import SalesPlan
from plugins.sales.analytics.widget import today_figures
from plugins.sales.models import (
    Deal,
    DealLine,
    LostReason,
    Pipeline,
    Product,
    ProductGroup,
    Stage,
    StageChange,
)
from tests.conftest import ADMIN_EMAIL, api_token, disable, enable, make_user, post_form

MARCH = "period=custom&period_from=2025-03-01&period_to=2025-03-31"
SELLER = ["reports.view", "sales.reports", "sales.view"]


def at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2025, month, day, hour)


def _deal(
    ids,
    key,
    owner,
    client,
    source,
    amount,
    path,
    *,
    created=None,
    reason=None,
    expected=None,
    lines=(),
):
    """A deal that went through ``path`` [(stage key, when), ...]; closed when the last
    stage is won or lost."""
    stage_key, last_at = path[-1]
    kind = ids["kinds"][stage_key]
    deal = Deal(
        title=key,
        client_id=ids[client],
        pipeline_id=ids["pipeline"],
        stage_id=ids[stage_key],
        owner_id=ids[owner],
        amount=Decimal(amount),
        currency="EUR",
        source=source,
        lost_reason_id=ids[reason] if reason else None,
        expected_close_on=expected,
        closed_at=last_at if kind != "open" else None,
        stage_entered_at=last_at,
        created_at=created or path[0][1],
    )
    db.session.add(deal)
    db.session.flush()
    previous = None
    for stage, when in path:
        db.session.add(
            StageChange(
                deal_id=deal.id,
                pipeline_id=ids["pipeline"],
                from_stage_id=previous,
                to_stage_id=ids[stage],
                at=when,
            )
        )
        previous = ids[stage]
    for position, (product, total) in enumerate(lines):
        db.session.add(
            DealLine(
                deal_id=deal.id,
                product_id=ids[product],
                position=position,
                name=product,
                price=Decimal(total),
                net_amount=Decimal(total),
                total_amount=Decimal(total),
            )
        )
    ids[key] = deal.id


@pytest.fixture
def sales(app):
    """Ann and Bob (scope "own"); one pipeline; nine deals, eight of them touching March
    2025 (see each test for the figures they make)."""
    enable(app, "sales")
    ids: dict = {}
    ids["ann"] = make_user(app, "ann@example.com", SELLER, {"sales.deals": "own"}, name="Ann")
    ids["bob"] = make_user(app, "bob@example.com", SELLER, {"sales.deals": "own"}, name="Bob")
    with app.app_context():
        for key, owner in (("c1", "ann"), ("c2", "bob"), ("c3", "ann")):
            ids[key] = client_services.create_client(
                {"name": f"Client {key[1]}", "owner_id": ids[owner]}
            ).id
        # Only this data set: the default pipeline enabling made (empty) goes.
        db.session.execute(sa.delete(Stage))
        db.session.execute(sa.delete(Pipeline))
        pipeline = Pipeline(name="Windows")
        db.session.add(pipeline)
        db.session.flush()
        ids["pipeline"] = pipeline.id
        ids["kinds"] = {}
        for position, (key, name, kind, probability) in enumerate(
            [
                ("s1", "First call", "open", 10),
                ("s2", "Measurements", "open", 40),
                ("s3", "Approval", "open", 70),
                ("won", "Won", "won", 100),
                ("lost", "Lost", "lost", 0),
            ]
        ):
            stage = Stage(
                pipeline_id=pipeline.id,
                name=name,
                position=position,
                kind=kind,
                probability=probability,
            )
            db.session.add(stage)
            db.session.flush()
            ids[key] = stage.id
            ids["kinds"][key] = kind
        for key, name in (("r1", "Too expensive"), ("r2", "Competitor")):
            # The default pipeline may have brought some of these lost reasons already.
            reason = db.session.execute(sa.select(LostReason).filter_by(name=name)).scalar()
            if reason is None:
                reason = LostReason(name=name)
                db.session.add(reason)
                db.session.flush()
            ids[key] = reason.id
        for key, name in (("g1", "Windows"), ("g2", "Doors")):
            group = ProductGroup(name=name)
            db.session.add(group)
            db.session.flush()
            ids[key] = group.id
        for key, group in (("x1", "g1"), ("x2", "g1"), ("x3", "g2")):
            product = Product(name=f"Product {key}", group_id=ids[group], currency="EUR")
            db.session.add(product)
            db.session.flush()
            ids[key] = product.id

        _deal(ids, "d1", "ann", "c1", "website", "1000",
              [("s1", at(3, 1)), ("s2", at(3, 2)), ("s3", at(3, 3)), ("won", at(3, 10))],
              lines=[("x1", "600"), ("x3", "400")])  # fmt: skip
        _deal(ids, "d2", "ann", "c1", "website", "500",
              [("s1", at(3, 1)), ("s2", at(3, 2)), ("lost", at(3, 5))], reason="r1")  # fmt: skip
        _deal(ids, "d3", "bob", "c2", "phone", "2000",
              [("s1", at(3, 2)), ("s2", at(3, 3)), ("s3", at(3, 4)), ("won", at(3, 22))],
              lines=[("x2", "2000")])  # fmt: skip
        _deal(ids, "d4", "bob", "c2", "phone", "300", [("s1", at(3, 3)), ("lost", at(3, 4))])
        _deal(ids, "d5", "ann", "c3", "website", "800",
              [("s1", at(3, 4)), ("s2", at(3, 6))], expected=date(2025, 5, 15))  # fmt: skip
        _deal(ids, "d6", "bob", "c3", None, "1200", [("s1", at(3, 7))],
              expected=date(2025, 4, 10))  # fmt: skip
        _deal(ids, "d7", "ann", "c1", "website", "400",
              [("s1", at(3, 8)), ("s3", at(3, 9))], expected=date(2025, 4, 20))  # fmt: skip
        # Created in February, won in March.
        _deal(ids, "d8", "bob", "c2", "phone", "100", [("s1", at(2, 1)), ("won", at(3, 15))],
              lines=[("x1", "100")])  # fmt: skip
        # Open since January with no expected date.
        _deal(ids, "d9", "ann", "c3", "website", "1000", [("s1", at(1, 10))])

        for user, kind, when in (
            ("ann", "call", at(3, 2, 9)),
            ("ann", "call", at(3, 3, 9)),
            ("ann", "meeting", at(3, 4, 9)),
            ("bob", "call", at(3, 5, 9)),
            ("bob", "call", at(4, 1, 9)),  # April: outside
        ):
            db.session.add(
                Interaction(client_id=ids["c1"], kind=kind, user_id=ids[user], occurred_at=when)
            )
        for user, due, status, done in (
            ("ann", at(3, 20), "open", None),  # still open: overdue
            ("bob", at(3, 21), "done", at(3, 20)),  # done in time
            ("bob", at(3, 25), "done", at(3, 26)),  # done late
        ):
            db.session.add(
                Task(
                    title="Call back",
                    assignee_id=ids[user],
                    due_at=due,
                    status=status,
                    completed_at=done,
                )
            )
        db.session.commit()
    return ids


def _get(client, path, headers=None):
    response = client.get(path, headers=headers) if headers else client.get(path)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _rows(body, key):
    return {str(r[key]): r for r in body["rows"]}


def test_funnel_counts_stage_entries_and_conversions(app, api, sales):
    body = _get(api, f"/api/v1/reports/sales.funnel?{MARCH}&pipeline={sales['pipeline']}")
    rows = _rows(body, "stage")
    assert [r["stage"] for r in body["rows"]] == [
        "First call",
        "Measurements",
        "Approval",
        "Won",
        "Lost",
    ]
    assert {k: r["entered"] for k, r in rows.items()} == {
        "First call": 7,
        "Measurements": 4,
        "Approval": 3,
        "Won": 3,
        "Lost": 2,
    }
    assert rows["First call"]["to_next"] == pytest.approx(4 / 7)
    assert rows["First call"]["to_won"] == pytest.approx(3 / 7)
    assert rows["Measurements"]["to_next"] == pytest.approx(3 / 4)
    assert rows["Approval"]["to_next"] == pytest.approx(1.0)
    assert rows["Won"]["to_next"] is None
    assert body["totals"]["entered"] == 7
    assert body["totals"]["to_won"] == pytest.approx(3 / 7)
    # Without a pipeline the stages carry its name.
    every = _get(api, f"/api/v1/reports/sales.funnel?{MARCH}")
    assert every["rows"][0]["stage"] == "Windows: First call"
    # By owner.
    bobs = _get(api, f"/api/v1/reports/sales.funnel?{MARCH}&owner={sales['bob']}")
    assert [r["entered"] for r in bobs["rows"]] == [3, 1, 1, 2, 1]


def test_funnel_counts_a_deal_coming_back_to_a_stage_once(app, api, sales):
    with app.app_context():
        _deal(sales, "back", "ann", "c1", "website", "10",
              [("s1", at(3, 20)), ("s2", at(3, 21)), ("s1", at(3, 22)), ("s2", at(3, 23)),
               ("lost", at(3, 24)), ("s2", at(3, 25))])  # fmt: skip
        db.session.commit()
    body = _get(api, f"/api/v1/reports/sales.funnel?{MARCH}&pipeline={sales['pipeline']}")
    assert [r["entered"] for r in body["rows"]] == [8, 5, 3, 3, 3]
    # Limited to some deals (here an owner) the movers are limited too.
    anns = _get(api, f"/api/v1/reports/sales.funnel?{MARCH}&owner={sales['ann']}")
    bobs = _get(api, f"/api/v1/reports/sales.funnel?{MARCH}&owner={sales['bob']}")
    every = _get(api, f"/api/v1/reports/sales.funnel?{MARCH}")
    per_owner = [
        a["entered"] + b["entered"] for a, b in zip(anns["rows"], bobs["rows"], strict=True)
    ]
    assert per_owner == [r["entered"] for r in every["rows"]]
    assert [r["entered"] for r in anns["rows"]] == [5, 4, 2, 1, 2]


def test_won_and_lost_with_amounts_cycle_and_reasons(app, api, sales):
    body = _get(api, f"/api/v1/reports/sales.won_lost?{MARCH}")
    rows = _rows(body, "outcome")
    assert list(rows) == ["Won", "Lost", "Lost: no reason given", "Lost: Too expensive"]
    won, lost = rows["Won"], rows["Lost"]
    assert (won["deals"], won["amount"], won["average"]) == (3, 3100.0, 1033.33)
    assert won["cycle_days"] == pytest.approx(23.7)  # (9 + 20 + 42) / 3
    assert won["share"] == pytest.approx(0.6)
    assert (lost["deals"], lost["amount"], lost["average"], lost["cycle_days"]) == (
        2,
        800.0,
        400.0,
        2.5,
    )
    assert rows["Lost: Too expensive"]["deals"] == 1
    assert rows["Lost: Too expensive"]["amount"] == 500.0
    assert rows["Lost: Too expensive"]["share"] == pytest.approx(0.5)
    assert body["totals"]["deals"] == 5 and body["totals"]["amount"] == 3900.0
    assert body["totals"]["cycle_days"] == pytest.approx(15.2)


def test_per_manager_deals_amounts_calls_meetings_and_overdue_tasks(app, api, sales):
    body = _get(api, f"/api/v1/reports/sales.managers?{MARCH}")
    rows = _rows(body, "manager")
    assert set(rows) == {"Ann", "Bob"}
    ann, bob = rows["Ann"], rows["Bob"]
    assert ann == {
        "manager": "Ann",
        "created": 4,
        "won": 1,
        "lost": 1,
        "won_amount": 1000.0,
        "calls": 2,
        "meetings": 1,
        "tasks_overdue": 1,
    }
    assert (bob["created"], bob["won"], bob["lost"], bob["won_amount"]) == (3, 2, 1, 2100.0)
    assert (bob["calls"], bob["meetings"], bob["tasks_overdue"]) == (1, 0, 1)
    assert body["totals"]["won_amount"] == 3100.0


def test_lead_sources_with_conversion(app, api, sales):
    body = _get(api, f"/api/v1/reports/sales.sources?{MARCH}")
    assert [(r["source"], r["leads"], r["won"], r["won_amount"]) for r in body["rows"]] == [
        ("Website", 4, 1, 1000.0),
        ("phone", 2, 1, 2000.0),
        ("Not set", 1, 0, 0.0),
    ]
    assert body["rows"][0]["conversion"] == pytest.approx(0.25)
    assert body["rows"][1]["conversion"] == pytest.approx(0.5)
    assert body["totals"]["leads"] == 7 and body["totals"]["conversion"] == pytest.approx(2 / 7)


def test_abc_of_products_and_clients(app, api, sales):
    products = _get(api, f"/api/v1/reports/sales.abc_products?{MARCH}&view=items")
    assert [(r["item"], r["revenue"], r["abc"]) for r in products["rows"]] == [
        ("Product x2", 2000.0, "A"),
        ("Product x1", 700.0, "A"),
        ("Product x3", 400.0, "B"),
    ]
    classes = _get(api, f"/api/v1/reports/sales.abc_products?{MARCH}")
    assert [(r["abc"], r["items"], r["revenue"]) for r in classes["rows"]] == [
        ("A", 2, 2700.0),
        ("B", 1, 400.0),
        ("C", 0, 0.0),
    ]
    clients = _get(api, f"/api/v1/reports/sales.abc_clients?{MARCH}&view=items")
    assert [(r["item"], r["revenue"], r["abc"]) for r in clients["rows"]] == [
        ("Client 2", 2100.0, "A"),
        ("Client 1", 1000.0, "A"),
    ]


def test_abc_class_boundaries(app, api, sales):
    """Revenues 50, 30, 10, 5, 5: the revenue before each is 0, 50, 80, 90, 95 of 100, so
    A, A, then B (80 % before it is not under 80 %), B, then C (95 % before it)."""
    with app.app_context():
        for index, amount in enumerate(["50", "30", "10", "5", "5"]):
            client = f"abc{index}"
            sales[client] = client_services.create_client({"name": f"ABC {index}"}).id
            _deal(sales, f"abc-deal{index}", "ann", client, "x", amount,
                  [("s1", datetime(2024, 6, 1)), ("won", datetime(2024, 6, 2))])  # fmt: skip
        db.session.commit()
    june = "period=custom&period_from=2024-06-01&period_to=2024-06-30"
    body = _get(api, f"/api/v1/reports/sales.abc_clients?{june}&view=items")
    assert [(r["item"], r["abc"]) for r in body["rows"]] == [
        ("ABC 0", "A"),
        ("ABC 1", "A"),
        ("ABC 2", "B"),
        ("ABC 3", "B"),
        ("ABC 4", "C"),
    ]
    assert [r["cumulative"] for r in body["rows"]] == pytest.approx([0.5, 0.8, 0.9, 0.95, 1.0])
    summary = _get(api, f"/api/v1/reports/sales.abc_clients?{june}")
    assert [(r["abc"], r["items"], r["revenue"]) for r in summary["rows"]] == [
        ("A", 2, 80.0),
        ("B", 2, 15.0),
        ("C", 1, 5.0),
    ]


def test_forecast_weights_open_deals_by_stage_probability(app, api, sales):
    body = _get(api, "/api/v1/reports/sales.forecast")
    assert [(r["month"], r["deals"], r["amount"], r["weighted"]) for r in body["rows"]] == [
        ("2025-04", 2, 1600.0, 400.0),  # 1200 x 10 % + 400 x 70 %
        ("2025-05", 1, 800.0, 320.0),  # 800 x 40 %
        ("No expected date", 1, 1000.0, 100.0),  # 1000 x 10 %
    ]
    assert (body["totals"]["amount"], body["totals"]["weighted"]) == (3400.0, 820.0)
    april = _get(
        api,
        "/api/v1/reports/sales.forecast?expected=custom&expected_from=2025-04-01"
        "&expected_to=2025-04-30",
    )
    assert [r["month"] for r in april["rows"]] == ["2025-04"]


def _plan(month, kind, dimension, amount):
    db.session.add(
        SalesPlan(
            period_month=month,
            kind=kind,
            dimension_id=dimension,
            amount=Decimal(amount),
            currency="EUR",
        )
    )


def test_plan_vs_actual_by_seller_product_group_and_client(app, api, sales):
    with app.app_context():
        _plan(date(2025, 3, 1), "seller", sales["ann"], "1500")
        _plan(date(2025, 3, 1), "seller", sales["bob"], "2000")
        _plan(date(2025, 4, 1), "seller", sales["bob"], "999")  # April: outside
        _plan(date(2025, 3, 1), "product_group", sales["g1"], "3000")
        _plan(date(2025, 3, 1), "product_group", sales["g2"], "500")
        _plan(date(2025, 3, 1), "client", sales["c1"], "1000")
        db.session.commit()
    sellers = _get(api, f"/api/v1/reports/sales.plan_actual?{MARCH}&kind=seller")
    rows = _rows(sellers, "name")
    assert (rows["Ann"]["plan"], rows["Ann"]["actual"], rows["Ann"]["deviation"]) == (
        1500.0,
        1000.0,
        -500.0,
    )
    assert rows["Ann"]["completion"] == pytest.approx(2 / 3)
    assert (rows["Bob"]["plan"], rows["Bob"]["actual"], rows["Bob"]["completion"]) == (
        2000.0,
        2100.0,
        1.05,
    )
    assert (sellers["totals"]["plan"], sellers["totals"]["actual"]) == (3500.0, 3100.0)
    by_group = f"/api/v1/reports/sales.plan_actual?{MARCH}&kind=product_group"
    groups = _rows(_get(api, by_group), "name")
    assert (groups["Windows"]["plan"], groups["Windows"]["actual"]) == (3000.0, 2700.0)
    assert (groups["Doors"]["plan"], groups["Doors"]["actual"]) == (500.0, 400.0)
    clients = _rows(_get(api, f"/api/v1/reports/sales.plan_actual?{MARCH}&kind=client"), "name")
    assert (clients["Client 1"]["plan"], clients["Client 1"]["actual"]) == (1000.0, 1000.0)
    assert (clients["Client 2"]["plan"], clients["Client 2"]["actual"]) == (None, 2100.0)
    # The quarter holds April's plan too.
    quarter = _get(
        api,
        "/api/v1/reports/sales.plan_actual?period=custom&period_from=2025-03-01"
        "&period_to=2025-05-31&kind=seller",
    )
    assert _rows(quarter, "name")["Bob"]["plan"] == 2999.0


def test_scope_own_sees_only_own_deals_figures(app, sales):
    client = app.test_client()
    headers = api_token(client, "ann@example.com")
    funnel = _get(client, f"/api/v1/reports/sales.funnel?{MARCH}", headers)
    assert [r["entered"] for r in funnel["rows"]] == [4, 3, 2, 1, 1]
    won_lost = _rows(_get(client, f"/api/v1/reports/sales.won_lost?{MARCH}", headers), "outcome")
    assert (won_lost["Won"]["deals"], won_lost["Won"]["amount"]) == (1, 1000.0)
    assert (won_lost["Lost"]["deals"], won_lost["Lost"]["amount"]) == (1, 500.0)
    managers = _get(client, f"/api/v1/reports/sales.managers?{MARCH}", headers)
    assert [r["manager"] for r in managers["rows"]] == ["Ann"]
    # Asking for Bob's figures by name gets nothing of Bob's.
    bobs = _get(client, f"/api/v1/reports/sales.funnel?{MARCH}&owner={sales['bob']}", headers)
    assert bobs["totals"]["entered"] == 0
    abc = _get(client, f"/api/v1/reports/sales.abc_clients?{MARCH}&view=items", headers)
    assert [r["item"] for r in abc["rows"]] == ["Client 1"]
    forecast = _get(client, "/api/v1/reports/sales.forecast", headers)
    assert forecast["totals"]["amount"] == 2200.0  # d5, d7, d9
    sources = _get(client, f"/api/v1/reports/sales.sources?{MARCH}", headers)
    assert sources["totals"]["leads"] == 4


def test_bad_filters_answer_422_naming_the_field(app, api, sales):
    cases = {
        "period=custom&period_from=2025-03-01": "period_to",
        "period=custom&period_from=2025-03-31&period_to=2025-03-01": "period_to",
        "period=someday": "period",
        "pipeline=999999": "pipeline",
        "owner=999999": "owner",
        "team=abc": "team",
        "currency=XXX": "currency",
        "shoe=1": "shoe",
    }
    for query, field in cases.items():
        response = api.get(f"/api/v1/reports/sales.funnel?{query}")
        assert response.status_code == 422, query
        assert field in response.get_json()["errors"], (query, response.get_json())
    assert api.get(f"/api/v1/reports/sales.abc_clients?{MARCH}&view=all").status_code == 422
    assert api.get(f"/api/v1/reports/sales.plan_actual?{MARCH}&kind=planet").status_code == 422


def test_reports_need_their_permission(app, sales):
    make_user(app, "viewer@example.com", ["reports.view"], {"sales.deals": "all"})
    client = app.test_client()
    headers = api_token(client, "viewer@example.com")
    names = [r["name"] for r in client.get("/api/v1/reports", headers=headers).get_json()]
    assert not [n for n in names if n.startswith("sales.")]
    assert client.get("/api/v1/reports/sales.funnel", headers=headers).status_code == 403


def test_reports_page_chart_and_files(app, admin_client, sales):
    page = admin_client.get(f"/reports/sales.funnel?{MARCH}")
    assert page.status_code == 200 and b"<svg" in page.data and b"First call" in page.data
    csv_file = admin_client.get(f"/reports/sales.won_lost?{MARCH}&format=csv")
    assert csv_file.status_code == 200 and b"Too expensive" in csv_file.data
    xlsx = admin_client.get(f"/reports/sales.abc_clients?{MARCH}&format=xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"


def test_reports_plans_and_widget_disappear_when_the_plugin_is_disabled(app, api, sales):
    def names():
        return [r["name"] for r in api.get("/api/v1/reports").get_json()]

    expected = {
        "sales.funnel",
        "sales.won_lost",
        "sales.managers",
        "sales.sources",
        "sales.abc_clients",
        "sales.abc_products",
        "sales.forecast",
        "sales.plan_actual",
    }
    assert expected <= set(names())
    disable(app, "sales")
    assert not expected & set(names())
    assert api.get(f"/api/v1/reports/sales.funnel?{MARCH}").status_code == 404
    assert api.get("/api/v1/sales/plans").status_code == 404
    enable(app, "sales")
    assert expected <= set(names())
    assert api.get(f"/api/v1/reports/sales.funnel?{MARCH}").status_code == 200


def test_plans_api_validates_and_locks(app, api, sales):
    good = {
        "month": "2025-03",
        "kind": "seller",
        "dimension_id": sales["ann"],
        "amount": "1500.00",
        "currency": "EUR",
    }
    created = api.post("/api/v1/sales/plans", json=good)
    assert created.status_code == 201, created.get_json()
    plan = created.get_json()
    assert (plan["month"], plan["amount"], plan["version"]) == ("2025-03", "1500.00", 1)
    bad = {
        "month": {**good, "month": "2025-13"},
        "kind": {**good, "kind": "planet"},
        "amount": {**good, "amount": "-1"},
        "currency": {**good, "currency": "euro"},
        "dimension_id": {**good, "dimension_id": 999999},
    }
    for field, body in bad.items():
        response = api.post("/api/v1/sales/plans", json=body)
        assert response.status_code == 422, (field, response.get_json())
        assert field in response.get_json()["errors"], (field, response.get_json())
    duplicate = api.post("/api/v1/sales/plans", json=good)
    assert duplicate.status_code == 422 and "dimension_id" in duplicate.get_json()["errors"]
    path = f"/api/v1/sales/plans/{plan['id']}"
    changed = api.patch(path, json={"amount": "1800", "version": 1})
    assert changed.status_code == 200 and changed.get_json()["amount"] == "1800.00"
    assert api.patch(path, json={"amount": "1900", "version": 1}).status_code == 409
    listed = api.get("/api/v1/sales/plans?month=2025-03&kind=seller").get_json()
    assert [p["amount"] for p in listed] == ["1800.00"]
    assert api.get("/api/v1/sales/plans?month=March").status_code == 422
    spec = api.get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/sales/plans", "/api/v1/sales/plans/{plan_id}"} <= set(spec["paths"])
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404
    # Entering plans is its own permission.
    client = app.test_client()
    headers = api_token(client, "ann@example.com")
    assert client.post("/api/v1/sales/plans", json=good, headers=headers).status_code == 403


def test_plans_page_saves_replaces_and_shows_errors(app, admin_client, sales):
    page = admin_client.get("/sales/plans/?month=2025-03&kind=product_group")
    assert page.status_code == 200 and b"Doors" in page.data
    data = {
        "month": "2025-03",
        "kind": "product_group",
        "dimension_id": str(sales["g2"]),
        "amount": "500",
        "currency": "EUR",
    }
    saved = post_form(admin_client, "/sales/plans/", data, page="/sales/plans/")
    assert saved.status_code == 302
    post_form(admin_client, "/sales/plans/", {**data, "amount": "750,50"}, page="/sales/plans/")
    with app.app_context():
        amounts = db.session.execute(sa.select(SalesPlan.amount)).scalars().all()
    assert amounts == [Decimal("750.50")]
    wrong = post_form(
        admin_client, "/sales/plans/", {**data, "amount": "lots"}, page="/sales/plans/"
    )
    assert wrong.status_code == 422 and b"is-invalid" in wrong.data
    # "²" passes str.isdigit() but not int(): a 422 on the field, not a 500.
    superscript = post_form(
        admin_client, "/sales/plans/", {**data, "dimension_id": "²"}, page="/sales/plans/"
    )
    assert superscript.status_code == 422 and b"is-invalid" in superscript.data
    listing = admin_client.get("/sales/plans/?month=2025-03&kind=product_group")
    assert b"750.50" in listing.data


def test_dashboard_widget_shows_todays_figures(app, admin_client, sales):
    now = datetime(2025, 3, 22, 15)
    with app.app_context():
        db.session.add(
            Interaction(client_id=sales["c1"], kind="call", user_id=sales["bob"], occurred_at=now)
        )
        db.session.commit()
        admin = db.session.execute(sa.select(User).filter_by(email=ADMIN_EMAIL)).scalar_one()
        figures = today_figures(admin, now=now)
        assert figures == {
            "created": 0,
            "won": 1,  # d3 won on 22 March
            "won_amount": Decimal("2000.00"),
            "calls": 1,
            "overdue": 1,  # Ann's task due on 20 March, still open
        }
        ann = db.session.get(User, sales["ann"])
        assert today_figures(ann, now=now)["won"] == 0
        assert today_figures(ann, now=now + timedelta(days=400))["overdue"] == 1
    page = admin_client.get("/")
    assert page.status_code == 200 and b'data-testid="sales-today"' in page.data
    disable(app, "sales")
    assert b'data-testid="sales-today"' not in admin_client.get("/").data


def test_the_sales_migrations_match_the_models(app, tmp_path, sales):
    """0004_plans creates sales_plans and the report indexes exactly as the models say."""
    import shutil

    from core.plugin_system import migrations

    info = app.extensions["crm_plugins"].plugins["sales"]
    location = tmp_path / "sales-migrations"
    shutil.copytree(info.migrations_path, location)
    names = list(app.extensions["crm_plugins"].plugins)
    with app.app_context():
        paths = migrations.autogenerate(db.engine, location, "sales", "check", db.metadata, names)
        revision = open(paths[0]).read()
        indexes = {i["name"] for i in sa.inspect(db.engine).get_indexes("sales_stage_changes")}
    body = revision.split("def upgrade() -> None:")[1].split("def downgrade")[0]
    assert "op." not in body, body
    assert "ix_sales_stage_changes_moves" in indexes


def test_reports_run_a_fixed_number_of_queries_however_many_deals(app, api, sales):
    """Aggregate SQL: more deals, stages entered and clients change no query count."""
    from tests.conftest import QueryCounter

    names = ["funnel", "won_lost", "managers", "sources", "abc_clients", "plan_actual"]

    def counts():
        out = {}
        for name in names:
            with QueryCounter(app) as counter:
                assert api.get(f"/api/v1/reports/sales.{name}?{MARCH}").status_code == 200
            out[name] = counter.count
        return out

    counts()  # the first requests fill the caches of users, plugins and settings
    before = counts()
    with app.app_context():
        for index in range(30):
            client = f"more{index}"
            sales[client] = client_services.create_client({"name": f"More {index}"}).id
            _deal(sales, f"more-deal{index}", "bob", client, "ads", "100",
                  [("s1", at(3, 12)), ("s2", at(3, 13)), ("won", at(3, 14))])  # fmt: skip
        db.session.commit()
    assert counts() == before


def test_the_sales_reports_answer_under_the_plugins_own_address_too(app, api, sales):
    listed = api.get("/api/v1/sales/reports").get_json()
    assert {"funnel", "abc_clients", "forecast"} <= {r["name"] for r in listed}
    own = api.get(f"/api/v1/sales/reports/funnel?{MARCH}&pipeline={sales['pipeline']}")
    core = api.get(f"/api/v1/reports/sales.funnel?{MARCH}&pipeline={sales['pipeline']}")
    assert own.status_code == 200 and own.get_json() == core.get_json()
    assert api.get("/api/v1/sales/reports/nonsense").status_code == 404
    bad = api.get("/api/v1/sales/reports/funnel?period=custom&period_from=2025-13-01")
    assert bad.status_code == 422
    csv_file = api.get(f"/api/v1/sales/reports/funnel?{MARCH}&format=csv")
    assert csv_file.status_code == 200 and csv_file.mimetype == "text/csv"
