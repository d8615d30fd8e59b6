"""Exports: the filtered list, within the user's scope, with spreadsheet formulas defused."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from core.clients import services
from core.db import db
from core.users.models import User
from tests.conftest import api_token, login, make_user


def _seed(app):
    with app.app_context():
        admin = db.session.get(User, 1)
        services.create_client(
            {
                "name": '=HYPERLINK("http://evil")',
                "owner_id": admin.id,
                "notes": "x",
                "tags": ["@risk"],
                "phones": ["+49 30 1234567"],
            }
        )
        services.create_client(
            {
                "name": "Ромашка ООО",
                "owner_id": admin.id,
                "status": "customer",
                "emails": ["info@romashka.ru"],
            }
        )
        for n in range(120):
            services.create_client({"name": f"Bulk {n:04d}", "owner_id": admin.id})


def test_csv_export_streams_every_row_with_formulas_neutralised(app, monkeypatch):
    from core.clients import custom_fields, export
    from core.clients.models import CustomField

    monkeypatch.setattr(export, "BATCH", 50)  # several batches in one export
    _seed(app)
    with app.app_context():
        custom_fields.save_field(CustomField(), {"key": "note", "label": "Note", "kind": "text"})
    client = app.test_client()
    response = client.get("/api/v1/clients/export", headers=api_token(client))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["id", "kind", "name"] and len(rows) == 1 + 122
    assert rows[0][-1] == "custom:note" and {len(r) for r in rows} == {len(rows[0])}
    assert text.splitlines()[-1].endswith(",")  # an empty last cell, not ""
    by_name = {r[2]: r for r in rows[1:]}
    assert '\'=HYPERLINK("http://evil")' in by_name
    evil = by_name['\'=HYPERLINK("http://evil")']
    assert evil[10] == "'@risk" and evil[11] == "'+49301234567"
    assert "Ромашка ООО" in by_name


def test_export_follows_the_filters(app):
    _seed(app)
    client = app.test_client()
    response = client.get(
        "/api/v1/clients/export?status=customer&format=xlsx", headers=api_token(client)
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert (
        len(values) == 2 and values[1][2] == "Ромашка ООО" and values[1][12] == "info@romashka.ru"
    )
    bad = client.get("/api/v1/clients/export?format=pdf", headers=api_token(client))
    assert bad.status_code == 422 and "format" in bad.get_json()["errors"]


def test_export_respects_the_scope_and_the_permission(app):
    _seed(app)
    make_user(
        app,
        "own@example.com",
        ["clients.view", "clients.create", "clients.export"],
        {"clients": "own"},
    )
    make_user(app, "noexport@example.com", ["clients.view"], {"clients": "all"})
    client = app.test_client()
    headers = api_token(client, "own@example.com")
    client.post("/api/v1/clients", headers=headers, json={"name": "Mine Only"})
    rows = list(
        csv.reader(
            io.StringIO(
                client.get("/api/v1/clients/export", headers=headers)
                .get_data(as_text=True)
                .lstrip("\ufeff")
            )
        )
    )
    assert [r[2] for r in rows[1:]] == ["Mine Only"]
    assert (
        client.get(
            "/api/v1/clients/export", headers=api_token(client, "noexport@example.com")
        ).status_code
        == 403
    )
    page = app.test_client()
    login(page, "own@example.com")
    listed = page.get("/clients/export.csv?q=mine").get_data(as_text=True)
    assert "Mine Only" in listed and "Bulk 0001" not in listed


def test_an_export_runs_the_same_few_queries_for_20_clients_as_for_200(app):
    from tests.conftest import QueryCounter

    client = app.test_client()
    headers = api_token(client)
    counts = []
    with app.app_context():
        admin = db.session.get(User, 1)
    for total in (20, 200):
        with app.app_context():
            for n in range(total - (counts and 20 or 0)):
                services.create_client(
                    {
                        "name": f"Counted {total}-{n}",
                        "owner_id": admin.id,
                        "tags": ["b", "a"],
                        "phones": ["+37322000001", "+37369000002"],
                    }
                )
        client.get("/api/v1/clients/export", headers=headers)  # the worker's caches fill
        with QueryCounter(app) as counter:
            response = client.get("/api/v1/clients/export", headers=headers)
            lines = response.get_data(as_text=True).lstrip("\ufeff").splitlines()
        assert len(lines) == 1 + total
        counts.append(counter.count)
    assert counts[0] == counts[1], counts
    row = next(csv.reader([lines[1]]))
    assert row[10] == "a; b" and row[11] == "'+37322000001; +37369000002"


# Cells a CSV line must quote or a spreadsheet would run, in every column that holds text.
AWKWARD = [
    'ООО "Ромашка", филиал',
    "two\nlines",
    "carriage\rreturn",
    "=1+2",
    "-minus",
    "+plus",
    "@at",
    "\tTab first",
    'quote " inside',
    "plain",
    "",
]


def _awkward(app):
    from core.clients import custom_fields
    from core.clients.models import CustomField

    with app.app_context():
        admin = db.session.get(User, 1)
        custom_fields.save_field(CustomField(), {"key": "note", "label": "Note", "kind": "text"})
        custom_fields.save_field(
            CustomField(),
            {"key": "seg", "label": "Seg", "kind": "multi", "choices": ["=x", "b,c", "plain"]},
        )
        for n, text in enumerate(AWKWARD):
            services.create_client(
                {
                    "name": f"{text} {n}" if text else f"Empty {n}",
                    "legal_name": text or None,
                    "industry": text or None,
                    "category": text or None,
                    "website": text or None,
                    "owner_id": admin.id,
                    "tags": [t for t in (text[:50].replace("\n", " ").strip(), "zeta") if t],
                    "emails": [f"a{n}@example.com", f"b{n}@example.com"],
                    "phones": ["+37322000001", "+37369000002"] if n % 4 != 1 else [],
                    "custom": {"note": text or None, "seg": ["=x", "b,c"] if n % 2 else []},
                }
            )


def test_csv_and_xlsx_exports_hold_the_same_cells_however_awkward(app, monkeypatch):
    from core.clients import export

    monkeypatch.setattr(export, "BATCH", 4)  # batches with and without awkward rows
    _awkward(app)
    client = app.test_client()
    headers = api_token(client)
    text = client.get("/api/v1/clients/export?sort=-created", headers=headers).get_data(
        as_text=True
    )
    assert text.startswith("\ufeff")
    csv_rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    book = client.get("/api/v1/clients/export?sort=-created&format=xlsx", headers=headers)
    sheet = load_workbook(io.BytesIO(book.data)).active
    xlsx_rows = [["" if c.value is None else str(c.value) for c in r] for r in sheet.iter_rows()]
    # XML (so XLSX) reads a lone CR back as LF; the CSV keeps it
    assert [[c.replace("\r", "\n") for c in r] for r in csv_rows] == xlsx_rows
    assert len(csv_rows) == 1 + len(AWKWARD)
    assert any(r[2] == "carriage\rreturn 2" for r in csv_rows)
    assert csv_rows[0][-2:] == ["custom:note", "custom:seg"]
    by_id = {int(r[0]): dict(zip(csv_rows[0], r, strict=True)) for r in csv_rows[1:]}
    quoted = next(r for r in by_id.values() if r["name"].startswith("ООО"))
    assert quoted["legal_name"] == 'ООО "Ромашка", филиал'
    assert quoted["tags"] == 'zeta; ООО "Ромашка", филиал'
    formula = next(r for r in by_id.values() if r["name"].startswith("'=1+2"))
    for column in ("legal_name", "industry", "category", "website", "custom:note"):
        assert formula[column] == "'=1+2", column
    assert formula["phones"] == "'+37322000001; +37369000002"
    assert formula["emails"] == "a3@example.com; b3@example.com"
    assert formula["custom:seg"] == "'=x; b,c"
    assert next(r for r in by_id.values() if r["name"].startswith("two"))["website"] == (
        "two\nlines"
    )
    minus = next(r for r in by_id.values() if r["emails"].startswith("a4@"))
    assert minus["name"] == "'-minus 4" and minus["tags"] == "'-minus; zeta"
    assert [r["created_at"][:4].isdigit() for r in by_id.values()] == [True] * len(AWKWARD)


def test_an_export_runs_at_most_one_more_query_a_batch_when_cells_need_quoting(app, monkeypatch):
    from core.clients import export
    from tests.conftest import QueryCounter

    monkeypatch.setattr(export, "BATCH", 10)
    client = app.test_client()
    headers = api_token(client)
    with app.app_context():
        admin = db.session.get(User, 1)
    counts = []
    for total in (10, 100):
        with app.app_context():
            for n in range(total - (counts and 10 or 0)):
                # every batch holds a client whose name needs quoting
                name = f"Quoted, {total}-{n}" if n % 5 == 0 else f"Plain {total}-{n}"
                services.create_client({"name": name, "owner_id": admin.id, "tags": ["a"]})
        client.get("/api/v1/clients/export", headers=headers)  # the worker's caches fill
        with QueryCounter(app) as counter:
            lines = client.get("/api/v1/clients/export", headers=headers).get_data(as_text=True)
        assert len(list(csv.reader(io.StringIO(lines.lstrip("\ufeff"))))) == 1 + total
        counts.append(counter.count)
    # one query for the lines, then at most one a batch for the lines csv.writer redoes
    assert counts[1] - counts[0] <= 100 // 10 - 1, counts


def test_a_batch_of_lines_is_plain_only_when_no_cell_needs_quoting():
    from core.spreadsheets import plain_lines, unplain_lines

    plain = [b"1,a,b\r\n", b"2,,\r\n", "3,Ромашка,'=x\r\n".encode()]
    assert plain_lines(b"".join(plain), len(plain), 3) and unplain_lines(plain, 3) == []
    for awkward in ('4,a "b",c', "4,a,b,c", "4,a\rb,c", "4,a\nb,c", "4,a,b\r\n", "4,a\r\n\r\n,b"):
        lines = [*plain, (awkward + "\r\n").encode()]
        assert not plain_lines(b"".join(lines), len(lines), 3), awkward
        assert unplain_lines(lines, 3) == [3], awkward


def test_the_csv_export_streams_utf8_chunks(app, monkeypatch):
    from core.clients import export

    monkeypatch.setattr(export, "BATCH", 50)
    _seed(app)
    client = app.test_client()
    response = client.get("/api/v1/clients/export", headers=api_token(client), buffered=False)
    chunks = list(response.response)
    response.close()
    # the header, then one chunk a batch: 122 clients in 3
    assert len(chunks) == 4 and all(isinstance(c, bytes) for c in chunks)
    assert chunks[0].startswith("\ufeffid,kind,name,".encode()) and chunks[0].endswith(b"\r\n")
    assert [c.count(b"\r\n") for c in chunks[1:]] == [50, 50, 22]
    assert "Ромашка ООО".encode() in b"".join(chunks)
