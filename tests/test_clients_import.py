"""Importing clients from CSV and XLSX: mapping, checking every row, duplicates, the report."""

from __future__ import annotations

import csv
import gc
import io
import os
import re
import weakref
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook
from sqlalchemy.orm import selectinload

from core.audit.models import AuditLog
from core.clients import custom_fields, services
from core.clients.imports.models import ClientImport
from core.clients.models import Client, ContactPerson, CustomField, Tag
from core.db import cycle_collector_paused, db
from core.settings.services import save as save_settings
from core.users.models import User
from tests.conftest import api_token, make_user

HEADER = "Name;Phone;E-mail;Status;Tags;Contact person;Position\n"


def upload(api, content: bytes, filename: str = "clients.csv", **form):
    data = {"file": (io.BytesIO(content), filename), **form}
    return api.post("/api/v1/clients/imports", data=data, content_type="multipart/form-data")


def run(api, content: bytes, filename: str = "clients.csv", **settings):
    response = upload(api, content, filename)
    assert response.status_code == 201, response.get_json()
    job = response.get_json()
    started = api.post(f"/api/v1/clients/imports/{job['id']}/start", json=settings)
    assert started.status_code == 202, started.get_json()
    done = api.get(f"/api/v1/clients/imports/{job['id']}").get_json()
    assert done["status"] == "done", done
    return done


def issues(api, import_id: int) -> list[dict]:
    return api.get(f"/api/v1/clients/imports/{import_id}/issues?limit=500").get_json()["items"]


def clients_named(app, *names: str) -> list[Client]:
    with app.app_context():
        return (
            db.session.execute(sa.select(Client).where(Client.name.in_(names)).order_by(Client.id))
            .scalars()
            .all()
        )


def count_clients(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count(Client.id))).scalar_one()


def test_a_semicolon_csv_from_excel_imports_with_the_guessed_mapping(app, api):
    content = (
        HEADER
        + "OOO Ромашка;+373 22 123-456;Info@Romashka.md;customer;VIP, окна;Иванов Иван Петрович;"
        "директор\n"
        "Fenster Müller GmbH;(030) 1234567, +49 170 1234567;kontakt@mueller.de;Lead;;;\n"
    ).encode("utf-8")
    response = upload(api, content)
    assert response.status_code == 201
    job = response.get_json()
    assert job["delimiter"] == ";" and job["encoding"] == "utf-8" and job["total_rows"] == 2
    assert job["mapping"] == [
        "name",
        "phone",
        "email",
        "status",
        "tags",
        "contact.full_name",
        "contact.position",
    ]
    with app.app_context():
        assert save_settings({"core.phone_region": "DE"}) == {}
    api.post(f"/api/v1/clients/imports/{job['id']}/start", json={})
    done = api.get(f"/api/v1/clients/imports/{job['id']}").get_json()
    assert (done["status"], done["created_count"], done["failed_count"]) == ("done", 2, 0)

    found = api.get("/api/v1/clients?q=22 12 34 56").get_json()["items"]
    assert [c["name"] for c in found] == ["OOO Ромашка"]
    romashka = api.get(f"/api/v1/clients/{found[0]['id']}").get_json()
    assert romashka["status"] == "customer"
    assert [p["number"] for p in romashka["phones"]] == ["+37322123456"]
    assert [e["email"] for e in romashka["emails"]] == ["info@romashka.md"]
    assert sorted(romashka["tags"]) == ["VIP", "окна"]
    contacts = api.get(f"/api/v1/clients/{romashka['id']}/contacts").get_json()
    assert [
        (c["last_name"], c["first_name"], c["middle_name"], c["position"]) for c in contacts
    ] == [("Иванов", "Иван", "Петрович", "директор")]
    mueller = api.get("/api/v1/clients?q=fenster").get_json()["items"][0]
    assert mueller["status"] == "lead"  # matched by the label "Lead"
    assert {
        p["number"] for p in api.get(f"/api/v1/clients/{mueller['id']}").get_json()["phones"]
    } == {
        "+49301234567",
        "+491701234567",
    }
    # Found by a contact person's name too: the search index was written.
    assert [c["name"] for c in api.get("/api/v1/clients?q=петрович").get_json()["items"]] == [
        "OOO Ромашка"
    ]
    with app.app_context():
        history = db.session.execute(
            sa.select(AuditLog).where(
                AuditLog.entity == "clients", AuditLog.entity_id == romashka["id"]
            )
        ).scalar_one()
        assert history.action == "create" and history.user_id == 1
        assert history.changes["import"][1] == f"#{job['id']} clients.csv, line 2"


def test_invalid_cells_are_reported_by_line_and_column_and_valid_rows_still_import(app, api):
    with app.app_context():
        custom_fields.save_field(
            CustomField(),
            {
                "key": "segment",
                "label": "Segment",
                "kind": "choice",
                "choices": ["retail", "wholesale"],
                "required": True,
            },
        )
    content = (
        b"name,email,phone,status,segment\n"
        b"Good One,good@example.com,+373 69 123456,lead,retail\n"
        b"Bad Mail,not-an-email,,lead,retail\n"
        b"Bad Phone,,12,lead,retail\n"
        b",nameless@example.com,,lead,retail\n"
        b"Bad Status,,,unknown,retail\n"
        b"Bad Choice,,,lead,export\n"
        b"No Segment,,,lead,\n"
        b"Good Two,two@example.com,,prospect,wholesale\n"
    )
    done = run(api, content)
    assert (done["created_count"], done["failed_count"], done["processed"]) == (2, 6, 8)
    problems = {(i["row"], i["column"]): i["message"] for i in issues(api, done["id"])}
    assert problems[(3, "email")] == "Not a valid e-mail address."
    assert problems[(4, "phone")] == "Not a valid phone number."
    assert problems[(5, "name")] == "Enter a name."
    assert problems[(6, "status")].startswith("Unknown status 'unknown'")
    assert problems[(7, "segment")].startswith("Choose one of: retail, wholesale")
    assert problems[(8, "segment")] == "Segment is required."
    assert [c.custom for c in clients_named(app, "Good One", "Good Two")] == [
        {"segment": "retail"},
        {"segment": "wholesale"},
    ]
    assert count_clients(app) == 2

    report = api.get(f"/api/v1/clients/imports/{done['id']}/report")
    assert report.status_code == 200 and report.mimetype == "text/csv"
    lines = list(csv.reader(io.StringIO(report.get_data(as_text=True).lstrip("\ufeff"))))
    assert lines[0] == ["line", "status", "problems", "name", "email", "phone", "status", "segment"]
    assert [row[0] for row in lines[1:]] == ["3", "4", "5", "6", "7", "8"]
    assert lines[1][2] == "email: Not a valid e-mail address. (not-an-email)"
    assert lines[1][3:] == ["Bad Mail", "not-an-email", "", "lead", "retail"]

    workbook = load_workbook(
        io.BytesIO(api.get(f"/api/v1/clients/imports/{done['id']}/report?format=xlsx").data)
    )
    assert workbook.active.max_row == 7


