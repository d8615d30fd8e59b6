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
    from core.clients import export

    monkeypatch.setattr(export, "BATCH", 50)  # several keyset pages in one export
    _seed(app)
    client = app.test_client()
    response = client.get("/api/v1/clients/export", headers=api_token(client))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["id", "kind", "name"] and len(rows) == 1 + 122
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
