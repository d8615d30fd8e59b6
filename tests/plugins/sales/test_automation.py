"""Stage automation: the window installer's story end to end, rules running once per entry,
bad rule parameters, the registry for other plugins, and stage time limits."""

from __future__ import annotations

import io
import threading
import time
from datetime import timedelta

import pypdf
import sqlalchemy as sa

from core.db import db, utcnow
from core.documents.models import Document
from core.tasks import reminders
from plugins.sales.automation import actions, limits
from plugins.sales.automation import services as automation
from plugins.sales.automation.models import RuleRun
from plugins.sales.models import Deal, Stage, StageChange
from tests.plugins.sales.automation_helpers import (
    add_rule,
    lead_form,
    notices,
    story_rules,
    tasks_of,
    windows,
)


def _pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def _move(api, ids, deal_id: int, stage: str) -> None:
    response = api.post(
        f"/api/v1/sales/deals/{deal_id}/move",
        json={"stage_id": ids["stages"][stage]},
        headers=ids["manager_headers"],
    )
    assert response.status_code == 200, response.get_json()


def test_the_window_installer_story_end_to_end(app, api):
    ids = windows(app, api)
    story_rules(api, ids)
    key = lead_form(app, ids)

    # A request left on the website ...
    response = app.test_client().post(
        f"/forms/{key}",
        json={
            "name": "Olga Petrova",
            "phone": "+373 22 123 456",
            "email": "olga@example.test",
            "message": "Three windows, please",
            "utm_source": "google",
            "utm_campaign": "spring",
        },
        headers={"Origin": "https://okna.test"},
    )
    assert response.status_code == 201, response.get_json()
    assert response.headers["Access-Control-Allow-Origin"] == "https://okna.test"
    with app.app_context():
        deal = db.session.execute(sa.select(Deal)).scalar_one()
        deal_id, entered = deal.id, deal.stage_entered_at
        assert deal.stage.name == "First call" and deal.owner_id == ids["manager"]
        assert deal.source == "website" and deal.campaign == "spring"
        assert deal.utm == {"utm_source": "google", "utm_campaign": "spring"}
        assert deal.client.name == "Olga Petrova"

    # ... gives the manager a task due 15 minutes later.
    (call,) = tasks_of(app, ids["manager"])
    assert call.title == "Call the client within 15 minutes"
    assert call.record_kind == "sales.deal" and call.record_id == deal_id
    assert call.due_at == entered + timedelta(minutes=15)

    # It runs late: the manager, and after the escalation delay the head of sales, are told.
    with app.app_context():
        reminders.run(now=call.due_at + timedelta(minutes=5))
        reminders.run(now=call.due_at + timedelta(minutes=61))
    assert any("Call the client" in s for s in notices(app, ids["manager"], "task_overdue"))
    assert any("Call the client" in s for s in notices(app, ids["head"], "task_overdue_escalated"))

    # Measurements: the measurer with fewer open tasks gets one.
    _move(api, ids, deal_id, "Measurements")
    assert [t.title for t in tasks_of(app, ids["measurer2"])] == ["Measure the windows"]
    assert [t.title for t in tasks_of(app, ids["measurer1"])] == ["Something else"]

    # Approval: the manager is to calculate the cost within 2 hours.
    _move(api, ids, deal_id, "Approval")
    calc = tasks_of(app, ids["manager"])[-1]
    assert calc.title == "Calculate the cost and call the client within 2 hours"
    with app.app_context():
        approval_at = db.session.execute(
            sa.select(StageChange.at).where(StageChange.to_stage_id == ids["stages"]["Approval"])
        ).scalar_one()
    assert calc.due_at == approval_at + timedelta(hours=2)

    # The cost is known: the deal gets its lines, then Payment issues the invoice.
    deal_json = api.get(f"/api/v1/sales/deals/{deal_id}").get_json()
    response = api.patch(
        f"/api/v1/sales/deals/{deal_id}",
        json={
            "version": deal_json["version"],
            "lines": [{"name": "PVC window 1200x1400", "quantity": "3", "price": "250.00"}],
        },
    )
    assert response.status_code == 200, response.get_json()
    _move(api, ids, deal_id, "Payment")
    invoices = api.get(f"/api/v1/sales/invoices?deal_id={deal_id}").get_json()
    items = invoices["items"] if isinstance(invoices, dict) else invoices
    (invoice,) = items
    assert invoice["total_amount"] in ("750.00", 750, "750")
    with app.app_context():
        document = db.session.get(Document, invoice["document_id"])
        assert document.record_kind == "sales.deal" and document.record_id == deal_id
        assert "Olga Petrova" in _pdf_text(document.content)

    # Paid in full: the deal moves to Installation and the installer is told.
    response = api.post(
        f"/api/v1/sales/invoices/{invoice['id']}/payments", json={"amount": "750.00"}
    )
    assert response.status_code == 201, response.get_json()
    with app.app_context():
        assert db.session.get(Deal, deal_id).stage.name == "Installation"
        statuses = set(db.session.execute(sa.select(RuleRun.status)).scalars())
        assert statuses == {"done"}
    assert notices(app, ids["installer"], "sales.stage_entered") == [
        "Install at Olga Petrova: Web request: Olga Petrova"
    ]

    # The head of sales sees it in the figures: the funnel, the lead sources and the
    # managers' report for the days around now (when the deal moved).
    today = utcnow().date()
    period = (
        f"period=custom&period_from={today - timedelta(days=1)}"
        f"&period_to={today + timedelta(days=1)}&pipeline={ids['pipeline']}"
    )
    funnel = api.get(f"/api/v1/reports/sales.funnel?{period}")
    assert funnel.status_code == 200, funnel.get_json()
    entered = {r["stage"]: r["entered"] for r in funnel.get_json()["rows"]}
    for stage in ("First call", "Measurements", "Approval", "Payment", "Installation"):
        assert entered[stage] == 1, (stage, entered)
    sources = api.get(f"/api/v1/reports/sales.sources?{period}").get_json()["rows"]
    [web] = [r for r in sources if r["leads"]]
    assert web["leads"] == 1 and web["won"] == 0
    managers = api.get(f"/api/v1/reports/sales.managers?{period}").get_json()["rows"]
    [manager] = [r for r in managers if r["created"]]
    assert (manager["created"], manager["won"], manager["lost"]) == (1, 0, 0)