def test_running_the_same_file_again_creates_no_doubles(app, api):
    content = (
        b"name,email,phone\nAlpha SRL,office@alpha.md,\nBeta SRL,,+373 22 555 111\nGamma GmbH,,\n"
    )
    first = run(api, content)
    assert first["created_count"] == 3
    again = run(api, content)
    assert (again["created_count"], again["skipped_count"]) == (0, 3)
    assert {i["message"] for i in issues(api, again["id"])} == {
        f"Already in the CRM as client #{c.id} (same {why})."
        for c, why in zip(
            clients_named(app, "Alpha SRL", "Beta SRL", "Gamma GmbH"),
            ("e-mail and name", "phone and name", "name"),
            strict=True,
        )
    }
    assert count_clients(app) == 3
    # "create" on a file imported before is refused rather than doubling every row.
    job = upload(api, content).get_json()
    refused = api.post(
        f"/api/v1/clients/imports/{job['id']}/start", json={"on_duplicate": "create"}
    )
    assert refused.status_code == 409
    assert "imported already" in refused.get_json()["errors"]["on_duplicate"][0]
    assert count_clients(app) == 3


def test_rows_repeating_an_earlier_row_of_the_file_are_skipped(app, api):
    content = b"name,email\nDelta LLC,sales@delta.com\nDelta (dup),SALES@delta.com\nEpsilon,\n"
    done = run(api, content)
    assert (done["created_count"], done["skipped_count"]) == (2, 1)
    assert issues(api, done["id"])[0]["message"] == "Same e-mail as line 2 of this file."


def test_update_adds_what_the_file_brings_and_keeps_the_rest(app, api):
    with app.app_context():
        existing = services.create_client(
            {
                "name": "Omega SRL",
                "emails": ["office@omega.md"],
                "phones": ["+37322000111"],
                "tags": ["old"],
                "notes": "keep me",
                "owner_id": 1,
            }
        )
        client_id, version = existing.id, existing.version
    content = (
        "name,email,phone,status,tags,notes\n"
        "Omega SRL,office@omega.md,+373 22 999 888,customer,new,\n"
    )
    done = run(api, content.encode(), on_duplicate="update")
    assert (done["updated_count"], done["created_count"]) == (1, 0)
    client = api.get(f"/api/v1/clients/{client_id}").get_json()
    assert client["status"] == "customer" and client["notes"] == "keep me"
    assert [p["number"] for p in client["phones"]] == ["+37322000111", "+37322999888"]
    assert sorted(client["tags"]) == ["new", "old"]
    assert client["version"] == version + 1
    # The same file again changes nothing.
    again = run(api, content.encode(), on_duplicate="update")
    assert (again["updated_count"], again["skipped_count"]) == (0, 1)
    assert api.get(f"/api/v1/clients/{client_id}").get_json()["version"] == version + 1


def test_updates_keep_what_earlier_rows_and_other_users_added_meanwhile(app, api, monkeypatch):
    with app.app_context():
        omega = services.create_client({"name": "Omega SRL", "phones": ["+37322000001"]}).id
        beta = services.create_client({"name": "Beta SRL", "phones": ["+37322000002"]}).id
    update_client = services.update_client

    def someone_else_edits_beta_meanwhile(client, data):
        result = update_client(client, data)
        if client.id == omega and not someone_else_edits_beta_meanwhile.done:
            someone_else_edits_beta_meanwhile.done = True
            other = db.session.get(Client, beta)
            update_client(other, {"phones": ["+37322000002", "+37322000099"], "notes": "call"})
        return result

    someone_else_edits_beta_meanwhile.done = False
    monkeypatch.setattr(services, "update_client", someone_else_edits_beta_meanwhile)
    content = b"name,phone\nOmega SRL,+37322000011\nBeta SRL,+37322000022\nOmega SRL,+37322000033\n"
    done = run(api, content, on_duplicate="update")
    assert (done["updated_count"], done["failed_count"]) == (3, 0)
    with app.app_context():
        clients = db.session.execute(sa.select(Client)).scalars()
        phones = {c.name: [p.e164 for p in c.phones] for c in clients}
        assert phones == {
            "Omega SRL": ["+37322000001", "+37322000011", "+37322000033"],
            "Beta SRL": ["+37322000002", "+37322000099", "+37322000022"],
        }
        assert db.session.get(Client, beta).notes == "call"


def test_tags_differing_only_by_case_are_one_tag(app, api, monkeypatch):
    from core.clients.imports import services as import_services

    monkeypatch.setattr(import_services, "BATCH", 2)
    with app.app_context():
        services.create_client({"name": "Omega SRL", "tags": ["old"]})
        services.create_client({"name": "Other SRL", "tags": ["VIP"]})
    content = (
        'name,tags\nAlpha SRL,x\nOmega SRL,"Fresh, fresh, vip"\nBeta SRL,"FRESH, Vip"\n'
        'Gamma SRL,"Neu, NEU"\n'
    )
    # Omega's row once stopped the whole import (the same tag linked twice); Beta's row then
    # met "Fresh", added by Omega's update after this run had read the tags, and failed again.
    done = run(api, content.encode(), on_duplicate="update")
    assert (done["created_count"], done["updated_count"], done["failed_count"]) == (3, 1, 0)
    tags = {c.name: sorted(t.name for t in c.tags) for c in _with_tags(app)}
    assert tags["Omega SRL"] == ["Fresh", "VIP", "old"]
    assert tags["Beta SRL"] == ["Fresh", "VIP"]
    assert tags["Gamma SRL"] == ["Neu"]
    with app.app_context():
        names = db.session.execute(sa.select(Tag.name).order_by(Tag.name)).scalars().all()
        assert names == ["Fresh", "Neu", "VIP", "old", "x"]


def _with_tags(app) -> list[Client]:
    with app.app_context():
        clients = db.session.execute(sa.select(Client).options(selectinload(Client.tags)))
        return clients.scalars().all()


