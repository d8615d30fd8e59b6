"""How the parts of a client's work meet: the next contact date becomes a task for the
owner, tasks and documents show on the client's timeline, calls and tasks count in the
activity report, and a merge takes calls, comments, tasks and documents along."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa

from core.db import db, utcnow
from core.interactions.models import Comment, Interaction
from core.tasks.models import Task
from core.users.models import User
from tests.conftest import ADMIN_EMAIL


def _admin_id(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(User.id).filter_by(email=ADMIN_EMAIL)).scalar_one()


def _next_contact_tasks(app, client_id: int) -> list[tuple[str, datetime, str, int]]:
    with app.app_context():
        return [
            tuple(row)
            for row in db.session.execute(
                sa.select(Task.title, Task.due_at, Task.status, Task.assignee_id)
                .where(Task.record_kind == "client", Task.record_id == client_id)
                .order_by(Task.id)
            )
        ]


def test_the_next_contact_date_becomes_a_task_for_the_owner_that_follows_the_date(app, api):
    admin = _admin_id(app)
    with app.app_context():
        db.session.get(User, admin).timezone = "Europe/Chisinau"  # UTC+3 in summer
        db.session.commit()
    created = api.post(
        "/api/v1/clients",
        json={"name": "Fereastra SRL", "owner_id": admin, "next_contact_on": "2026-07-10"},
    ).get_json()
    assert _next_contact_tasks(app, created["id"]) == [
        ("Contact Fereastra SRL", datetime(2026, 7, 10, 6, 0), "open", admin)
    ]
    moved = api.patch(
        f"/api/v1/clients/{created['id']}",
        json={"version": created["version"], "next_contact_on": "2026-07-14"},
    ).get_json()
    # Moved, not doubled.
    assert _next_contact_tasks(app, created["id"]) == [
        ("Contact Fereastra SRL", datetime(2026, 7, 14, 6, 0), "open", admin)
    ]
    api.patch(
        f"/api/v1/clients/{created['id']}",
        json={"version": moved["version"], "next_contact_on": None},
    )
    [(_, _, status, _)] = _next_contact_tasks(app, created["id"])
    assert status == "cancelled"


def test_tasks_and_documents_show_on_the_clients_timeline(app, api, admin_client):
    admin = _admin_id(app)
    client = api.post("/api/v1/clients", json={"name": "Ромашка ООО"}).get_json()
    task = api.post(
        "/api/v1/tasks",
        json={
            "title": "Send the offer",
            "assignee_id": admin,
            "due_at": "2026-05-04T10:00:00Z",
            "record_kind": "client",
            "record_id": client["id"],
        },
    ).get_json()
    template = api.post(
        "/api/v1/document-templates",
        json={"type": "letter", "name": "Letter", "language": "ru", "body": "{{ client.name }}"},
    ).get_json()
    document = api.post(
        "/api/v1/documents", json={"template_id": template["id"], "client_id": client["id"]}
    ).get_json()
    items = api.get(f"/api/v1/clients/{client['id']}/timeline").get_json()["items"]
    by_kind = {item["kind"]: item for item in items}
    assert by_kind["task"]["title"].startswith("Send the offer (")
    assert by_kind["task"]["url"] == f"/tasks/{task['id']}"
    assert by_kind["document"]["title"].startswith(document["number"])
    only_tasks = api.get(f"/api/v1/clients/{client['id']}/timeline?kinds=task").get_json()
    assert [i["kind"] for i in only_tasks["items"]] == ["task"]
    html = admin_client.get(f"/clients/{client['id']}").get_data(as_text=True)
    assert "Send the offer" in html and document["number"] in html


def test_calls_meetings_and_tasks_count_in_the_activity_report(app, api):
    admin = _admin_id(app)
    client = api.post("/api/v1/clients", json={"name": "Vest SRL"}).get_json()
    today = date.today().isoformat()
    for kind in ("call", "call", "meeting"):
        response = api.post(
            f"/api/v1/clients/{client['id']}/interactions",
            json={"kind": kind, "subject": kind, "occurred_at": f"{today}T09:00"},
        )
        assert response.status_code == 201, response.get_json()
    now = utcnow()
    with app.app_context():
        db.session.add_all(
            [
                Task(
                    title="Done",
                    assignee_id=admin,
                    status="done",
                    completed_at=now,
                    due_at=now + timedelta(hours=1),
                    priority="normal",
                    description="",
                    result="",
                ),
                Task(
                    title="Late",
                    assignee_id=admin,
                    status="open",
                    due_at=now - timedelta(minutes=5),
                    priority="normal",
                    description="",
                    result="",
                ),
            ]
        )
        db.session.commit()
    rows = api.get("/api/v1/reports/manager_activity?period=this_month").get_json()["rows"]
    [mine] = [r for r in rows if r["manager"] != "Total"]
    assert (mine["calls"], mine["meetings"], mine["tasks_done"]) == (2, 1, 1)
    # The late task is due this month unless the month began less than 5 minutes ago.
    assert mine["tasks_overdue"] == (
        1
        if now - timedelta(minutes=5)
        >= now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        else 0
    )


def test_a_merge_takes_calls_comments_and_tasks_to_the_survivor(app, api):
    admin = _admin_id(app)
    keep = api.post("/api/v1/clients", json={"name": "Alfa SRL"}).get_json()
    gone = api.post("/api/v1/clients", json={"name": "Alfa S.R.L."}).get_json()
    api.post(
        f"/api/v1/clients/{gone['id']}/interactions",
        json={"kind": "call", "subject": "First call", "occurred_at": "2026-01-05T10:00"},
    )
    api.post(
        "/api/v1/comments",
        json={"record_kind": "client", "record_id": gone["id"], "body": "Prefers e-mail"},
    )
    api.post(
        "/api/v1/tasks",
        json={
            "title": "Call back",
            "assignee_id": admin,
            "record_kind": "client",
            "record_id": gone["id"],
        },
    )
    merged = api.post(
        "/api/v1/clients/merge",
        json={"survivor_id": keep["id"], "merged_ids": [gone["id"]], "version": keep["version"]},
    )
    assert merged.status_code == 200, merged.get_json()
    with app.app_context():
        assert (
            db.session.execute(
                sa.select(Interaction.client_id).where(Interaction.subject == "First call")
            ).scalar_one()
            == keep["id"]
        )
        assert (
            db.session.execute(
                sa.select(Comment.record_id).where(Comment.body == "Prefers e-mail")
            ).scalar_one()
            == keep["id"]
        )
        assert (
            db.session.execute(
                sa.select(Task.record_id).where(Task.title == "Call back")
            ).scalar_one()
            == keep["id"]
        )
    kinds = {
        i["kind"] for i in api.get(f"/api/v1/clients/{keep['id']}/timeline").get_json()["items"]
    }
    assert {"call", "comment", "task"} <= kinds
