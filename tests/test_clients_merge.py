"""Merging duplicates: the survivor keeps chosen values and gains the rest; nothing is lost."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from core.audit.models import AuditLog
from core.clients.models import Client, ClientRelation, Phone
from core.db import db
from core.plugin_system import hookimpl
from core.plugin_system.registry import PluginInfo
from core.users.services import ValidationFailed
from tests.conftest import api_token, enable, make_user, post_form


def _api(app, email="admin@example.com"):
    client = app.test_client()
    return client, api_token(client, email)


def test_merge_moves_everything_to_the_survivor(app):
    client, headers = _api(app)

    def post(path, body):
        response = client.post(path, headers=headers, json=body)
        assert response.status_code in (200, 201), response.get_json()
        return response.get_json()

    a = post(
        "/api/v1/clients",
        {
            "name": "Okna Plus",
            "phones": ["+373 22 123 456"],
            "emails": ["office@okna.md"],
            "tags": ["windows"],
            "notes": "Met at fair",
        },
    )
    b = post(
        "/api/v1/clients",
        {
            "name": "OKNA PLUS SRL",
            "tax_id": "1003600061009",
            "phones": ["+373 22 123 456", "+373 69 000 111"],
            "emails": ["sales@okna.md"],
            "tags": ["vip"],
            "notes": "Pays late",
            "status": "customer",
        },
    )
    partner = post("/api/v1/clients", {"name": "Partner Co"})
    post(f"/api/v1/clients/{b['id']}/contacts", {"first_name": "Ion", "last_name": "Rusu"})
    post(f"/api/v1/clients/{b['id']}/relations", {"other_id": partner["id"], "kind": "partner"})
    post(f"/api/v1/clients/{a['id']}/relations", {"other_id": b["id"], "kind": "partner"})
    merged = post(
        "/api/v1/clients/merge",
        {
            "survivor_id": a["id"],
            "merged_ids": [b["id"]],
            "version": a["version"],
            "fields": {"name": b["id"], "status": b["id"]},
        },
    )
    assert merged["name"] == "OKNA PLUS SRL" and merged["status"] == "customer"
    assert merged["tax_id"] == "1003600061009"  # filled from the other, though not chosen
    assert sorted(p["number"] for p in merged["phones"]) == ["+37322123456", "+37369000111"]
    assert sorted(e["email"] for e in merged["emails"]) == ["office@okna.md", "sales@okna.md"]
    assert merged["tags"] == ["vip", "windows"]
    assert "Met at fair" in merged["notes"] and "Pays late" in merged["notes"]
    contacts = client.get(f"/api/v1/clients/{a['id']}/contacts", headers=headers).get_json()
    assert [c["last_name"] for c in contacts] == ["Rusu"]
    relations = client.get(f"/api/v1/clients/{a['id']}/relations", headers=headers).get_json()
    assert [(r["client_id"], r["other_id"]) for r in relations] == [(a["id"], partner["id"])]
    assert client.get(f"/api/v1/clients/{b['id']}", headers=headers).status_code == 404
    with app.app_context():
        gone = db.session.get(Client, b["id"])
        assert gone.merged_into_id == a["id"] and gone.deleted_at is not None
        assert (
            db.session.execute(sa.select(sa.func.count()).select_from(ClientRelation)).scalar() == 1
        )
    found = client.get(
        "/api/v1/clients", headers=headers, query_string={"q": "sales@okna.md"}
    ).get_json()
    assert [c["id"] for c in found["items"]] == [a["id"]]
    history = client.get(
        "/api/v1/audit", headers=headers, query_string={"entity": "clients", "entity_id": a["id"]}
    ).get_json()["items"]
    assert history[0]["action"] == "merge" and history[0]["changes"]["merged"] == [None, [b["id"]]]
    restore = client.post(f"/api/v1/clients/{b['id']}/restore", headers=headers)
    assert restore.status_code == 409 and f"#{a['id']}" in restore.get_json()["message"]


def test_bad_merges_are_refused_and_change_nothing(app):
    client, headers = _api(app)
    a = client.post("/api/v1/clients", headers=headers, json={"name": "A"}).get_json()
    b = client.post("/api/v1/clients", headers=headers, json={"name": "B"}).get_json()
    cases = [
        ({"survivor_id": a["id"], "merged_ids": [a["id"]], "version": 1}, 422, "itself"),
        ({"survivor_id": a["id"], "merged_ids": [], "version": 1}, 422, "merged_ids"),
        ({"survivor_id": a["id"], "merged_ids": [9999], "version": 1}, 422, "9999"),
        ({"survivor_id": a["id"], "merged_ids": [b["id"]], "version": 7}, 409, "changed"),
        (
            {
                "survivor_id": a["id"],
                "merged_ids": [b["id"]],
                "version": 1,
                "fields": {"id": b["id"]},
            },
            422,
            "fields.id",
        ),
        (
            {
                "survivor_id": a["id"],
                "merged_ids": [b["id"]],
                "version": 1,
                "fields": {"name": 9999},
            },
            422,
            "fields.name",
        ),
        ({"survivor_id": 9999, "merged_ids": [b["id"]], "version": 1}, 404, "9999"),
    ]
    for body, status, text in cases:
        response = client.post("/api/v1/clients/merge", headers=headers, json=body)
        assert response.status_code == status, (body, response.get_json())
        assert text in str(response.get_json()), (body, response.get_json())
    assert client.get(f"/api/v1/clients/{b['id']}", headers=headers).status_code == 200


def test_merging_across_scopes_is_refused(app):
    make_user(
        app,
        "own@example.com",
        ["clients.view", "clients.create", "clients.merge"],
        {"clients": "own"},
    )
    admin, admin_headers = _api(app)
    theirs = admin.post(
        "/api/v1/clients", headers=admin_headers, json={"name": "Not yours"}
    ).get_json()
    client, headers = _api(app, "own@example.com")
    mine = client.post("/api/v1/clients", headers=headers, json={"name": "Mine"}).get_json()
    response = client.post(
        "/api/v1/clients/merge",
        headers=headers,
        json={"survivor_id": mine["id"], "merged_ids": [theirs["id"]], "version": 1},
    )
    assert response.status_code == 422
    response = client.post(
        "/api/v1/clients/merge",
        headers=headers,
        json={"survivor_id": theirs["id"], "merged_ids": [mine["id"]], "version": 1},
    )
    assert response.status_code == 404
    assert admin.get(f"/api/v1/clients/{theirs['id']}", headers=admin_headers).status_code == 200


def test_merge_on_the_compare_page(app, admin_client):
    client, headers = _api(app)
    a = client.post("/api/v1/clients", headers=headers, json={"name": "Alpha Windows"}).get_json()
    b = client.post(
        "/api/v1/clients",
        headers=headers,
        json={"name": "ALPHA WINDOWS LLC", "emails": ["a@alpha.example"]},
    ).get_json()
    page = admin_client.get(f"/clients/merge?ids={a['id']},{b['id']}")
    assert page.status_code == 200 and "ALPHA WINDOWS LLC" in page.get_data(as_text=True)
    response = post_form(
        admin_client,
        "/clients/merge",
        {
            "ids": f"{a['id']},{b['id']}",
            "survivor_id": str(a["id"]),
            f"version_{a['id']}": "1",
            f"version_{b['id']}": "1",
            "field_name": str(b["id"]),
        },
        page=f"/clients/merge?ids={a['id']},{b['id']}",
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"/clients/{a['id']}"
    )
    card = admin_client.get(f"/clients/{a['id']}").get_data(as_text=True)
    assert "ALPHA WINDOWS LLC" in card and "a@alpha.example" in card and "merge" in card
    lonely = admin_client.get(f"/clients/merge?ids={a['id']}")
    assert lonely.status_code == 302


def test_the_card_merge_form_sends_both_numbers(app, admin_client):
    client, headers = _api(app)
    a = client.post("/api/v1/clients", headers=headers, json={"name": "One"}).get_json()
    b = client.post("/api/v1/clients", headers=headers, json={"name": "Two"}).get_json()
    page = admin_client.get(f"/clients/merge?ids={a['id']}&ids={b['id']}")
    assert page.status_code == 200 and "Two" in page.get_data(as_text=True)


# --- a plugin's part of the merge fails: nothing is merged ------------------------------


class ClumsyPlugin:
    """A vendor plugin whose ``client_merged`` moves something of its own, then fails: it
    raises, refuses the merge on purpose, commits (as the hook's old contract allowed) or
    rolls back."""

    name = "clumsy"
    title = "Clumsy Vendor"
    version = "1.0.0"
    requires = ()

    def __init__(self, misstep: str) -> None:
        self.misstep = misstep

    @hookimpl(trylast=True)  # after core's part and the other plugins' have moved theirs
    def client_merged(self, survivor, merged_ids):
        db.session.execute(
            sa.update(Phone).where(Phone.client_id == survivor.id).values(kind="fax")
        )
        if self.misstep == "raises":
            raise RuntimeError("the vendor's table is locked")
        if self.misstep == "refuses":
            raise ValidationFailed({"merged_ids": ["Clumsy contracts cannot be merged."]})
        if self.misstep == "rolls back":
            db.session.rollback()
        else:
            db.session.commit()


@contextmanager
def installed(app, plugin) -> Iterator[None]:
    """``plugin`` registered and enabled for the block, as if found through an entry point."""
    registry = app.extensions["crm_plugins"]
    registry.pm.register(plugin, name=plugin.name)
    registry.plugins[plugin.name] = PluginInfo(
        name=plugin.name, title=plugin.title, version=plugin.version, obj=plugin
    )
    try:
        enable(app, plugin.name)
        yield
    finally:
        registry.pm.unregister(plugin)
        del registry.plugins[plugin.name]
        with app.app_context():
            registry.refresh(force=True)


@pytest.mark.parametrize(
    ("misstep", "status", "text"),
    [
        ("raises", 409, "Nothing was merged: Clumsy Vendor could not move its records"),
        ("commits", 409, "Nothing was merged: Clumsy Vendor could not move its records"),
        ("rolls back", 409, "Nothing was merged: Clumsy Vendor could not move its records"),
        ("refuses", 422, "Clumsy contracts cannot be merged."),
    ],
)
def test_a_failing_plugin_cancels_the_whole_merge(app, admin_client, misstep, status, text):
    client, headers = _api(app)

    def post(path, body, status=201):
        response = client.post(path, headers=headers, json=body)
        assert response.status_code == status, response.get_json()
        return response.get_json()

    a = post(
        "/api/v1/clients",
        {"name": "Okna Plus", "phones": ["+373 22 123 456"], "tags": ["windows"], "notes": "A"},
    )
    b = post(
        "/api/v1/clients",
        {"name": "OKNA PLUS SRL", "emails": ["sales@okna.md"], "tags": ["vip"], "notes": "B"},
    )
    post(f"/api/v1/clients/{a['id']}/contacts", {"first_name": "Ion", "last_name": "Rusu"})
    post(f"/api/v1/clients/{a['id']}/interactions", {"kind": "meeting", "subject": "Visit"})

    def state():
        out = {}
        for c in (a, b):
            for part in ("", "/contacts", "/interactions"):
                response = client.get(f"/api/v1/clients/{c['id']}{part}", headers=headers)
                assert response.status_code == 200, (part, response.get_json())
                out[c["id"], part] = response.get_json()
        with app.app_context():
            out["audit"] = db.session.execute(sa.select(sa.func.max(AuditLog.id))).scalar()
            out["trash"] = db.session.execute(
                sa.select(Client.id).where(Client.deleted_at.is_not(None))
            ).all()
        return out

    body = {"survivor_id": b["id"], "merged_ids": [a["id"]], "version": b["version"]}
    with installed(app, ClumsyPlugin(misstep)):
        before = state()
        response = client.post("/api/v1/clients/merge", headers=headers, json=body)
        assert response.status_code == status, response.get_json()
        assert text in str(response.get_json())
        assert state() == before  # phones not moved, A not in the trash, no audit entry

        page = f"/clients/merge?ids={a['id']},{b['id']}"
        form = {
            "ids": f"{a['id']},{b['id']}",
            "survivor_id": str(b["id"]),
            f"version_{b['id']}": str(b["version"]),
        }
        shown = post_form(admin_client, "/clients/merge", form, page=page)
        assert shown.status_code == 200
        assert text in shown.get_data(as_text=True)
        assert state() == before

    # Without the clumsy plugin the same merge goes through.
    merged = post("/api/v1/clients/merge", body, status=200)
    assert [p["number"] for p in merged["phones"]] == ["+37322123456"]