def test_a_manager_with_scope_own_cannot_touch_or_see_another_managers_client(app):
    for email in ("ana@example.com", "boris@example.com"):
        make_user(
            app,
            email,
            ["clients.view", "clients.import", "clients.edit"],
            {"clients": "own"},
        )
    with app.app_context():
        ana = db.session.execute(sa.select(User).filter_by(email="ana@example.com")).scalar_one()
        services.create_client(
            {"name": "Secret Client", "emails": ["ceo@secret.md"], "owner_id": ana.id}
        )
    client = app.test_client()
    headers = api_token(client, "boris@example.com")
    content = b"name,email,notes\nAnything,ceo@secret.md,overwrite\n"
    job = client.post(
        "/api/v1/clients/imports",
        data={"file": (io.BytesIO(content), "x.csv")},
        headers=headers,
        content_type="multipart/form-data",
    ).get_json()
    client.post(
        f"/api/v1/clients/imports/{job['id']}/start",
        json={"on_duplicate": "update"},
        headers=headers,
    )
    done = client.get(f"/api/v1/clients/imports/{job['id']}", headers=headers).get_json()
    assert (done["updated_count"], done["skipped_count"]) == (0, 1)
    items = client.get(f"/api/v1/clients/imports/{job['id']}/issues", headers=headers).get_json()
    message = items["items"][0]["message"]
    assert message == "Already in the CRM (same e-mail), owned by another user."
    assert "Secret" not in message
    assert [c.notes for c in clients_named(app, "Secret Client")] == [""]
    # Ana does not see Boris's import either.
    other = api_token(client, "ana@example.com")
    assert client.get(f"/api/v1/clients/imports/{job['id']}", headers=other).status_code == 404


def test_rows_matching_several_clients_tell_nothing_about_the_ones_of_other_managers(app):
    ids = {}
    for email in ("ana@example.com", "boris@example.com"):
        ids[email] = make_user(
            app, email, ["clients.view", "clients.import", "clients.edit"], {"clients": "own"}
        )
    ana, boris = ids["ana@example.com"], ids["boris@example.com"]
    with app.app_context():
        hidden = [
            services.create_client(
                {"name": "Secret One", "emails": ["ceo@secret.md"], "owner_id": ana}
            ).id,
            services.create_client(
                {"name": "Secret Two", "phones": ["+37322999999"], "owner_id": ana}
            ).id,
            services.create_client({"name": "Secret Holding SRL", "owner_id": ana}).id,
        ]
        mine = services.create_client(
            {"name": "Mine SRL", "phones": ["+37322123456"], "owner_id": boris}
        ).id
    client = app.test_client()
    headers = api_token(client, "boris@example.com")
    content = (
        b"name,email,phone\n"
        b"Mine SRL,ceo@secret.md,+37322123456\n"
        b"Anything,ceo@secret.md,+37322999999\n"
        b"Secret Holding,,\n"
    )
    job = client.post(
        "/api/v1/clients/imports",
        data={"file": (io.BytesIO(content), "x.csv")},
        headers=headers,
        content_type="multipart/form-data",
    ).get_json()
    preview = client.post(
        f"/api/v1/clients/imports/{job['id']}/preview", json={}, headers=headers
    ).get_json()["rows"]
    assert [(r["action"], r["matches"], r["similar"]) for r in preview] == [
        ("skip", [mine], []),
        ("skip", [], []),
        ("create", [], []),
    ]
    assert preview[0]["reason"] == (
        f"Matches several clients: #{mine} (same phone and name) and clients of other users."
    )
    assert (
        preview[1]["reason"] == "Already in the CRM (same e-mail and phone), owned by another user."
    )
    client.post(f"/api/v1/clients/imports/{job['id']}/start", json={}, headers=headers)
    report = client.get(f"/api/v1/clients/imports/{job['id']}/report", headers=headers)
    texts = [row["reason"] for row in preview] + [
        i["message"]
        for i in client.get(
            f"/api/v1/clients/imports/{job['id']}/issues", headers=headers
        ).get_json()["items"]
    ]
    for text in [*texts, report.get_data(as_text=True)]:
        assert "Secret One" not in text and "Secret Two" not in text and "2 clients" not in text
        assert not any(f"#{i}" in text for i in hidden), text


def test_an_owner_named_as_several_users_are_is_not_guessed(app, api):
    first = make_user(app, "ion.rusu@example.com", ["clients.view"], name="Ion Rusu")
    make_user(app, "ion.rusu2@example.com", ["clients.view"], name="Ion Rusu")
    content = b"name,owner\nAlpha,Ion Rusu\nBeta,ION.RUSU@example.com\n"
    done = run(api, content)
    assert (done["created_count"], done["failed_count"]) == (1, 1)
    assert issues(api, done["id"])[0]["message"] == (
        "Several active users have this name; give the e-mail."
    )
    assert [c.owner_id for c in clients_named(app, "Alpha", "Beta")] == [first]


def test_a_dry_run_checks_every_row_and_creates_nothing(app, api):
    content = b"name,email\nZeta,zeta@example.com\nBroken,@@\n"
    done = run(api, content, dry_run=True)
    assert (done["created_count"], done["failed_count"], done["dry_run"]) == (1, 1, True)
    assert count_clients(app) == 0
    real = api.post(f"/api/v1/clients/imports/{done['id']}/start", json={})
    assert real.status_code == 202
    after = api.get(f"/api/v1/clients/imports/{done['id']}").get_json()
    assert (after["created_count"], after["failed_count"], after["dry_run"]) == (1, 1, False)
    assert count_clients(app) == 1


def test_a_preview_of_a_queued_import_changes_nothing_of_it(app, api):
    # The preview once counted its rows into the queued run, wrote its problems there and
    # turned a dry run into a real one: a resume then skipped rows and wrote clients.
    from core.clients.imports import services as import_services

    job = upload(api, b"name,email\nAlpha,alpha@example.com\nBroken,@@\n").get_json()
    with app.app_context():
        db.session.execute(
            sa.update(ClientImport)
            .where(ClientImport.id == job["id"])
            .values(status="queued", dry_run=True, mapping=["name", None])
        )
        db.session.commit()
    preview = api.post(
        f"/api/v1/clients/imports/{job['id']}/preview", json={"mapping": ["name", "email"]}
    )
    assert preview.status_code == 409
    assert preview.get_json()["errors"]["status"] == ["This import is running already."]
    queued = api.get(f"/api/v1/clients/imports/{job['id']}").get_json()
    assert (queued["processed"], queued["dry_run"], queued["mapping"]) == (0, True, ["name", None])
    assert issues(api, job["id"]) == []
    with app.app_context():
        import_services.run_import(job["id"])
    done = api.get(f"/api/v1/clients/imports/{job['id']}").get_json()
    assert (done["status"], done["processed"], done["created_count"]) == ("done", 2, 2)
    assert count_clients(app) == 0  # still a dry run