def test_rules_run_once_per_entry_even_when_two_workers_race(app, api):
    ids = windows(app, api)
    calls: list[int] = []
    started = threading.Barrier(2, timeout=5)

    def slow(deal, change, params):
        calls.append(change.id)
        time.sleep(0.2)

    actions.register("test.slow", "Slow", slow, lambda params: {})
    try:
        stage = ids["stages"]["Measurements"]
        add_rule(api, stage, "test.slow", {})
        add_rule(
            api,
            stage,
            "task",
            {"template": "sales.measure", "assignee": "user", "user_id": ids["measurer1"]},
        )
        with app.app_context():
            from plugins.sales.deals import services as deals

            client_id = _client(app)
            deal = deals.create_deal(
                {"title": "Race", "client_id": client_id, "pipeline_id": ids["pipeline"]}, None
            )
            deal_id = deal.id
            # The listener queued the job when the deal was created at First call (no rules)
        _move(api, ids, deal_id, "Measurements")  # runs once (jobs are immediate in tests)
        with app.app_context():
            change_id = db.session.execute(
                sa.select(sa.func.max(StageChange.id)).where(StageChange.deal_id == deal_id)
            ).scalar()
        calls.clear()
        results = []

        def worker():
            with app.app_context():
                started.wait()
                results.append(automation.run_rules(change_id))
                db.session.remove()

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert calls == [] and results == [{"done": 0, "failed": 0}] * 2

        # Now a fresh entry with both workers racing from the start.
        with app.app_context():
            db.session.execute(sa.delete(RuleRun).where(RuleRun.stage_change_id == change_id))
            db.session.commit()
        results.clear()
        started.reset()
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert calls == [change_id]
        assert sum(r["done"] for r in results) == 2  # each rule by one worker only
        assert (
            len([t for t in tasks_of(app, ids["measurer1"]) if t.title == "Measure the windows"])
            == 2
        )

        # Leaving and entering again runs the rules again.
        _move(api, ids, deal_id, "First call")
        _move(api, ids, deal_id, "Measurements")
        assert len(calls) == 2
        with app.app_context():
            assert db.session.execute(sa.select(sa.func.count()).select_from(RuleRun)).scalar() == 4
    finally:
        actions._actions.pop("test.slow", None)


