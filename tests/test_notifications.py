"""Notifications go out through the channels of active plugins, each delivery a retried job."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from crm_test_plugins.hello.models import Delivery

from core import notifications
from core.db import db
from core.users.models import User
from tests.conftest import ADMIN_EMAIL, disable, enable


def _admin_id(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(User.id).filter_by(email=ADMIN_EMAIL)).scalar_one()


def _delivered(app) -> list[str]:
    with app.app_context():
        return (
            db.session.execute(
                sa.select(Delivery.payload).filter_by(kind="notification").order_by(Delivery.id)
            )
            .scalars()
            .all()
        )


def test_a_plugin_channel_delivers_while_its_plugin_is_enabled(app):
    user_id = _admin_id(app)
    with app.app_context():
        assert "hello_log" not in notifications.channels()
    enable(app, "hello")
    with app.app_context():
        assert notifications.send(
            user_id, "Task due", "Call Ivan", channel_names=["hello_log"]
        ) == ["hello_log"]
    assert _delivered(app) == [f"{ADMIN_EMAIL}: Task due"]
    disable(app, "hello")
    with app.app_context():
        assert notifications.send(user_id, "Hidden", "x", channel_names=["hello_log"]) == []
    enable(app, "hello")
    assert _delivered(app) == [f"{ADMIN_EMAIL}: Task due"]


def test_a_failing_delivery_is_retried_and_not_lost(app):
    enable(app, "hello")
    with app.app_context():
        notifications.send(_admin_id(app), "flaky channel", "body", channel_names=["hello_log"])
    assert _delivered(app) == [f"{ADMIN_EMAIL}: flaky channel"]


# --- notify: events, preferences, channels, the bell and the API --------------------------


def _notifications(app, user_id: int, event: str | None = None) -> list:
    from core.notifications.models import Notification

    with app.app_context():
        query = sa.select(Notification).where(Notification.user_id == user_id)
        if event:
            query = query.where(Notification.event == event)
        rows = db.session.execute(query.order_by(Notification.id)).scalars().all()
        db.session.expunge_all()
        return rows


def test_notify_sends_once_per_key_in_app_and_by_email(app, smtp_server):
    user_id = _admin_id(app)
    with app.app_context():
        assert notifications.notify("mention", [user_id], "Ivan mentioned you", "Hi", key="m:1")
        assert (
            notifications.notify("mention", [user_id], "Ivan mentioned you", "Hi", key="m:1") == []
        )
    assert len(_notifications(app, user_id, "mention")) == 1
    assert [m["Subject"] for m in smtp_server.messages] == ["Ivan mentioned you"]
    assert smtp_server.messages[0]["To"] == ADMIN_EMAIL


def test_email_switched_off_sends_no_mail_but_keeps_the_bell(app, smtp_server, admin_client):
    user_id = _admin_id(app)
    profile = admin_client.get("/profile").get_data(as_text=True)
    assert 'value="mention:email" aria-label' in profile
    assert 'value="task_due_soon:email"' in profile
    # Tick everything the defaults tick except mention by e-mail.
    with app.app_context():
        table = notifications.preference_table(user_id)
    chosen = [f"{e}:{c}" for (e, c), on in table.items() if on and (e, c) != ("mention", "email")]
    response = admin_client.post(
        "/notifications/preferences",
        data={"pref": chosen, "csrf_token": _csrf(admin_client)},
    )
    assert response.status_code == 302
    with app.app_context():
        assert notifications.preference_table(user_id)[("mention", "email")] is False
        assert notifications.preference_table(user_id)[("mention", "in_app")] is True
        notifications.notify("mention", [user_id], "Quiet mention", "x")
        notifications.notify("client_assigned", [user_id], "Loud", "x")
    assert [m["Subject"] for m in smtp_server.messages] == ["Loud"]
    assert len(_notifications(app, user_id, "mention")) == 1


def _csrf(client) -> str:
    from tests.conftest import csrf_token

    return csrf_token(client, "/profile")


def test_in_app_switched_off_hides_it_from_the_bell_but_still_sends_once(app, smtp_server):
    user_id = _admin_id(app)
    with app.app_context():
        notifications.save_preferences(user_id, [("task_overdue", "email")])
        notifications.notify("task_overdue", [user_id], "Late", "x", key="k")
        notifications.notify("task_overdue", [user_id], "Late", "x", key="k")
        assert notifications.unread_count(user_id) == 0
        assert notifications.page(user_id)[0] == []
    assert [m["Subject"] for m in smtp_server.messages] == ["Late"]


def test_a_smtp_server_that_is_down_delays_the_mail_and_loses_none(app, smtp_server, tmp_path):
    """A real Huey queue on SQLite: the first delivery fails and is scheduled again; once the
    server takes mail, the retry delivers it, exactly once."""
    from tests.conftest import make_app

    producer = make_app(
        tmp_path / "queue",
        app.config["SQLALCHEMY_DATABASE_URI"],
        CRM_JOBS_IMMEDIATE=False,
        CRM_JOBS_SQLITE_PATH=str(tmp_path / "jobs.sqlite3"),
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp_server.port,
        SMTP_SSL=False,
        SMTP_STARTTLS=False,
        SMTP_USERNAME=None,
    )
    huey = producer.extensions["crm_jobs"].huey
    user_id = _admin_id(app)
    smtp_server.refuse = "451 4.3.0 Try again later"
    with producer.app_context():
        notifications.notify("task_assigned", [user_id], "New task: call", "Call Ivan")
    task = huey.dequeue()
    assert task is not None
    huey.execute(task)  # refused: the job schedules its own retry
    assert smtp_server.messages == []
    # The retry waits in the queue with its time to run (the consumer holds it till then).
    retry = huey.dequeue() or (huey.read_schedule(datetime.now() + timedelta(days=1)) or [None])[0]
    assert retry is not None and retry.eta is not None
    smtp_server.refuse = None
    huey.execute(retry, timestamp=retry.eta)  # as the consumer does when its time comes
    assert [m["Subject"] for m in smtp_server.messages] == ["New task: call"]
    assert huey.dequeue() is None and huey.scheduled_count() == 0
    assert len(_notifications(app, user_id, "task_assigned")) == 1
    with producer.app_context():
        db.engine.dispose()


def test_the_bell_counts_unread_and_the_api_marks_them_read(app, admin_client, api):
    user_id = _admin_id(app)
    with app.app_context():
        for i in range(3):
            notifications.notify("mention", [user_id], f"Mention {i}", "x", url="/tasks/")
        notifications.save_preferences(user_id, [])  # no e-mail wanted for what follows
    page = admin_client.get("/").get_data(as_text=True)
    assert 'data-testid="bell-count">3<' in page
    listed = api.get("/api/v1/notifications?limit=2").get_json()
    assert [n["subject"] for n in listed["items"]] == ["Mention 2", "Mention 1"]
    assert listed["unread_count"] == 3 and listed["next_cursor"]
    rest = api.get(f"/api/v1/notifications?cursor={listed['next_cursor']}").get_json()
    assert [n["subject"] for n in rest["items"]] == ["Mention 0"]
    first = listed["items"][0]["id"]
    read = api.post(f"/api/v1/notifications/{first}/read")
    assert read.status_code == 200 and read.get_json()["read_at"]
    assert len(api.get("/api/v1/notifications?unread=true").get_json()["items"]) == 2
    assert 'data-testid="bell-count">2<' in admin_client.get("/").get_data(as_text=True)
    assert api.post("/api/v1/notifications/read-all").get_json() == {"marked": 2}
    assert 'data-testid="bell-count"' not in admin_client.get("/").get_data(as_text=True)
    html = admin_client.get("/notifications").get_data(as_text=True)
    assert html.count('data-testid="notification"') == 3


def test_nobody_reads_or_marks_another_users_notifications(app, api):
    from tests.conftest import api_token, make_user

    other = make_user(app, "other@example.com", [])
    with app.app_context():
        notifications.save_preferences(other, [("mention", "in_app")])
        notifications.notify("mention", [other], "Private", "x")
    row = _notifications(app, other)[0]
    assert api.post(f"/api/v1/notifications/{row.id}/read").status_code == 404
    assert api.get("/api/v1/notifications").get_json()["items"] == []
    http = app.test_client()
    headers = api_token(http, "other@example.com")
    mine = http.get("/api/v1/notifications", headers=headers).get_json()
    assert [n["subject"] for n in mine["items"]] == ["Private"]


def test_the_new_owner_of_a_client_is_told(app, api, smtp_server):
    from tests.conftest import make_user

    owner = make_user(app, "olga@example.com", ["clients.view"])
    client = api.post("/api/v1/clients", json={"kind": "company", "name": "Romashka"}).get_json()
    patched = api.patch(
        f"/api/v1/clients/{client['id']}", json={"version": client["version"], "owner_id": owner}
    )
    assert patched.status_code == 200, patched.get_json()
    rows = _notifications(app, owner, "client_assigned")
    assert len(rows) == 1 and "Romashka" in rows[0].subject
    assert rows[0].record_kind == "client" and rows[0].record_id == client["id"]
    assert [m["To"] for m in smtp_server.messages] == ["olga@example.com"]
    # The bulk action tells them too; taking a client oneself tells nobody.
    second = api.post("/api/v1/clients", json={"kind": "company", "name": "Vasilek"}).get_json()
    api.post(
        "/api/v1/clients/bulk",
        json={"action": "assign_owner", "value": owner, "ids": [second["id"]]},
    )
    assert len(_notifications(app, owner, "client_assigned")) == 2
    assert _notifications(app, _admin_id(app), "client_assigned") == []


def test_a_task_assigned_to_someone_else_notifies_them(app, api, smtp_server):
    from tests.conftest import make_user

    anna = make_user(app, "anna@example.com", ["tasks.view"])
    api.post("/api/v1/tasks", json={"title": "Mine"})
    api.post("/api/v1/tasks", json={"title": "Hers", "assignee_id": anna})
    assert _notifications(app, _admin_id(app), "task_assigned") == []
    rows = _notifications(app, anna, "task_assigned")
    assert [r.subject for r in rows] == ["New task: Hers"]
    assert [m["Subject"] for m in smtp_server.messages] == ["New task: Hers"]


def test_the_api_is_in_the_openapi_document(app):
    paths = app.test_client().get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/notifications",
        "/api/v1/notifications/{notification_id}/read",
        "/api/v1/notifications/read-all",
        "/api/v1/tasks",
        "/api/v1/tasks/{task_id}",
    ):
        assert path in paths, sorted(paths)