def test_an_import_that_stopped_after_writing_rows_goes_on_and_is_not_started_again(app, api):
    job = upload(api, b"name\nAlpha\nBeta\n").get_json()
    with app.app_context():
        # A run that stopped after its first batch had created Alpha.
        services.create_client({"name": "Alpha"})
        db.session.execute(
            sa.update(ClientImport)
            .where(ClientImport.id == job["id"])
            .values(status="failed", processed=1, created_count=1)
        )
        db.session.commit()
    for path, body in (("start", {"on_duplicate": "create"}), ("preview", {})):
        refused = api.post(f"/api/v1/clients/imports/{job['id']}/{path}", json=body)
        assert refused.status_code == 409
        assert "go on with it (resume)" in refused.get_json()["errors"]["status"][0]
    assert api.post(f"/api/v1/clients/imports/{job['id']}/resume").status_code == 202
    done = api.get(f"/api/v1/clients/imports/{job['id']}").get_json()
    assert (done["status"], done["processed"], done["created_count"]) == ("done", 2, 2)
    assert sorted(c.name for c in clients_named(app, "Alpha", "Beta")) == ["Alpha", "Beta"]


def test_preview_shows_what_each_row_would_do_and_saves_nothing(app, api):
    with app.app_context():
        services.create_client({"name": "Known SRL", "emails": ["known@example.com"]})
    content = (
        b"company,mail\nKnown SRL,known@example.com\nNew SRL,new@example.com\nBad,x\n"
        b"OOO Known,other@example.com\n"
    )
    job = upload(api, content).get_json()
    assert job["mapping"] == ["name", "email"]
    preview = api.post(f"/api/v1/clients/imports/{job['id']}/preview", json={})
    assert preview.status_code == 200
    rows = preview.get_json()["rows"]
    assert [(r["row"], r["action"]) for r in rows] == [
        (2, "skip"),
        (3, "create"),
        (4, "error"),
        (5, "create"),
    ]
    assert rows[2]["errors"][0]["column"] == "mail"
    # "OOO Known" would be new, but its name is the known client's without the legal form.
    assert [s["name"] for s in rows[3]["similar"]] == ["Known SRL"]
    assert rows[1]["similar"] == []
    assert count_clients(app) == 1
    assert api.get(f"/api/v1/clients/imports/{job['id']}").get_json()["status"] == "uploaded"


def test_digits_that_are_not_ascii_are_no_id_and_no_cursor(app, api):
    """ "²" passes str.isdigit() but not int(): a row error and a 422, never a crash."""
    job = upload(api, "id,name\n²,Acme\n".encode()).get_json()
    preview = api.post(f"/api/v1/clients/imports/{job['id']}/preview", json={})
    assert preview.status_code == 200
    [row] = preview.get_json()["rows"]
    assert row["action"] == "error" and row["errors"][0]["column"] == "id"
    bad = api.get(f"/api/v1/clients/imports/{job['id']}/issues?cursor=²")
    assert bad.status_code == 422 and "cursor" in bad.get_json()["errors"]
    done = run(api, "id,name\n²,Acme\n".encode())
    assert done["failed_count"] == 1 and count_clients(app) == 0


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("cp1251", "Название;Телефон\nООО Ёлка;+7 495 123-45-67\nЗАО Берёза;\n"),
        ("cp1252", "Firma;Stadt\nMüller & Söhne;Köln\nBäckerei Weiß;Düsseldorf\n"),
        ("latin-1", "Firma;Stadt\nGroße Straße AG;München\n"),
        ("utf-8-sig", "Denumire,Oraș\nȘtefan și Fiii SRL,Chișinău\n"),
        ("utf-16", "Name\tCity\nÎntreprindere Țară\tBălți\n"),
    ],
)
def test_files_in_the_usual_encodings_import_correctly(app, api, encoding, text):
    response = upload(api, text.encode(encoding))
    assert response.status_code == 201, response.get_json()
    job = response.get_json()
    lines = [line.split(job["delimiter"]) for line in text.strip().split("\n")]
    assert job["header"] == lines[0]
    assert job["sample"][0][0] == lines[1][0]
    api.post(f"/api/v1/clients/imports/{job['id']}/start", json={})
    names = [c.name for c in clients_named(app, *[line[0] for line in lines[1:]])]
    assert sorted(names) == sorted(line[0] for line in lines[1:])


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("chosen", [None, "utf-16"])
def test_utf16_text_saved_without_a_byte_order_mark_is_read(app, api, codec, chosen):
    text = "Название;Oraș\nООО Ёлка;Chișinău\nFenster GmbH;Köln\n"
    form = {"encoding": chosen} if chosen else {}
    response = upload(api, text.encode(codec), **form)
    assert response.status_code == 201, response.get_json()
    job = response.get_json()
    assert (job["encoding"], job["header"]) == ("utf-16", ["Название", "Oraș"])
    assert job["sample"] == [["ООО Ёлка", "Chișinău"], ["Fenster GmbH", "Köln"]]
    api.post(f"/api/v1/clients/imports/{job['id']}/start", json={})
    assert [c.name for c in clients_named(app, "ООО Ёлка", "Fenster GmbH")] == [
        "ООО Ёлка",
        "Fenster GmbH",
    ]


