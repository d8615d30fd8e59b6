"""Interactions on clients, comments with @mentions, and the client card's timeline."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from core.audit.models import AuditLog
from core.clients import services as client_services
from core.db import db
from core.interactions.models import Comment, Interaction, comment_mentions
from core.users.models import User
from tests.conftest import (
    QueryCounter,
    api_token,
    disable,
    enable,
    login,
    make_user,
    post_form,
)

MANAGER = [
    "clients.view",
    "clients.edit",
    "interactions.view",
    "interactions.edit",
    "comments.write",
]


def _user_id(app, email):
    with app.app_context():
        return db.session.execute(sa.select(User.id).filter_by(email=email)).scalar_one()


def _set_timezone(app, email, timezone):
    with app.app_context():
        user = db.session.execute(sa.select(User).filter_by(email=email)).scalar_one()
        user.timezone = timezone
        db.session.commit()


def _new_client(app, name="Okna Plus SRL", owner_email="admin@example.com", **extra):
    with app.app_context():
        client = client_services.create_client(
            {"name": name, "owner_id": _user_id(app, owner_email), **extra}
        )
        return client.id


def _interactions(app, client_id):
    with app.app_context():
        return (
            db.session.execute(
                sa.select(Interaction)
                .where(Interaction.client_id == client_id)
                .order_by(Interaction.id)
            )
            .scalars()
            .all()
        )


@pytest.fixture
def managers(app):
    """Anna and Boris, managers with scope own, each with a client of their own."""
    make_user(app, "anna@example.com", MANAGER, {"clients": "own"}, name="Anna Petrova")
    make_user(app, "boris@example.com", MANAGER, {"clients": "own"}, name="Boris Ionescu")
    return {
        "anna": _new_client(app, "Anna Windows", "anna@example.com"),
        "boris": _new_client(app, "Boris Doors", "boris@example.com"),
    }


def _as(app, email):
    client = app.test_client()
    headers = api_token(client, email)

    class Caller:
        def __getattr__(self, method):
            def call(path, **kwargs):
                return getattr(client, method)(path, headers=headers, **kwargs)

            return call

    return Caller()


# --- recording, changing, deleting ----------------------------------------------------


def test_a_manager_records_a_call_in_their_timezone_and_it_is_stored_in_utc(app, managers):
    _set_timezone(app, "anna@example.com", "Europe/Chisinau")
    anna = _as(app, "anna@example.com")
    response = anna.post(
        f"/api/v1/clients/{managers['anna']}/interactions",
        json={
            "kind": "call",
            "direction": "out",
            "channel": "phone",
            "subject": "Offer for 12 windows",
            "text": "Wants a discount",
            "outcome": "Call back Monday",
            "duration_minutes": 12,
            "occurred_at": "2026-07-01T14:30",
        },
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    # Chișinău is UTC+3 in summer.
    assert body["occurred_at"].startswith("2026-07-01T11:30:00")
    assert body["user_id"] == _user_id(app, "anna@example.com")
    assert body["version"] == 1
    listed = anna.get(f"/api/v1/clients/{managers['anna']}/interactions").get_json()
    assert [i["subject"] for i in listed["items"]] == ["Offer for 12 windows"]


def test_a_note_has_no_direction_and_an_offset_is_respected(app, api):
    client_id = _new_client(app)
    response = api.post(
        f"/api/v1/clients/{client_id}/interactions",
        json={"kind": "note", "direction": "in", "occurred_at": "2026-01-05T10:00:00+02:00"},
    )
    assert response.status_code == 201
    assert response.get_json()["direction"] is None
    assert response.get_json()["occurred_at"].startswith("2026-01-05T08:00:00")


def test_changes_need_the_version_read_and_every_change_is_audited(app, api):
    client_id = _new_client(app)
    created = api.post(
        f"/api/v1/clients/{client_id}/interactions", json={"kind": "meeting", "subject": "Visit"}
    ).get_json()
    path = f"/api/v1/interactions/{created['id']}"
    changed = api.patch(path, json={"version": 1, "outcome": "Signed"})
    assert changed.status_code == 200 and changed.get_json()["version"] == 2
    stale = api.patch(path, json={"version": 1, "outcome": "Lost"})
    assert stale.status_code == 409
    assert api.get(path).get_json()["outcome"] == "Signed"
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404
    with app.app_context():
        actions = db.session.execute(
            sa.select(AuditLog.action, AuditLog.changes)
            .where(AuditLog.entity == "interactions", AuditLog.entity_id == created["id"])
            .order_by(AuditLog.id)
        ).all()
    assert [a for a, _ in actions] == ["create", "update", "delete"]
    assert actions[1][1]["outcome"] == ["", "Signed"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"kind": "call", "occurred_at": "yesterday at noon"}, "occurred_at"),
        ({"kind": "telegram"}, "kind"),
        ({"kind": "call", "duration_minutes": -5}, "duration_minutes"),
        ({"kind": "call", "direction": "sideways"}, "direction"),
        ({"subject": "no kind"}, "kind"),
        ({"kind": "call", "user_id": 999_999}, "user_id"),
    ],
)
def test_bad_input_is_refused_with_the_field_and_changes_nothing(app, api, body, field):
    client_id = _new_client(app)
    response = api.post(f"/api/v1/clients/{client_id}/interactions", json=body)
    assert response.status_code == 422, response.get_json()
    assert any(key.endswith(field) for key in response.get_json()["errors"]), response.get_json()
    assert _interactions(app, client_id) == []


def test_a_contact_person_of_another_client_is_refused(app, api):
    first, second = _new_client(app, "First Co"), _new_client(app, "Second Co")
    contact = api.post(f"/api/v1/clients/{second}/contacts", json={"last_name": "Rusu"})
    contact_id = contact.get_json()["id"]
    refused = api.post(
        f"/api/v1/clients/{first}/interactions",
        json={"kind": "call", "contact_person_id": contact_id},
    )
    assert refused.status_code == 422
    assert "contact_person_id" in refused.get_json()["errors"]
    assert _interactions(app, first) == []
    accepted = api.post(
        f"/api/v1/clients/{second}/interactions",
        json={"kind": "call", "contact_person_id": contact_id},
    )
    assert accepted.status_code == 201


def test_the_card_records_a_call_and_shows_it_in_the_timeline(app, admin_client):
    client_id = _new_client(app)
    card = f"/clients/{client_id}"
    page = admin_client.get(card).get_data(as_text=True)
    assert 'data-panel="core.timeline"' in page and "Record a call / meeting / note" in page
    response = post_form(
        admin_client,
        f"/clients/{client_id}/interactions",
        {
            "kind": "call",
            "direction": "in",
            "subject": "Asked for a price <b>now</b>",
            "duration_minutes": "5",
            "occurred_at": "2026-03-02T09:15",
        },
        page=card,
    )
    assert response.status_code == 302
    page = admin_client.get(card).get_data(as_text=True)
    timeline = page.split('data-testid="timeline"')[1]
    assert "Asked for a price &lt;b&gt;now&lt;/b&gt;" in timeline
    [interaction] = _interactions(app, client_id)
    edit = f"/interactions/{interaction.id}/edit"
    assert admin_client.get(edit).status_code == 200
    saved = post_form(
        admin_client,
        edit,
        {
            "kind": "call",
            "subject": "Price sent",
            "occurred_at": "2026-03-02T09:15",
            "version": "1",
        },
        page=edit,
    )
    assert saved.status_code == 302
    stale = post_form(
        admin_client,
        edit,
        {"kind": "call", "subject": "Overwrite", "occurred_at": "2026-03-02T09:15", "version": "1"},
        page=edit,
    )
    assert stale.status_code == 422 and "changed this meanwhile" in stale.get_data(as_text=True)
    assert _interactions(app, client_id)[0].subject == "Price sent"
    assert (
        post_form(admin_client, f"/interactions/{interaction.id}/delete", page=edit).status_code
        == 302
    )
    assert _interactions(app, client_id) == []


@pytest.mark.parametrize(
    "form, message",
    [
        ({"kind": "call", "occurred_at": "32.13.2026"}, "Not a valid datetime"),
        ({"kind": "fax"}, "Must be one of"),
        ({"kind": "call", "duration_minutes": "-1"}, "greater than or equal to 0"),
        ({"kind": "call", "duration_minutes": "ten"}, "Not a valid integer"),
    ],
)
def test_the_quick_add_form_shows_errors_and_saves_nothing(app, admin_client, form, message):
    client_id = _new_client(app)
    card = f"/clients/{client_id}"
    response = post_form(admin_client, f"/clients/{client_id}/interactions", form, page=card)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and "is-invalid" in html
    assert _interactions(app, client_id) == []


# --- scope --------------------------------------------------------------------------------


def test_every_interaction_route_answers_404_for_another_managers_client(app, managers, client):
    boris = _as(app, "boris@example.com")
    created = boris.post(
        f"/api/v1/clients/{managers['boris']}/interactions", json={"kind": "call"}
    ).get_json()
    comment = boris.post(
        "/api/v1/comments",
        json={"record_kind": "client", "record_id": managers["boris"], "body": "Mine"},
    )
    assert comment.status_code == 201
    anna = _as(app, "anna@example.com")
    other = managers["boris"]
    calls = [
        ("get", f"/api/v1/clients/{other}/interactions", None),
        ("post", f"/api/v1/clients/{other}/interactions", {"kind": "call"}),
        ("get", f"/api/v1/interactions/{created['id']}", None),
        ("patch", f"/api/v1/interactions/{created['id']}", {"version": 1, "subject": "x"}),
        ("delete", f"/api/v1/interactions/{created['id']}", None),
        ("get", f"/api/v1/clients/{other}/timeline", None),
        ("get", f"/api/v1/comments?record_kind=client&record_id={other}", None),
        ("post", "/api/v1/comments", {"record_kind": "client", "record_id": other, "body": "Hi"}),
        ("post", "/api/v1/comments", {"record_kind": "nothing", "record_id": 1, "body": "Hi"}),
    ]
    for method, path, body in calls:
        response = getattr(anna, method)(path, json=body) if body else getattr(anna, method)(path)
        assert response.status_code == 404, (method, path, response.get_json())
    login(client, "anna@example.com")
    own_card = f"/clients/{managers['anna']}"
    for path in (f"/clients/{other}/timeline", f"/interactions/{created['id']}/edit"):
        assert client.get(path).status_code == 404, path
    for path, form in [
        (f"/clients/{other}/interactions", {"kind": "call"}),
        (f"/interactions/{created['id']}/edit", {"kind": "call", "version": "1"}),
        (f"/interactions/{created['id']}/delete", {}),
        ("/comments", {"record_kind": "client", "record_id": str(other), "body": "Hi"}),
    ]:
        assert post_form(client, path, form, page=own_card).status_code == 404, path
    assert len(_interactions(app, other)) == 1
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Comment)).scalar() == 1
    assert boris.get(f"/api/v1/interactions/{created['id']}").get_json()["subject"] == ""


def test_without_interactions_view_the_timeline_keeps_only_the_rest(app, managers):
    make_user(app, "viewer@example.com", ["clients.view"], {"clients": "all"})
    _as(app, "anna@example.com").post(
        f"/api/v1/clients/{managers['anna']}/interactions", json={"kind": "call"}
    )
    viewer = _as(app, "viewer@example.com")
    kinds = {
        i["kind"]
        for i in viewer.get(f"/api/v1/clients/{managers['anna']}/timeline").get_json()["items"]
    }
    assert kinds == {"history"}
    assert viewer.get(f"/api/v1/clients/{managers['anna']}/interactions").status_code == 403


# --- the timeline -------------------------------------------------------------------------


def _timeline(api, client_id, **query):
    response = api.get(f"/api/v1/clients/{client_id}/timeline", query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_the_timeline_merges_interactions_comments_and_history_newest_first(app, api):
    client_id = _new_client(app)
    api.post(
        f"/api/v1/clients/{client_id}/interactions",
        json={"kind": "meeting", "subject": "Old meeting", "occurred_at": "2020-01-01T10:00Z"},
    )
    api.post(
        f"/api/v1/clients/{client_id}/interactions",
        json={"kind": "call", "subject": "Future call", "occurred_at": "2099-01-01T10:00Z"},
    )
    api.post(
        "/api/v1/comments", json={"record_kind": "client", "record_id": client_id, "body": "Hi"}
    )
    api.patch(f"/api/v1/clients/{client_id}", json={"version": 1, "industry": "Glass"})
    items = _timeline(api, client_id)["items"]
    kinds = [i["kind"] for i in items]
    assert kinds[0] == "call" and kinds[-1] == "meeting"
    assert {"comment", "history"} <= set(kinds)
    assert [i["at"] for i in items] == sorted((i["at"] for i in items), reverse=True)
    history = [i for i in items if i["kind"] == "history" and "industry" in i["body"]]
    assert history and "Glass" in history[0]["body"]
    only_calls = _timeline(api, client_id, kinds="call,meeting")["items"]
    assert [i["title"] for i in only_calls] == ["Future call", "Old meeting"]


def test_timeline_pages_have_no_duplicates_and_no_gaps(app, api):
    client_id = _new_client(app)
    # Several items share a time, so the page key must go beyond it.
    for n in range(23):
        api.post(
            f"/api/v1/clients/{client_id}/interactions",
            json={
                "kind": ("call", "note", "visit")[n % 3],
                "subject": f"#{n}",
                "occurred_at": f"2026-02-{1 + n // 4:02d}T10:00:00Z",
            },
        )
    for n in range(4):
        api.post(
            "/api/v1/comments",
            json={"record_kind": "client", "record_id": client_id, "body": f"c{n}"},
        )
    everything = _timeline(api, client_id, limit=100)["items"]
    seen, cursor = [], None
    while True:
        page = _timeline(api, client_id, limit=5, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= 5
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    keys = [(i["kind"], i["id"]) for i in seen]
    assert len(keys) == len(set(keys))
    assert keys == [(i["kind"], i["id"]) for i in everything]
    assert len([k for k in keys if k[0] != "history" and k[0] != "comment"]) == 23
    assert api.get(f"/api/v1/clients/{client_id}/timeline?cursor=garbage").status_code == 422
    assert api.get(f"/api/v1/clients/{client_id}/timeline?kinds=<script>").status_code == 422


def test_the_card_pages_the_timeline_with_a_load_more_link(app, admin_client, api):
    client_id = _new_client(app)
    for n in range(25):
        api.post(
            f"/api/v1/clients/{client_id}/interactions",
            json={
                "kind": "note",
                "subject": f"Note {n:02d}",
                "occurred_at": f"2026-01-{n + 1:02d}T08:00Z",
            },
        )
    page = admin_client.get(f"/clients/{client_id}?kind=note").get_data(as_text=True)
    assert "Note 24" in page and "Note 05" in page and "Note 04" not in page
    more = re.search(r'href="([^"]+)" data-timeline-more', page).group(1).replace("&amp;", "&")
    rest = admin_client.get(more + "&fragment=1").get_data(as_text=True)
    assert "Note 04" in rest and "Note 00" in rest and "Note 05" not in rest
    assert "<html" not in rest
    assert "Note 00" in admin_client.get(more).get_data(as_text=True)


@pytest.mark.parametrize("path", ["/api/v1/clients/{id}/timeline?limit=100", "/clients/{id}"])
def test_the_timeline_runs_the_same_few_queries_for_10_items_as_for_50(
    app, api, admin_client, path
):
    counts = []
    for size in (10, 50):
        client_id = _new_client(app, f"Client with {size}")
        api.post(f"/api/v1/clients/{client_id}/contacts", json={"last_name": "Popa"})
        for n in range(size):
            api.post(
                f"/api/v1/clients/{client_id}/interactions",
                json={"kind": "call", "subject": f"#{n}", "occurred_at": "2026-01-01T10:00Z"},
            )
            if n % 5 == 0:
                api.post(
                    "/api/v1/comments",
                    json={
                        "record_kind": "client",
                        "record_id": client_id,
                        "body": "@Ada Admin look",
                    },
                )
        caller = api if path.startswith("/api") else admin_client
        caller.get(path.format(id=client_id))  # warm the caches
        with QueryCounter(app) as counter:
            response = caller.get(path.format(id=client_id))
        assert response.status_code == 200
        # Less the plugin state, which tests read on every request (CRM_PLUGIN_STATE_TTL 0).
        counts.append(len([s for s in counter.statements if "FROM plugins" not in s]))
    assert counts[0] == counts[1], counts
    # The API: the client, its contact persons and one statement for every provider's
    # items (interactions, comments and their mentions, history, tasks, documents). The
    # card: the client with its owner; its contact persons, phones, e-mails, addresses and
    # tags; one statement for the rows of every panel (tasks, documents, attachments,
    # relations, former staff), the timeline's and the bell's count (23 before).
    assert counts[1] == 3, counts


def test_a_due_next_contact_date_shows_in_the_timeline(app, api):
    client_id = _new_client(app, next_contact_on="2020-05-01")
    kinds = [i["kind"] for i in _timeline(api, client_id)["items"]]
    assert "next_contact" in kinds
    future = _new_client(app, "Later Co", next_contact_on="2099-05-01")
    assert "next_contact" not in [i["kind"] for i in _timeline(api, future)["items"]]


def test_a_plugin_adds_timeline_items_until_it_is_disabled(app, api, admin_client):
    client_id = _new_client(app, "Plugin Co")
    assert "hello" not in [i["kind"] for i in _timeline(api, client_id)["items"]]
    enable(app, "hello")
    items = _timeline(api, client_id)["items"]
    assert [i["title"] for i in items if i["kind"] == "hello"] == [
        "Hello from the plugin, Plugin Co!"
    ]
    assert [i["kind"] for i in _timeline(api, client_id, kinds="hello")["items"]] == ["hello"]
    assert "Hello from the plugin" in admin_client.get(f"/clients/{client_id}").get_data(
        as_text=True
    )
    disable(app, "hello")
    assert "hello" not in [i["kind"] for i in _timeline(api, client_id)["items"]]


# --- comments and mentions ----------------------------------------------------------------


def test_mentions_are_stored_and_the_mentioned_users_notified(app, managers, smtp_server):
    from core.notifications.models import Notification

    make_user(app, "lena@example.com", MANAGER, {"clients": "all"}, name="Лена Смирнова")
    anna = _as(app, "anna@example.com")
    response = anna.post(
        "/api/v1/comments",
        json={
            "record_kind": "client",
            "record_id": managers["anna"],
            "body": "@лена смирнова and @boris@example.com, see <script>x</script>. @Nobody Here",
        },
    )
    assert response.status_code == 201, response.get_json()
    lena, boris = _user_id(app, "lena@example.com"), _user_id(app, "boris@example.com")
    assert sorted(response.get_json()["mentions"]) == sorted([lena, boris])
    with app.app_context():
        stored = db.session.execute(sa.select(comment_mentions.c.user_id)).scalars().all()
        assert sorted(stored) == sorted([lena, boris])
        told = db.session.execute(
            sa.select(Notification.user_id, Notification.event, Notification.subject)
        ).all()
    # Boris may not see Anna's client: he is not told about it.
    assert [(u, e) for u, e, _ in told] == [(lena, "mention")]
    assert told[0][2].startswith("Anna Petrova mentioned you")
    [mail] = smtp_server.messages
    assert mail["To"] == "lena@example.com" and "Anna Petrova" in mail["Subject"]
    listed = anna.get(
        f"/api/v1/comments?record_kind=client&record_id={managers['anna']}"
    ).get_json()
    assert listed["items"][0]["mentions"] and listed["next_cursor"] is None
    body = [
        i
        for i in anna.get(f"/api/v1/clients/{managers['anna']}/timeline").get_json()["items"]
        if i["kind"] == "comment"
    ][0]["body"]
    assert "&lt;script&gt;" in body and "<script>" not in body
    assert 'href="mailto:lena@example.com"' in body and "@Nobody Here" in body


def test_an_empty_comment_is_refused(app, api):
    client_id = _new_client(app)
    response = api.post(
        "/api/v1/comments", json={"record_kind": "client", "record_id": client_id, "body": "   "}
    )
    assert response.status_code == 422 and "body" in response.get_json()["errors"]


def test_a_comment_from_the_card_appears_in_its_timeline(app, admin_client):
    client_id = _new_client(app)
    card = f"/clients/{client_id}"
    response = post_form(
        admin_client,
        "/comments",
        {"record_kind": "client", "record_id": str(client_id), "body": "Call them back"},
        page=card,
    )
    assert response.status_code == 302 and response.location.startswith(card)
    page = admin_client.get(card).get_data(as_text=True)
    assert "Call them back" in page.split('data-testid="timeline"')[1]


def test_the_openapi_document_describes_the_routes(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/clients/{client_id}/interactions",
        "/api/v1/interactions/{interaction_id}",
        "/api/v1/clients/{client_id}/timeline",
        "/api/v1/comments",
    ):
        assert path in paths, path


def test_demo_clients_come_with_interactions_in_their_languages(app):
    from core import demo

    with app.app_context():
        demo.load(clients=8)
        subjects = set(db.session.execute(sa.select(Interaction.subject)).scalars())
    assert len(subjects) >= 4
    assert any(re.search("[а-я]", s) for s in subjects) and any(
        "ă" in s or "ü" in s for s in subjects
    )


def test_the_history_on_postgresql_is_looked_up_by_the_entity_index(app):
    """On PostgreSQL the timeline's history reads a client's entries (and those of the
    clients merged into it) through ``ix_audit_log_entity``: the ids are an index
    condition, never a filter tested on every entry while walking the whole audit log
    newest first (5.7 s a card at 2,000,000 entries). Sequential scans are switched off
    so that the plan shows what the statement allows, whatever the table's size."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("PostgreSQL's plan (SQLite's: tests/test_bench_and_plans.py)")
    from core.clients.models import Client
    from core.interactions import timeline
    from core.reads import read_together

    with app.app_context():
        client = client_services.create_client({"kind": "company", "name": "Audited Co"})
        client_services.save_contact(client, {"last_name": "Person"})
        client = db.session.get(Client, client.id)
        seen: list[tuple[str, object]] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            if "FROM audit_log" in statement and "EXPLAIN" not in statement:
                seen.append((statement, parameters))

        [source] = timeline.history_items(client, None, None, None, 20)
        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            items = source.items(read_together(source.reads))
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
        assert items and len(seen) == 1
        statement, parameters = seen[0]
        connection = db.session.connection()
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        )
        db.session.rollback()
    assert "ix_audit_log_entity" in plan, plan
    assert "entity_id = ANY ($0)" in plan or "entity_id = ANY ($1)" in plan, plan
    assert "SubPlan" not in plan and "ix_audit_log_at" not in plan, plan