def _client(app) -> int:
    from core.clients import services as clients

    return clients.create_client({"kind": "company", "name": "Race Ltd"}).id


def test_bad_rule_parameters_are_refused_and_change_nothing(app, api):
    ids = windows(app, api)
    stage = ids["stages"]["First call"]
    url = f"/api/v1/sales/stages/{stage}/rules"
    with app.app_context():
        from core.users.models import User

        user = db.session.get(User, ids["measurer2"])
        user.active = False
        db.session.commit()
    cases = [
        ({"action": "task", "params": {"template": "nope"}}, "params.template"),
        (
            {
                "action": "task",
                "params": {
                    "template": "sales.measure",
                    "assignee": "user",
                    "user_id": ids["measurer2"],
                },
            },
            "params.user_id",
        ),
        (
            {
                "action": "task",
                "params": {"template": "sales.measure", "assignee": "role", "role": "Astronaut"},
            },
            "params.role",
        ),
        ({"action": "notify", "params": {"to": ["owner"]}}, "params.subject"),
        ({"action": "notify", "params": {"subject": "x", "role": "Astronaut"}}, "params.role"),
        ({"action": "document", "params": {"template_id": 999999}}, "params.template_id"),
        ({"action": "set_field", "params": {"field": "amount", "value": "1"}}, "params.field"),
        ({"action": "move", "params": {"stage_id": stage}}, "params.stage_id"),
        ({"action": "teleport", "params": {}}, "action"),
    ]
    for body, field in cases:
        response = api.post(url, json=body)
        assert response.status_code == 422, (body, response.get_json())
        errors = response.get_json()["errors"]
        assert field in errors or f"json.{field}" in errors, (body, errors)
    assert api.get(url).get_json() == []

    rule = add_rule(api, stage, "set_field", {"field": "expected_close_on", "days": 30})
    response = api.patch(
        f"/api/v1/sales/rules/{rule['id']}",
        json={"version": rule["version"], "params": {"field": "expected_close_on", "days": -1}},
    )
    assert response.status_code == 422
    response = api.patch(
        f"/api/v1/sales/rules/{rule['id']}", json={"version": rule["version"] + 5, "active": False}
    )
    assert response.status_code == 409
    response = api.patch(
        f"/api/v1/sales/rules/{rule['id']}", json={"version": rule["version"], "active": False}
    )
    assert response.status_code == 200 and response.get_json()["active"] is False
    assert api.delete(f"/api/v1/sales/rules/{rule['id']}").status_code == 204
    assert api.get(f"/api/v1/sales/rules/{rule['id']}").status_code == 404