def test_control_characters_and_stray_byte_order_marks_do_not_reach_the_data(app, api):
    # Two files glued together (the second one's BOM in the middle), a vertical tab from an
    # old spreadsheet: the names are clean, and the XLSX report and export can be written.
    content = (
        "name,email\nAlpha,alpha@example.com\n\ufeffBeta,beta@example.com\n"
        "Gam\x0bma\x1b,not-an-email\x0c\n"
    ).encode()
    done = run(api, content)
    assert (done["created_count"], done["failed_count"]) == (2, 1)
    assert [c.name for c in clients_named(app, "Alpha", "Beta")] == ["Alpha", "Beta"]
    assert issues(api, done["id"])[0]["value"] == "not-an-email"
    report = api.get(f"/api/v1/clients/imports/{done['id']}/report?format=xlsx")
    assert report.status_code == 200
    rows = list(load_workbook(io.BytesIO(report.data)).active.values)
    assert rows[1][3:] == ("Gam ma", "not-an-email")
    assert api.get("/api/v1/clients/export?format=xlsx").status_code == 200


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_cells_past_the_last_column_title_can_be_mapped(app, api, kind):
    # A column without a title at the end (notes typed next to the list): its cells were
    # left out without a word; now it is an untitled column to map.
    rows = [["name", "phone"], ["Alpha", "+37322123456", "call after 5"], ["Beta", "", "", ""]]
    if kind == "csv":
        content, filename = "\n".join(",".join(r) for r in rows).encode(), "clients.csv"
    else:
        content, filename = _workbook(*rows), "clients.xlsx"
    job = upload(api, content, filename).get_json()
    assert (job["header"], job["mapping"]) == (["name", "phone", ""], ["name", "phone", None])
    done = run(api, content, filename, mapping=["name", "phone", "notes"])
    assert done["created_count"] == 2
    assert [c.notes for c in clients_named(app, "Alpha", "Beta")] == ["call after 5", ""]


def test_a_chosen_encoding_that_does_not_fit_is_refused(app, api):
    response = upload(api, "name\nБерёза\n".encode("cp1251"), encoding="utf-8")
    assert response.status_code == 422
    assert "not utf-8" in response.get_json()["errors"]["file"][0]


@pytest.mark.parametrize(
    ("content", "filename", "reason"),
    [
        (b"", "empty.csv", "The file is empty."),
        (b"\n\n  \n", "blank.csv", "The file is empty."),
        (b"name,email\n", "header.csv", "The file has a header row but no clients."),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "scan.pdf", "This is not a CSV or XLSX file."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "logo.csv", "This is not a CSV or XLSX file."),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64,
            "old.xls",
            "This is an old Excel (.xls) workbook",
        ),
        (b"PK\x03\x04broken zip", "broken.xlsx", "This is not a readable XLSX workbook"),
        (b"\x00\x01\x02\x03" * 100, "noise.csv", "This is not a CSV or XLSX file"),
        # A quote never closed would swallow every later row into one cell.
        (
            b'name,email\nA,a@example.com\n"B,b@example.com\nC,c@example.com\n',
            "quote.csv",
            'Line 3 opens a quoted cell (") that is never closed',
        ),
    ],
)
def test_files_that_are_not_client_lists_are_refused_and_nothing_is_stored(
    app, api, content, filename, reason
):
    response = upload(api, content, filename)
    assert response.status_code == 422
    assert response.get_json()["errors"]["file"][0].startswith(reason)
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count(ClientImport.id))).scalar_one() == 0


def test_a_50_mb_file_is_refused_with_the_limit(app, api):
    row = b"Some Company With A Long Name SRL,office@example.com,+37322123456\n"
    content = b"name,email,phone\n" + row * (50 * 1024 * 1024 // len(row))
    response = upload(api, content)
    assert response.status_code == 422
    message = response.get_json()["errors"]["file"][0]
    assert message.startswith("The file is 50.0 MB; imports take files up to 25 MB")
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count(ClientImport.id))).scalar_one() == 0


