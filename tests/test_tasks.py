"""Tasks: the API within the "tasks" scope, optimistic locking, bad input that changes
nothing, due times in the assignee's zone, working-day offsets, my-tasks grouping, the
calendar feed, the client card panel and bounded queries."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from core.db import db, utcnow
from core.tasks import ical, services
from core.tasks.models import Task, TaskTemplate
from core.tasks.views import group
from core.users.models import User
from tests.conftest import ADMIN_EMAIL, QueryCounter, api_token, login, make_user, post_form

TASKS = ["tasks.view", "tasks.edit", "clients.view", "clients.create"]


def _id(app, email: str) -> int:
    with app.app_context():
        return db.session.execute(sa.select(User.id).filter_by(email=email)).scalar_one()


def _count(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(Task)).scalar_one()


@pytest.fixture
def people(app):
    anna = make_user(app, "anna@example.com", TASKS, {"tasks": "own", "clients": "own"})
    boris = make_user(app, "boris@example.com", TASKS, {"tasks": "own", "clients": "own"})
    client = app.test_client()
    return {
        "anna": anna,
        "boris": boris,
        "admin": _id(app, ADMIN_EMAIL),
        "anna_api": api_token(client, "anna@example.com"),
        "boris_api": api_token(client, "boris@example.com"),
        "http": client,
    }


def test_create_read_update_and_delete_through_the_api(app, api, people):
    response = api.post(
        "/api/v1/tasks",
        json={
            "title": "Send the offer",
            "assignee_id": people["anna"],
            "due_at": "2026-05-04T10:00:00+03:00",
            "priority": "high",
        },
    )
    assert response.status_code == 201, response.get_json()
    task = response.get_json()
    assert task["due_at"] == "2026-05-04T07:00:00Z"
    assert task["status"] == "open" and task["version"] == 1
    assert task["remind_before_minutes"] == 30  # the assignee's default
    got = api.get(f"/api/v1/tasks/{task['id']}").get_json()
    assert got["title"] == "Send the offer"
    changed = api.patch(
        f"/api/v1/tasks/{task['id']}", json={"version": 1, "status": "done", "result": "Sent"}
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["completed_at"] is not None
    assert api.delete(f"/api/v1/tasks/{task['id']}").status_code == 204
    assert api.get(f"/api/v1/tasks/{task['id']}").status_code == 404


def test_a_due_time_without_offset_is_the_assignees_wall_clock(app, api, people):
    with app.app_context():
        db.session.get(User, people["anna"]).timezone = "Asia/Tokyo"
        db.session.commit()
    response = api.post(
        "/api/v1/tasks",
        json={"title": "Call", "assignee_id": people["anna"], "due_at": "2026-05-04 10:00"},
    )
    assert response.get_json()["due_at"] == "2026-05-04T01:00:00Z"


def test_own_scope_sees_only_tasks_assigned_to_or_created_by_them(app, api, people):
    http = people["http"]
    theirs = api.post(
        "/api/v1/tasks", json={"title": "Boris's", "assignee_id": people["boris"]}
    ).get_json()
    by_anna = http.post(
        "/api/v1/tasks",
        json={"title": "For Boris, by Anna", "assignee_id": people["boris"]},
        headers=people["anna_api"],
    ).get_json()
    mine = api.post(
        "/api/v1/tasks", json={"title": "Anna's", "assignee_id": people["anna"]}
    ).get_json()
    anna = people["anna_api"]
    assert http.get(f"/api/v1/tasks/{theirs['id']}", headers=anna).status_code == 404
    assert (
        http.patch(
            f"/api/v1/tasks/{theirs['id']}", json={"version": 1, "title": "x"}, headers=anna
        ).status_code
        == 404
    )
    listed = http.get("/api/v1/tasks", headers=anna).get_json()["items"]
    assert {t["id"] for t in listed} == {by_anna["id"], mine["id"]}
    everything = api.get("/api/v1/tasks").get_json()["items"]
    assert len(everything) == 3
    # The filters combine with the scope and page by cursor.
    page = api.get(f"/api/v1/tasks?assignee_id={people['boris']}&limit=1").get_json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = api.get(
        f"/api/v1/tasks?assignee_id={people['boris']}&limit=1&cursor={page['next_cursor']}"
    ).get_json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None


def test_a_stale_version_gets_409_and_changes_nothing(app, api, people):
    task = api.post("/api/v1/tasks", json={"title": "Quote"}).get_json()
    assert (
        api.patch(f"/api/v1/tasks/{task['id']}", json={"version": 1, "title": "Quote v2"})
    ).status_code == 200
    stale = api.patch(f"/api/v1/tasks/{task['id']}", json={"version": 1, "title": "Lost"})
    assert stale.status_code == 409
    assert api.get(f"/api/v1/tasks/{task['id']}").get_json()["title"] == "Quote v2"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"due_at": "next tuesday"}, "due_at"),
        ({"due_at": "2026-13-45T10:00"}, "due_at"),
        ({"assignee_id": 999999}, "assignee_id"),
        ({"assignee_id": "inactive"}, "assignee_id"),
        ({"record_kind": "client", "record_id": 999999}, "record_id"),
        ({"record_kind": "nope.kind", "record_id": 1}, "record_id"),
        ({"priority": "urgent"}, "priority"),
        ({"title": ""}, "title"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(app, api, people, payload, field):
    if payload.get("assignee_id") == "inactive":
        with app.app_context():
            db.session.get(User, people["boris"]).active = False
            db.session.commit()
        payload = {"assignee_id": people["boris"]}
    body = {"title": "Something", **payload}
    response = api.post("/api/v1/tasks", json=body)
    assert response.status_code in (400, 422), response.get_json()
    assert field in response.get_json()["errors"], response.get_json()
    assert _count(app) == 0


def test_a_link_to_a_client_the_user_cannot_see_is_refused(app, api, people):
    http = people["http"]
    boris_client = http.post(
        "/api/v1/clients",
        json={"kind": "company", "name": "Boris Ltd"},
        headers=people["boris_api"],
    ).get_json()
    refused = http.post(
        "/api/v1/tasks",
        json={"title": "Peek", "record_kind": "client", "record_id": boris_client["id"]},
        headers=people["anna_api"],
    )
    assert refused.status_code == 422
    assert "record_id" in refused.get_json()["errors"]
    ok = http.post(
        "/api/v1/tasks",
        json={"title": "Follow up", "record_kind": "client", "record_id": boris_client["id"]},
        headers=people["boris_api"],
    )
    assert ok.status_code == 201
    listed = api.get(f"/api/v1/tasks?record_kind=client&record_id={boris_client['id']}")
    assert [t["title"] for t in listed.get_json()["items"]] == ["Follow up"]
    # ...and shows on the client card's task panel.
    login(http, "boris@example.com")
    card = http.get(f"/clients/{boris_client['id']}").get_data(as_text=True)
    assert 'data-testid="client-tasks"' in card and "Follow up" in card


def test_working_day_offsets_skip_the_weekend(app):
    friday = datetime(2026, 3, 6, 14, 0)  # UTC, 16:00 in Chisinau
    with app.app_context():
        assert services.add_offset(friday, 1, "working_days", "Europe/Chisinau") == datetime(
            2026, 3, 9, 14, 0
        )
        assert services.add_offset(friday, 5, "working_days") == datetime(2026, 3, 13, 14, 0)
        saturday = datetime(2026, 3, 7, 9, 0)
        assert services.add_offset(saturday, 1, "working_days") == datetime(2026, 3, 10, 9, 0)
        assert services.add_offset(friday, 15, "minutes") == friday + timedelta(minutes=15)
        assert services.add_offset(friday, 3, "hours") == friday + timedelta(hours=3)


def test_create_from_template_for_plugins(app, people):
    with app.app_context():
        db.session.add(
            TaskTemplate(
                code="call_lead",
                title="Call the new lead",
                description="Within two working days",
                due_amount=2,
                due_unit="working_days",
                priority="high",
            )
        )
        db.session.commit()
        friday = datetime(2026, 3, 6, 9, 0)
        task = services.create_from_template(
            "call_lead", people["anna"], link=("client", 5), now=friday
        )
        assert task.due_at == datetime(2026, 3, 10, 9, 0)
        assert (task.priority, task.record_kind, task.record_id) == ("high", "client", 5)
        assert task.assignee_id == people["anna"] and task.status == "open"


def test_my_tasks_are_grouped_on_the_users_own_calendar(app):
    # Wednesday 2026-01-07 20:00 UTC is already Thursday 05:00 in Tokyo.
    now = datetime(2026, 1, 7, 20, 0)

    def task(due):
        return Task(title=f"due {due}", due_at=due, status="open")

    tasks = [
        task(datetime(2026, 1, 7, 19, 0)),  # overdue
        task(datetime(2026, 1, 8, 14, 0)),  # Thu 23:00 Tokyo: today (in UTC: tomorrow)
        task(datetime(2026, 1, 8, 16, 0)),  # Fri 01:00 Tokyo: this week
        task(datetime(2026, 1, 11, 16, 0)),  # Mon 01:00 Tokyo: later (in UTC: Sunday)
        task(None),
    ]
    tokyo = {k: [t.due_at for t in v] for k, v in group(tasks, "Asia/Tokyo", now).items()}
    assert tokyo == {
        "overdue": [datetime(2026, 1, 7, 19, 0)],
        "today": [datetime(2026, 1, 8, 14, 0)],
        "week": [datetime(2026, 1, 8, 16, 0)],
        "later": [datetime(2026, 1, 11, 16, 0), None],
    }
    utc = {k: [t.due_at for t in v] for k, v in group(tasks, "UTC", now).items()}
    assert utc["today"] == [] and datetime(2026, 1, 11, 16, 0) in utc["week"]


def test_the_my_tasks_page_runs_a_fixed_number_of_queries(app, admin_client, api):
    clients = [
        api.post("/api/v1/clients", json={"kind": "company", "name": f"Client {i}"}).get_json()
        for i in range(30)
    ]
    now = utcnow()

    def add(n: int, start: int) -> None:
        for i in range(start, start + n):
            api.post(
                "/api/v1/tasks",
                json={
                    "title": f"Task {i}",
                    "due_at": (now + timedelta(hours=i - 3)).isoformat() + "Z",
                    "record_kind": "client",
                    "record_id": clients[i % 30]["id"],
                },
            )

    counts = {}
    for total, step in ((3, 3), (30, 27)):
        add(step, total - step)
        admin_client.get("/tasks/")
        with QueryCounter(app) as counter:
            page = admin_client.get("/tasks/")
        assert page.status_code == 200
        assert page.get_data(as_text=True).count('data-testid="task"') == total
        counts[total] = counter.count
    assert counts[3] == counts[30] <= 12, counts
    html = admin_client.get("/tasks/").get_data(as_text=True)
    overdue = html.split('data-testid="group-overdue"')[1].split("</section>")[0]
    assert "Task 0" in overdue and "Client 0" in overdue


def test_a_busy_manager_sees_each_groups_first_rows_and_pages_through_one(
    app, admin_client, monkeypatch
):
    from core.tasks import views

    monkeypatch.setattr(views, "GROUP_ROWS", 5)
    monkeypatch.setattr(views, "PAGE_ROWS", 4)
    admin = _id(app, ADMIN_EMAIL)
    now = utcnow().replace(microsecond=0)
    with app.app_context():
        # 11 overdue (two share a due time), 2 undated, one done that never shows.
        due = [now - timedelta(days=30 - i) for i in range(10)] + [now - timedelta(days=21)]
        db.session.add_all(
            [Task(title=f"Late {i:02d}", due_at=d, assignee_id=admin) for i, d in enumerate(due)]
            + [Task(title=f"Someday {i}", due_at=None, assignee_id=admin) for i in range(2)]
            + [
                Task(
                    title="Finished",
                    due_at=now - timedelta(days=40),
                    assignee_id=admin,
                    status="done",
                )
            ]
        )
        db.session.commit()

    def titles(html: str, key: str) -> list[str]:
        section = html.split(f'data-testid="group-{key}"')[1].split("</section>")[0]
        return [
            part.split("</a>")[0].split(">")[-1]
            for part in section.split('class="fw-semibold"')[1:]
        ]

    page = admin_client.get("/tasks/").get_data(as_text=True)
    overdue = page.split('data-testid="group-overdue"')[1].split("</section>")[0]
    assert '<span class="badge text-bg-danger">11</span>' in overdue
    assert titles(page, "overdue") == ["Late 00", "Late 01", "Late 02", "Late 03", "Late 04"]
    assert "?group=overdue" in overdue and "Finished" not in page
    assert titles(page, "later") == ["Someday 0", "Someday 1"]
    assert 'data-testid="show-all-later"' not in page

    seen, url = [], "/tasks/?group=overdue"
    while url:
        answer = admin_client.get(url)
        assert answer.status_code == 200
        html = answer.get_data(as_text=True)
        assert 'data-testid="group-today"' not in html
        seen += titles(html, "overdue")
        link = (
            html.split('data-testid="next-page" href="')[1].split('"')[0]
            if "next-page" in html
            else None
        )
        url = link.replace("&amp;", "&") if link else None
    # Every overdue task once, in due order (Late 09 and Late 10 are both due 21 days ago).
    assert seen == [f"Late {i:02d}" for i in range(9)] + ["Late 09", "Late 10"]

    for bad in (
        "/tasks/?group=nope",
        "/tasks/?group=overdue&after=garbage",
        "/tasks/?after=2026-01-01T00:00:00~1",
        "/tasks/team?group=overdue&after=x~1",
    ):
        assert admin_client.get(bad).status_code == 400, bad


def test_task_form_shows_errors_and_saves(app, admin_client):
    bad = post_form(admin_client, "/tasks/new", {"title": "", "due_at": "soon"}, "/tasks/new")
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert 'id="title-error"' in html and 'id="due_at-error"' in html
    assert _count(app) == 0
    ok = post_form(
        admin_client,
        "/tasks/new",
        {"title": "Prepare contract", "due_at": "2026-06-01T09:30", "priority": "high"},
        "/tasks/new",
    )
    assert ok.status_code == 302
    with app.app_context():
        task = db.session.execute(sa.select(Task)).scalar_one()
    page = admin_client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'value="2026-06-01T09:30"' in page
    stale = post_form(
        admin_client,
        f"/tasks/{task.id}",
        {"title": "Other", "version": "7", "status": "open", "priority": "low"},
        f"/tasks/{task.id}",
    )
    assert stale.status_code == 422 and "changed this task" in stale.get_data(as_text=True)
    done = post_form(admin_client, f"/tasks/{task.id}/complete", {"result": "ok"}, "/tasks/")
    assert done.status_code == 302
    with app.app_context():
        assert db.session.get(Task, task.id).status == "done"
    for path in ("/tasks/team", "/tasks/calendar", "/tasks/calendar?month=2026-06", "/tasks/"):
        assert admin_client.get(path).status_code == 200, path
    assert "Prepare contract" in admin_client.get("/tasks/calendar?month=2026-06").get_data(
        as_text=True
    )


def test_team_heads_see_their_teams_tasks(app, api):
    from core.users.models import Team

    head = make_user(app, "head@example.com", TASKS, {"tasks": "own"})
    with app.app_context():
        team = Team(name="North", head_id=head)
        db.session.add(team)
        db.session.commit()
        team_id = team.id
    member = make_user(app, "member@example.com", TASKS, {"tasks": "own"}, team_id=team_id)
    task = api.post("/api/v1/tasks", json={"title": "Member's job", "assignee_id": member})
    http = app.test_client()
    login(http, "head@example.com")
    assert "Member&#39;s job" in http.get("/tasks/team").get_data(as_text=True)
    headers = api_token(http, "head@example.com")
    assert http.get(f"/api/v1/tasks/{task.get_json()['id']}", headers=headers).status_code == 200


def test_the_calendar_feed_serves_open_tasks_and_dies_when_revoked(app, admin_client, api):
    api.post(
        "/api/v1/tasks",
        json={
            "title": "Meet; sign, celebrate",
            "description": "Line one\nLine two " + "ü" * 80,
            "due_at": "2026-05-04T07:00:00Z",
        },
    )
    post_form(admin_client, "/tasks/settings", {"action": "regenerate"}, "/profile")
    profile = admin_client.get("/profile").get_data(as_text=True)
    url = profile.split('data-testid="ical-url"')[1].split('value="')[1].split('"')[0]
    path = url.split("localhost", 1)[1]
    anonymous = app.test_client()
    response = anonymous.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    text = response.get_data(as_text=True)
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    # A dated task is an event at its due time, so Google Calendar shows it too, with an
    # alarm the reminder time before.
    assert "BEGIN:VEVENT" in text and "DTSTART:20260504T070000Z" in text
    assert "DTEND:20260504T071500Z" in text and "TRIGGER:-PT30M" in text
    assert "SUMMARY:Meet\\; sign\\, celebrate" in text
    unfolded = text.replace("\r\n ", "")
    assert "DESCRIPTION:Line one\\nLine two " + "ü" * 80 in unfolded
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    post_form(admin_client, "/tasks/settings", {"action": "regenerate"}, "/profile")
    assert anonymous.get(path).status_code == 404
    post_form(admin_client, "/tasks/settings", {"action": "revoke"}, "/profile")
    assert 'data-testid="ical-url"' not in admin_client.get("/profile").get_data(as_text=True)
    assert anonymous.get("/tasks/feed/nonsense.ics").status_code == 404


def test_ical_folding_and_escaping():
    assert ical.escape("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne"
    folded = ical.fold("X:" + "я" * 100)
    lines = folded.split("\r\n")
    assert all(len(line.encode()) <= 75 for line in lines)
    assert "".join(line[1:] if i else line for i, line in enumerate(lines)) == "X:" + "я" * 100


def test_tasks_are_a_record_kind_seen_within_the_scope(app, api, people):
    from core import records

    task = api.post("/api/v1/tasks", json={"title": "Anna's", "assignee_id": people["anna"]})
    task_id = task.get_json()["id"]
    with app.test_request_context():
        anna = db.session.get(User, people["anna"])
        boris = db.session.get(User, people["boris"])
        assert records.visible("task", task_id, anna).title == "Anna's"
        assert records.visible("task", task_id, boris) is None


def test_task_templates_through_the_api_and_a_task_made_from_one(app, api, people):
    made = api.post(
        "/api/v1/task-templates",
        json={
            "code": "sales.first_call",
            "title": "Call the client within 15 minutes",
            "due_amount": 15,
            "due_unit": "minutes",
            "priority": "high",
        },
    )
    assert made.status_code == 201, made.get_json()
    template = made.get_json()
    for bad, field in (
        ({"code": "Sales First", "title": "x"}, "code"),
        ({"code": "sales.first_call", "title": "Again"}, "code"),
        ({"code": "other", "title": "x", "due_unit": "weeks"}, "due_unit"),
        ({"code": "other", "title": "x", "due_amount": -1}, "due_amount"),
        ({"code": "other", "title": "   "}, "title"),
    ):
        response = api.post("/api/v1/task-templates", json=bad)
        assert response.status_code == 422 and field in str(response.get_json()), bad
    stale = api.patch(
        f"/api/v1/task-templates/{template['id']}", json={"version": 99, "title": "New"}
    )
    assert stale.status_code == 409
    changed = api.patch(
        f"/api/v1/task-templates/{template['id']}", json={"version": 1, "due_amount": 30}
    )
    assert changed.status_code == 200 and changed.get_json()["due_amount"] == 30
    assert [t["code"] for t in api.get("/api/v1/task-templates").get_json()] == ["sales.first_call"]
    now = datetime(2026, 5, 4, 9, 0)
    with app.app_context():
        task = services.create_from_template("sales.first_call", people["anna"], now=now)
        assert task.title == "Call the client within 15 minutes"
        assert task.due_at == now + timedelta(minutes=30) and task.priority == "high"
        assert task.origin == "sales.first_call"
    # Anna may see tasks but not edit templates.
    refused = people["http"].post(
        "/api/v1/task-templates",
        headers=people["anna_api"],
        json={"code": "x", "title": "x"},
    )
    assert refused.status_code == 403
    assert api.delete(f"/api/v1/task-templates/{template['id']}").status_code == 204
    assert api.get(f"/api/v1/task-templates/{template['id']}").status_code == 404


def test_task_templates_page_refuses_bad_input_and_saves_good(app, admin_client):
    page = admin_client.get("/tasks/templates/new")
    assert page.status_code == 200
    bad = post_form(
        admin_client,
        "/tasks/templates/new",
        {"code": "BAD CODE", "title": "", "due_amount": "abc", "due_unit": "hours"},
        "/tasks/templates/new",
    )
    assert bad.status_code == 422 and "form-errors" in bad.get_data(as_text=True)
    # "²" passes str.isdigit() but not int(): refused like any other non-number, not a 500.
    superscript = post_form(
        admin_client,
        "/tasks/templates/new",
        {"code": "measure", "title": "Measure", "due_amount": "²", "due_unit": "hours"},
        "/tasks/templates/new",
    )
    assert superscript.status_code == 422 and "form-errors" in superscript.get_data(as_text=True)
    with app.app_context():
        assert (
            db.session.execute(sa.select(sa.func.count()).select_from(TaskTemplate)).scalar() == 0
        )
    good = post_form(
        admin_client,
        "/tasks/templates/new",
        {
            "code": "measure",
            "title": "Measure the windows",
            "due_amount": "2",
            "due_unit": "working_days",
            "priority": "normal",
        },
        "/tasks/templates/new",
    )
    assert good.status_code == 302
    listing = admin_client.get("/tasks/templates").get_data(as_text=True)
    assert "Measure the windows" in listing and "measure" in listing