def test_set_field_rule_and_the_admin_page(app, api, admin_client):
    ids = windows(app, api)
    stage = ids["stages"]["First call"]
    add_rule(api, stage, "set_field", {"field": "expected_close_on", "days": 30})
    add_rule(api, stage, "set_field", {"field": "campaign", "value": "autumn"})
    key = lead_form(app, ids)
    assert app.test_client().post(f"/forms/{key}", data={"email": "a@b.test"}).status_code == 201
    with app.app_context():
        deal = db.session.execute(sa.select(Deal)).scalar_one()
        assert deal.expected_close_on == deal.stage_entered_at.date() + timedelta(days=30)
        assert deal.campaign == "autumn"
    page = admin_client.get(f"/sales/admin/stages/{stage}/rules")
    assert page.status_code == 200 and "expected_close_on" in page.get_data(as_text=True)
    from tests.conftest import post_form

    response = post_form(
        admin_client,
        f"/sales/admin/stages/{stage}/rules",
        {"action": "task", "trigger": "enter", "params": '{"template": "nope"}'},
        page=f"/sales/admin/stages/{stage}/rules",
    )
    assert response.status_code == 422
    response = post_form(
        admin_client,
        f"/sales/admin/stages/{stage}/rules",
        {
            "action": "task",
            "trigger": "enter",
            "params": '{"template": "sales.first_call"}',
            "active": "1",
        },
        page=f"/sales/admin/stages/{stage}/rules",
    )
    assert response.status_code == 302
    assert len(api.get(f"/api/v1/sales/stages/{stage}/rules").get_json()) == 3


def test_stage_time_limits_tell_the_owner_then_the_team_head_once_each(app, api):
    ids = windows(app, api)
    with app.app_context():
        stage = db.session.get(Stage, ids["stages"]["Measurements"])
        stage.target_hours = 48
        db.session.commit()
    key = lead_form(app, ids)
    assert app.test_client().post(f"/forms/{key}", json={"email": "x@y.test"}).status_code == 201
    with app.app_context():
        deal_id = db.session.execute(sa.select(Deal.id)).scalar_one()
    _move(api, ids, deal_id, "Measurements")
    with app.app_context():
        entered = db.session.get(Deal, deal_id).stage_entered_at
        assert limits.run(now=entered + timedelta(hours=47)) == {"owner": 0, "head": 0}
        assert limits.run(now=entered + timedelta(hours=49)) == {"owner": 1, "head": 0}
        assert limits.run(now=entered + timedelta(hours=50)) == {"owner": 0, "head": 0}
        assert limits.run(now=entered + timedelta(hours=73)) == {"owner": 0, "head": 1}
        assert limits.run(now=entered + timedelta(hours=99)) == {"owner": 0, "head": 0}
    assert len(notices(app, ids["manager"], "sales.stage_overdue")) == 1
    assert len(notices(app, ids["head"], "sales.stage_overdue_escalated")) == 1
    # A new entry into the stage is watched afresh.
    _move(api, ids, deal_id, "Approval")
    _move(api, ids, deal_id, "Measurements")
    with app.app_context():
        entered = db.session.get(Deal, deal_id).stage_entered_at
        assert limits.run(now=entered + timedelta(hours=49)) == {"owner": 1, "head": 0}
    with app.app_context():
        assert limits.run(now=utcnow()) == {"owner": 0, "head": 0}


def test_the_admin_page_edits_and_removes_a_rule(app, api, admin_client):
    from tests.conftest import post_form

    ids = windows(app, api)
    stage = ids["stages"]["Approval"]
    rule = add_rule(api, stage, "task", {"template": "sales.calculate"})
    page = f"/sales/admin/stages/{stage}/rules"
    response = post_form(
        admin_client,
        page,
        {
            "rule_id": str(rule["id"]),
            "version": str(rule["version"]),
            "action": "task",
            "trigger": "enter",
            "position": "3",
            "params": '{"template": "sales.calculate", "assignee": "role", "role": "Measurer"}',
        },
        page=page,
    )
    assert response.status_code == 302
    (saved,) = api.get(f"/api/v1/sales/stages/{stage}/rules").get_json()
    assert saved["active"] is False and saved["position"] == 3
    assert saved["params"]["role"] == "Measurer"
    response = post_form(admin_client, page, {"rule_id": str(rule["id"]), "remove": "1"}, page=page)
    assert response.status_code == 302
    assert api.get(f"/api/v1/sales/stages/{stage}/rules").get_json() == []
    assert admin_client.get("/sales/admin/stages/999999/rules").status_code == 404