def test_an_xlsx_workbook_imports_with_numbers_and_dates_read_as_text(app, api):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Name", "Phone", "Next contact", "Tax id"])
    sheet.append(["Vita SRL", 37369123456, "2027-01-15", "1003600012345"])
    sheet.append([None, None, None, None])
    sheet.append(["Nord SRL", "+373 22 111 222", None, None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    done = run(
        api,
        buffer.getvalue(),
        "clients.xlsx",
        mapping=["name", "phone", "next_contact_on", "tax_id"],
    )
    assert (done["created_count"], done["failed_count"], done["total_rows"]) == (2, 0, 2)
    vita = clients_named(app, "Vita SRL")[0]
    with app.app_context():
        vita = db.session.get(Client, vita.id)
        assert [p.e164 for p in vita.phones] == ["+37369123456"]
        assert vita.next_contact_on.isoformat() == "2027-01-15"
        assert vita.tax_id == "1003600012345"


def _workbook(*rows, sheets: int = 1) -> bytes:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    for number in range(1, sheets):
        workbook.create_sheet(f"Sheet {number + 1}").append(["name"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _rewrite_sheet(content: bytes, change) -> bytes:
    """The workbook with its first sheet's XML passed through ``change``."""
    source, out = zipfile.ZipFile(io.BytesIO(content)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = change(data.decode()).encode()
            target.writestr(item, data)
    return out.getvalue()


@pytest.mark.parametrize("dimension", ["A1", "A1:A3", "A1:XFD1048576"])
def test_an_xlsx_sheet_claiming_a_wrong_size_is_read_whole(app, api, dimension):
    # Many programs write a wrong "dimension"; openpyxl would cut every row to it.
    content = _rewrite_sheet(
        _workbook(["name", "phone", "city"], ["Alpha", "+37322123456", "Bălți"], ["Beta"]),
        lambda xml: re.sub(r'<dimension ref="[^"]+"', f'<dimension ref="{dimension}"', xml),
    )
    response = upload(api, content, "clients.xlsx")
    assert response.status_code == 201, response.get_json()
    job = response.get_json()
    assert job["header"] == ["name", "phone", "city"]
    assert job["sample"] == [["Alpha", "+37322123456", "Bălți"], ["Beta"]]
    api.post(f"/api/v1/clients/imports/{job['id']}/start", json={})
    done = api.get(f"/api/v1/clients/imports/{job['id']}").get_json()
    assert (done["created_count"], done["total_rows"]) == (2, 2)
    with app.app_context():
        alpha = db.session.get(Client, clients_named(app, "Alpha")[0].id)
        assert [p.e164 for p in alpha.phones] == ["+37322123456"]
        assert [a.city for a in alpha.addresses] == ["Bălți"]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("broken sheet XML", "This is not a readable XLSX workbook"),
        ("empty first sheet", "The first sheet of the workbook is empty"),
    ],
)
def test_a_damaged_or_misplaced_xlsx_list_is_refused_with_the_reason(app, api, case, reason):
    if case == "broken sheet XML":
        content = _rewrite_sheet(
            _workbook(["name"], ["Alpha"]),
            lambda xml: xml.replace("<sheetData>", "<sheetData><row><c"),
        )
    else:
        content = _workbook(sheets=2)
    response = upload(api, content, "clients.xlsx")
    assert response.status_code == 422
    assert response.get_json()["errors"]["file"][0].startswith(reason)
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count(ClientImport.id))).scalar_one() == 0


def test_cells_showing_a_spreadsheet_error_are_not_imported_as_values(app, api):
    # A formula that failed in Excel keeps "#DIV/0!" as its cached value (and a CSV saved
    # from it holds the text): that is no client name, phone or city.
    content = _rewrite_sheet(
        _workbook(["name", "city"], ["Alpha", "Chișinău"], ["Beta", "Bălți"]),
        lambda xml: re.sub(
            r'<c r="A3" t="inlineStr"><is><t>Beta</t></is></c>',
            '<c r="A3" t="e"><f>1/0</f><v>#DIV/0!</v></c>',
            xml,
        ),
    )
    done = run(api, content, "clients.xlsx")
    assert (done["created_count"], done["failed_count"]) == (1, 1)
    assert [(i["row"], i["column"], i["value"]) for i in issues(api, done["id"])] == [
        (3, "name", "#DIV/0!")
    ]
    done = run(api, b"name,city\nGamma,#N/A\n")
    assert (done["created_count"], done["failed_count"]) == (0, 1)
    assert [c.name for c in clients_named(app, "#DIV/0!", "Gamma")] == []


def test_an_export_imports_back_without_mapping_by_hand(app, api):
    with app.app_context():
        services.create_client(
            {"name": "=cmd|' /C calc'!A0", "phones": ["+37322123456"], "tags": ["x"]}
        )
    exported = api.get("/api/v1/clients/export").data
    job = upload(api, exported, "export.csv").get_json()
    assert job["mapping"][:3] == ["id", "kind", "name"]
    assert job["mapping"][-2:] == [None, None]  # created_at, updated_at
    done = run(api, exported, "export.csv", on_duplicate="update")
    assert (done["created_count"], done["updated_count"], done["skipped_count"]) == (0, 0, 1)
    with app.app_context():
        assert db.session.execute(sa.select(Client.name)).scalar_one() == "=cmd|' /C calc'!A0"


def test_a_file_mapped_by_crm_id_alone_updates_and_never_creates_nameless_clients(app, api):
    with app.app_context():
        known = services.create_client({"name": "Known SRL"}).id
    content = f"id,email\n{known},office@known.md\n999,other@example.com\n,third@example.com\n"
    done = run(api, content.encode(), on_duplicate="update")
    assert (done["updated_count"], done["created_count"], done["failed_count"]) == (1, 0, 2)
    assert [(i["row"], i["column"], i["value"]) for i in issues(api, done["id"])] == [
        (3, "id", "999"),
        (4, "id", ""),
    ]
    assert issues(api, done["id"])[0]["message"].startswith("No client in the CRM matches")
    assert count_clients(app) == 1


def test_a_bad_mapping_is_refused_naming_the_column(app, api):
    job = upload(api, b"a,b,c\n1,2,3\n").get_json()
    assert job["mapping"] == [None, None, None]
    cases = [
        ({"mapping": ["name", "name", None]}, "mapping.1"),
        ({"mapping": ["name", "nonsense", None]}, "mapping.1"),
        ({"mapping": ["name"]}, "mapping"),
        ({"mapping": [None, "email", None]}, "mapping"),
        ({"mapping": ["name", None, None], "default_owner_id": 999}, "default_owner_id"),
        ({"mapping": ["name", None, None], "on_duplicate": "merge"}, "on_duplicate"),
    ]
    for settings, field in cases:
        response = api.post(f"/api/v1/clients/imports/{job['id']}/start", json=settings)
        assert response.status_code == 422, settings
        assert field in response.get_json()["errors"], response.get_json()
    assert api.get(f"/api/v1/clients/imports/{job['id']}").get_json()["status"] == "uploaded"
    assert count_clients(app) == 0


def test_an_import_that_stops_goes_on_where_it_stopped_without_doubles(app, api, monkeypatch):
    if db_dialect(app) != "sqlite":
        pytest.skip("the failure is injected with a SQLite trigger")
    from core.clients.imports import services as import_services

    monkeypatch.setattr(import_services, "BATCH", 3)
    with app.app_context():
        db.session.execute(
            sa.text(
                "CREATE TRIGGER boom BEFORE INSERT ON clients WHEN NEW.name = 'Row 5' "
                "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        )
        db.session.commit()
    content = ("name\n" + "".join(f"Row {n}\n" for n in range(1, 9))).encode()
    job = upload(api, content).get_json()
    api.post(f"/api/v1/clients/imports/{job['id']}/start", json={})
    stopped = api.get(f"/api/v1/clients/imports/{job['id']}").get_json()
    assert stopped["status"] == "failed" and stopped["processed"] == 3
    assert "stopped after 3 rows" in stopped["message"]
    assert count_clients(app) == 3
    # The run paused Python's cycle collector; stopping gave it back to the worker.
    assert gc.isenabled() and gc.get_freeze_count() == 0
    with app.app_context():
        db.session.execute(sa.text("DROP TRIGGER boom"))
        db.session.commit()
    assert api.post(f"/api/v1/clients/imports/{job['id']}/resume").status_code == 202
    done = api.get(f"/api/v1/clients/imports/{job['id']}").get_json()
    assert (done["status"], done["processed"], done["created_count"]) == ("done", 8, 8)
    assert count_clients(app) == 8


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry run"])
@pytest.mark.parametrize("helper", [False, True], ids=["inline", "helper process"])
def test_going_on_after_a_stop_mid_batch_ends_as_a_run_that_never_stopped(
    app, api, monkeypatch, helper, dry_run
):
    from core.clients.imports import services as import_services

    monkeypatch.setattr(import_services, "BATCH", 2)
    if helper:
        monkeypatch.setattr(import_services, "PARALLEL_FROM_ROWS", 1)
    record = import_services.Run._record

    def disk_full_once(self, plans, *args):
        # The batch has done its work (clients written, not committed) when this fails.
        if any(p.row.number == 4 for p in plans) and not disk_full_once.failed:
            disk_full_once.failed = True
            raise OSError("disk full")
        return record(self, plans, *args)

    disk_full_once.failed = False
    monkeypatch.setattr(import_services.Run, "_record", disk_full_once)
    content = (
        b"name,email,phone\n"
        b"Alpha,alpha@example.com,\n"
        b"Beta,beta@example.com,\n"
        b"Gamma,,\n"
        b"Alpha again,ALPHA@example.com,+37322123456\n"
        b"Delta,,\n"
    )
    job = upload(api, content).get_json()
    settings = {"on_duplicate": "update", "dry_run": dry_run}
    api.post(f"/api/v1/clients/imports/{job['id']}/start", json=settings)
    stopped = api.get(f"/api/v1/clients/imports/{job['id']}").get_json()
    assert (stopped["status"], stopped["processed"]) == ("failed", 2)
    assert api.post(f"/api/v1/clients/imports/{job['id']}/resume").status_code == 202
    done = api.get(f"/api/v1/clients/imports/{job['id']}").get_json()
    counts = ("status", "processed", "created_count", "updated_count", "skipped_count")
    assert [done[k] for k in counts] == ["done", 5, 4, 0, 1]
    assert [(i["row"], i["message"]) for i in issues(api, job["id"])] == [
        (5, "Same e-mail as line 2 of this file.")
    ]
    names = ["Alpha", "Beta", "Gamma", "Delta", "Alpha again"]
    if dry_run:
        assert count_clients(app) == 0
        return
    assert sorted(c.name for c in clients_named(app, *names)) == ["Alpha", "Beta", "Delta", "Gamma"]
    with app.app_context():
        alpha = db.session.get(Client, clients_named(app, "Alpha")[0].id)
        assert alpha.phones == [] and alpha.version == 1


def db_dialect(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


def test_import_routes_need_the_import_permission(app):
    make_user(app, "viewer@example.com", ["clients.view", "clients.create"], {"clients": "all"})
    client = app.test_client()
    headers = api_token(client, "viewer@example.com")
    response = client.post(
        "/api/v1/clients/imports",
        data={"file": (io.BytesIO(b"name\nX\n"), "x.csv")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 403
    assert client.get("/api/v1/clients/imports", headers=headers).status_code == 403


def test_contact_persons_are_imported_with_their_phones_and_emails(app, api):
    content = (
        b"Company,First name,Last name,Contact phone,Contact email\n"
        b"Orion SRL,Maria,Popescu,+373 69 000 111,maria@orion.md\n"
    )
    done = run(api, content)
    assert done["created_count"] == 1
    with app.app_context():
        contact = db.session.execute(sa.select(ContactPerson)).scalar_one()
        assert (contact.first_name, contact.last_name) == ("Maria", "Popescu")
        assert [p.e164 for p in contact.phones] == ["+37369000111"]
        assert [e.email for e in contact.emails] == ["maria@orion.md"]
    assert [c["name"] for c in api.get("/api/v1/clients?q=maria@orion.md").get_json()["items"]] == [
        "Orion SRL"
    ]


def test_custom_date_and_number_fields_take_the_formats_spreadsheets_write(app, api):
    with app.app_context():
        for key, kind in (("signed", "date"), ("budget", "number")):
            custom_fields.save_field(CustomField(), {"key": key, "label": key, "kind": kind})
    content = (
        b"name;signed;budget;next contact\n"
        b"Alpha;15.01.2027;1500,50;2027-02-01\n"
        b"Beta;2027-01-16;12;01.02.2027\n"
        b"Gamma;31.02.2024;;\n"
        b"Delta;;;31.02.2024\n"
    )
    done = run(api, content)
    assert (done["created_count"], done["failed_count"]) == (2, 2)
    assert [(i["row"], i["column"], i["message"]) for i in issues(api, done["id"])] == [
        (4, "signed", "Enter a date as YYYY-MM-DD or DD.MM.YYYY."),
        (5, "next contact", "Enter a date as YYYY-MM-DD or DD.MM.YYYY."),
    ]
    assert [
        (c.custom, c.next_contact_on.isoformat()) for c in clients_named(app, "Alpha", "Beta")
    ] == [
        ({"signed": "2027-01-15", "budget": 1500.5}, "2027-02-01"),
        ({"signed": "2027-01-16", "budget": 12}, "2027-02-01"),
    ]


def test_a_custom_field_turned_off_before_the_run_fails_its_cells_not_the_import(app, api):
    from core.clients.imports import services as import_services

    with app.app_context():
        field = custom_fields.save_field(
            CustomField(), {"key": "segment", "label": "Segment", "kind": "text"}
        )
        field_id = field.id
    job = upload(api, b"name,segment\nAlpha,retail\nBeta,\n").get_json()
    assert job["mapping"] == ["name", "custom:segment"]
    with app.app_context():
        # The worker picks the run up after an administrator turned the field off.
        job_row = db.session.get(ClientImport, job["id"])
        import_services.configure(job_row, {})
        job_row.status = "queued"
        db.session.get(CustomField, field_id).active = False
        db.session.commit()
        import_services.run_import(job["id"])
    done = api.get(f"/api/v1/clients/imports/{job['id']}").get_json()
    assert (done["status"], done["created_count"], done["failed_count"]) == ("done", 1, 1)
    assert issues(api, job["id"])[0]["message"] == "The custom field segment is no longer in use."
    assert [c.name for c in clients_named(app, "Alpha", "Beta")] == ["Beta"]


def test_a_contact_name_too_long_for_its_field_fails_its_row_and_the_rest_imports(app, api):
    # On PostgreSQL the over-long part stopped the whole import (a DataError) at every resume.
    content = (
        "Company,Contact person\n"
        f"Orion SRL,Иванов {'И' * 150} Петрович\n"
        f"Vega SRL,Anna {'M' * 150} Popescu\n"
        "Lyra SRL,Ion Rusu\n"
    ).encode()
    done = run(api, content)
    assert (done["created_count"], done["failed_count"]) == (1, 2)
    assert {(i["row"], i["column"]) for i in issues(api, done["id"])} == {
        (2, "Contact person"),
        (3, "Contact person"),
    }
    with app.app_context():
        names = db.session.execute(sa.select(ContactPerson.first_name, ContactPerson.last_name))
        assert names.all() == [("Ion", "Rusu")]


def test_an_update_adds_new_phones_and_e_mails_to_a_contact_person_the_client_has(app, api):
    with app.app_context():
        orion = services.create_client({"name": "Orion SRL"})
        services.save_contact(
            orion,
            {"first_name": "Maria", "last_name": "Popescu", "phones": ["+37369000111"]},
        )
        orion_id = orion.id
    content = (
        b"Company,Contact person,Position,Contact phone,Contact email\n"
        b"Orion SRL,Maria Popescu,Director,+373 69 000 222,maria@orion.md\n"
        b"Orion SRL,Ion Rusu,,,\n"
    )
    # Maria's new phone and e-mail were dropped, the row reported as "Nothing new".
    done = run(api, content, on_duplicate="update")
    assert (done["updated_count"], done["skipped_count"], done["failed_count"]) == (2, 0, 0)
    with app.app_context():
        contacts = db.session.execute(
            sa.select(ContactPerson)
            .where(ContactPerson.client_id == orion_id)
            .order_by(ContactPerson.id)
        ).scalars()
        assert [
            (c.full_name, c.position, [p.e164 for p in c.phones], [e.email for e in c.emails])
            for c in contacts
        ] == [
            ("Maria Popescu", "Director", ["+37369000111", "+37369000222"], ["maria@orion.md"]),
            ("Ion Rusu", "", [], []),
        ]
    again = run(api, content, on_duplicate="update")
    assert (again["updated_count"], again["skipped_count"]) == (0, 2)


def test_large_files_are_checked_in_a_helper_process_with_the_same_outcome(app, api, monkeypatch):
    from core.clients.imports import services as import_services

    monkeypatch.setattr(import_services, "PARALLEL_FROM_ROWS", 1)
    monkeypatch.setattr(import_services, "BATCH", 2)
    content = (
        "name;phone;email;contact person\n"
        "Alfa SRL;+373 22 100 200;alfa@example.md;Ion Rusu\n"
        "Beta SRL;;not-an-email;\n"
        "Alfa again;;ALFA@example.md;\n"
        "Gamma SRL;+373 22 100 300;;\n"
        "Delta SRL;12;;\n"
        "Epsilon SRL;;eps@example.md;Иванов Иван Петрович\n"
    ).encode()
    done = run(api, content)
    assert (done["created_count"], done["skipped_count"], done["failed_count"]) == (3, 1, 2)
    # The helper's copy of the file (clients' data) is gone with the run.
    assert not list((Path(app.instance_path) / "import-copies").glob("*"))
    assert sorted(i["row"] for i in issues(api, done["id"])) == [3, 4, 6]
    assert [c["name"] for c in api.get("/api/v1/clients?q=иван").get_json()["items"]] == [
        "Epsilon SRL"
    ]


def test_runs_pausing_the_cycle_collector_share_the_pause_and_free_cycles_when_asked():
    class Node:
        pass

    assert gc.isenabled()
    with cycle_collector_paused() as collect:
        assert not gc.isenabled() and gc.get_freeze_count() > 0
        with cycle_collector_paused():  # a second import in the same worker
            pass
        assert not gc.isenabled()  # the first one still runs
        node = Node()
        node.itself = node
        alive = weakref.ref(node)
        del node
        assert alive() is not None
        collect()
        assert alive() is None
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_an_import_goes_on_in_the_worker_when_the_helper_process_cannot_start(
    app, api, monkeypatch
):
    import multiprocessing.spawn

    from core.clients.imports import services as import_services

    monkeypatch.setattr(import_services, "PARALLEL_FROM_ROWS", 1)
    monkeypatch.setattr(import_services, "BATCH", 2)
    # The interpreter the helper would be started with is missing.
    monkeypatch.setattr(multiprocessing.spawn, "_python_exe", os.fsencode("/nonexistent/python"))
    content = ("name\n" + "".join(f"Firma {n}\n" for n in range(7))).encode()
    done = run(api, content)
    assert (done["created_count"], done["failed_count"]) == (7, 0)
    assert count_clients(app) == 7


def test_an_import_goes_on_in_the_worker_when_the_helper_dies_after_the_first_batch(
    app, api, monkeypatch
):
    import contextlib

    from core.clients.imports import services as import_services

    monkeypatch.setattr(import_services, "PARALLEL_FROM_ROWS", 1)
    monkeypatch.setattr(import_services, "BATCH", 2)

    @contextlib.contextmanager
    def unreadable_copy(content):
        yield "/nonexistent/crm-import.data"  # the helper fails as it starts

    monkeypatch.setattr(import_services, "_copy_for_helper", unreadable_copy)
    content = ("name\n" + "".join(f"Firma {n}\n" for n in range(7))).encode()
    done = run(api, content)
    assert (done["created_count"], done["failed_count"], done["processed"]) == (7, 0, 7)
    assert sorted(c.name for c in clients_named(app, *(f"Firma {n}" for n in range(7)))) == [
        f"Firma {n}" for n in range(7)
    ]


def test_an_error_checking_the_first_batch_stops_the_import_and_loses_no_row(app, api, monkeypatch):
    from core.clients.imports import rows as import_rows
    from core.clients.imports import services as import_services

    monkeypatch.setattr(import_services, "PARALLEL_FROM_ROWS", 1)
    monkeypatch.setattr(import_services, "BATCH", 2)
    real = import_rows.parse_batch

    def failing(batch, *args):
        if any(cells[0] == "BOOM" for _line, cells in batch):
            raise RuntimeError("a bug in checking")
        return real(batch, *args)

    monkeypatch.setattr(import_services, "parse_batch", failing)
    content = ("name\nBOOM\n" + "".join(f"Firma {n}\n" for n in range(6))).encode()
    job = upload(api, content).get_json()
    api.post(f"/api/v1/clients/imports/{job['id']}/start", json={})
    stopped = api.get(f"/api/v1/clients/imports/{job['id']}").get_json()
    assert (stopped["status"], stopped["processed"]) == ("failed", 0)
    assert "stopped after 0 rows" in stopped["message"]
    assert count_clients(app) == 0


def test_an_import_whose_worker_died_can_go_on(app, api, admin_client):
    from datetime import timedelta

    from core.db import utcnow

    job = upload(api, b"name\nOne\nTwo\n").get_json()
    with app.app_context():
        # As a worker killed mid-run leaves it: running, no progress for an hour.
        db.session.execute(
            sa.update(ClientImport)
            .where(ClientImport.id == job["id"])
            .values(status="running", updated_at=utcnow() - timedelta(hours=1))
        )
        db.session.commit()
    page = admin_client.get(f"/clients/imports/{job['id']}").get_data(as_text=True)
    assert 'data-testid="stalled"' in page
    assert api.post(f"/api/v1/clients/imports/{job['id']}/resume").status_code == 202
    done = api.get(f"/api/v1/clients/imports/{job['id']}").get_json()
    assert (done["status"], done["created_count"]) == ("done", 2)
    # A run that is alive cannot be started a second time beside it.
    fresh = upload(api, b"name\nThree\n").get_json()
    with app.app_context():
        db.session.execute(
            sa.update(ClientImport)
            .where(ClientImport.id == fresh["id"])
            .values(status="running", updated_at=utcnow())
        )
        db.session.commit()
    assert api.post(f"/api/v1/clients/imports/{fresh['id']}/resume").status_code == 409
