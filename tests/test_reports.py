"""Reports: figures on a known set of clients, record scope, filters, files, charts, plugins."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import datetime

import sqlalchemy as sa
from openpyxl import load_workbook

from core.audit.models import AuditLog
from core.clients import services
from core.clients.models import Client
from core.db import db
from tests.conftest import api_token, disable, enable, make_user

SVG = "{http://www.w3.org/2000/svg}"
VIEWER = ["clients.view", "reports.view"]


def _client(name, owner, status, source, created, trashed=False):
    client = services.create_client(
        {"name": name, "owner_id": owner, "status": status, "source": source}
    )
    db.session.execute(
        sa.update(Client)
        .where(Client.id == client.id)
        .values(created_at=created, created_by_id=owner, deleted_at=created if trashed else None)
    )
    db.session.commit()


def _seed(app) -> dict[str, int]:
    """Ann owns 3 live clients, Bob 2, nobody 1; a trashed client of Ann's never counts."""
    ann = make_user(app, "ann@example.com", VIEWER, {"clients": "own"}, name="Ann")
    bob = make_user(app, "bob@example.com", VIEWER, {"clients": "own"}, name="Bob")
    with app.app_context():
        _client("A1", ann, "lead", "website", datetime(2024, 1, 5, 10))
        _client("A2", ann, "lead", "call", datetime(2024, 1, 20, 10))
        _client("A3", ann, "customer", "website", datetime(2024, 2, 10, 10))
        _client("A-trash", ann, "lead", "website", datetime(2024, 2, 12, 10), trashed=True)
        _client("B1", bob, "customer", "referral", datetime(2024, 2, 11, 10))
        _client("B2", bob, "former", None, datetime(2024, 3, 1, 10))
        _client("N1", None, "prospect", "website", datetime(2024, 3, 15, 10))
    return {"ann": ann, "bob": bob}


def _rows(response) -> dict:
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    first = body["columns"][0]["key"]
    return {row[first]: row for row in body["rows"]} | {"_totals": body["totals"]}


def _counts(response) -> dict:
    rows = _rows(response)
    totals = rows.pop("_totals")
    return {key: row["clients"] for key, row in rows.items()} | {"total": totals["clients"]}


def test_clients_by_status_source_and_owner_count_live_clients(app, api):
    _seed(app)
    assert _counts(api.get("/api/v1/reports/clients_by_status")) == {
        "Lead": 2,
        "Customer": 2,
        "Former": 1,
        "Prospect": 1,
        "total": 6,
    }
    assert _counts(api.get("/api/v1/reports/clients_by_source")) == {
        "Website": 3,
        "Call": 1,
        "Referral": 1,
        "Not set": 1,
        "total": 6,
    }
    by_owner = _rows(api.get("/api/v1/reports/clients_by_owner"))
    assert {k: r["clients"] for k, r in by_owner.items() if k != "_totals"} == {
        "Ann": 3,
        "Bob": 2,
        "No owner": 1,
    }
    assert by_owner["Ann"]["share"] == 0.5


def test_filters_narrow_the_figures(app, api):
    ids = _seed(app)
    february = "created=custom&created_from=2024-02-01&created_to=2024-02-29"
    assert _counts(api.get(f"/api/v1/reports/clients_by_status?{february}")) == {
        "Customer": 2,
        "total": 2,
    }
    assert _counts(api.get(f"/api/v1/reports/clients_by_source?owner={ids['ann']}")) == {
        "Website": 2,
        "Call": 1,
        "total": 3,
    }
    assert _counts(api.get("/api/v1/reports/clients_by_owner?status=lead")) == {
        "Ann": 2,
        "total": 2,
    }


def test_new_clients_per_month_and_week(app, api):
    _seed(app)
    quarter = "created=custom&created_from=2024-01-01&created_to=2024-03-31"
    body = api.get(f"/api/v1/reports/new_clients?{quarter}&bucket=month").get_json()
    assert [(r["period"], r["clients"]) for r in body["rows"]] == [
        ("2024-01-01", 2),
        ("2024-02-01", 2),
        ("2024-03-01", 2),
    ]
    assert body["totals"]["clients"] == 6
    weeks = api.get(f"/api/v1/reports/new_clients?{quarter}&bucket=week").get_json()["rows"]
    assert weeks[0]["period"] == "2024-01-01"  # a Monday
    assert {r["period"]: r["clients"] for r in weeks if r["clients"]} == {
        "2024-01-01": 1,
        "2024-01-15": 1,
        "2024-02-05": 2,
        "2024-02-26": 1,
        "2024-03-11": 1,
    }
    assert sum(r["clients"] for r in weeks) == 6
    days = api.get(f"/api/v1/reports/new_clients?{quarter}&bucket=day").get_json()["rows"]
    assert len(days) == 91 and sum(r["clients"] for r in days) == 6
    assert {r["period"] for r in days if r["clients"]} == {
        "2024-01-05",
        "2024-01-20",
        "2024-02-10",
        "2024-02-11",
        "2024-03-01",
        "2024-03-15",
    }


def test_a_manager_with_scope_own_sees_only_their_own_figures(app):
    ids = _seed(app)
    client = app.test_client()
    headers = api_token(client, "ann@example.com")
    assert _counts(client.get("/api/v1/reports/clients_by_status", headers=headers)) == {
        "Lead": 2,
        "Customer": 1,
        "total": 3,
    }
    owners = _counts(client.get("/api/v1/reports/clients_by_owner", headers=headers))
    assert owners == {"Ann": 3, "total": 3}
    # Asking for Bob's clients by name gets nothing of Bob's.
    bobs = client.get(f"/api/v1/reports/clients_by_source?owner={ids['bob']}", headers=headers)
    assert _counts(bobs) == {"total": 0}
    new = client.get(
        "/api/v1/reports/new_clients?created=custom&created_from=2024-01-01&created_to=2024-03-31",
        headers=headers,
    ).get_json()
    assert new["totals"]["clients"] == 3


def _changed(user_id, client_name, at):
    client_id = db.session.execute(sa.select(Client.id).filter_by(name=client_name)).scalar_one()
    db.session.add(
        AuditLog(at=at, user_id=user_id, entity="clients", entity_id=client_id, action="update")
    )


def test_activity_per_manager_counts_created_and_updated_clients_within_scope(app, api):
    ids = _seed(app)
    head = make_user(
        app, "head@example.com", ["reports.view", "reports.activity"], {"clients": "own"}
    )
    with app.app_context():
        _changed(ids["ann"], "A1", datetime(2024, 1, 3))
        _changed(ids["ann"], "A1", datetime(2024, 1, 4))  # the same client twice counts once
        _changed(ids["ann"], "B1", datetime(2024, 1, 5))
        _changed(ids["bob"], "B1", datetime(2024, 1, 6))
        _changed(ids["bob"], "B2", datetime(2024, 3, 1))  # outside the period
        _changed(head, "B2", datetime(2024, 1, 31, 23))
        db.session.commit()
    query = "period=custom&period_from=2024-01-01&period_to=2024-01-31"
    rows = _rows(api.get(f"/api/v1/reports/manager_activity?{query}"))
    totals = rows.pop("_totals")
    assert {k: (r["clients_created"], r["clients_updated"]) for k, r in rows.items()} == {
        "Ann": (2, 2),
        "Bob": (0, 1),
        "Head": (0, 1),
    }
    assert totals["manager"] == "Total"
    assert (totals["clients_created"], totals["clients_updated"]) == (2, 4)
    assert (totals["calls"], totals["meetings"], totals["tasks_done"]) == (0, 0, 0)
    # The head of sales with scope "own" sees their own line and nobody else's.
    client = app.test_client()
    own = client.get(
        f"/api/v1/reports/manager_activity?{query}", headers=api_token(client, "head@example.com")
    )
    assert [r["manager"] for r in own.get_json()["rows"]] == ["Head"]
    assert own.get_json()["totals"]["clients_updated"] == 1


def test_bad_filters_answer_422_naming_the_field(app, api):
    _seed(app)
    cases = {
        "created=custom&created_from=2024-13-01&created_to=2024-12-31": "created_from",
        "created=custom&created_from=2024-03-01&created_to=2024-02-01": "created_to",
        "created=custom&created_to=2024-02-01": "created_from",
        "created=yesterday": "created",
        "status=nope": "status",
        "owner=999999": "owner",
        "owner=abc": "owner",
        "team=5": "team",
        "colour=red": "colour",
    }
    for query, field in cases.items():
        response = api.get(f"/api/v1/reports/clients_by_status?{query}")
        assert response.status_code == 422, query
        assert field in response.get_json()["errors"], (query, response.get_json())
    too_many = api.get(
        "/api/v1/reports/new_clients?created=custom&created_from=2020-01-01"
        "&created_to=2023-12-31&bucket=day"
    )
    assert too_many.status_code == 422 and "bucket" in too_many.get_json()["errors"]
    assert api.get("/api/v1/reports/clients_by_status?format=pdf").status_code == 422


def test_the_page_shows_bad_filters_as_form_errors(app, admin_client):
    response = admin_client.get(
        "/reports/clients_by_status?created=custom&created_from=2024-03-01&created_to=2024-01-01"
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="f-created_to" name="created_to" value="2024-01-01"' in html
    assert "The period ends before it starts" in html


def test_unknown_and_forbidden_reports(app, api):
    make_user(app, "nosee@example.com", ["reports.view"])
    make_user(app, "noreports@example.com", ["clients.view"])
    assert api.get("/api/v1/reports/no_such_report").status_code == 404
    client = app.test_client()
    headers = api_token(client, "nosee@example.com")
    names = [r["name"] for r in client.get("/api/v1/reports", headers=headers).get_json()]
    assert "clients_by_status" not in names and "manager_activity" not in names
    assert client.get("/api/v1/reports/clients_by_status", headers=headers).status_code == 403
    headers = api_token(client, "noreports@example.com")
    assert client.get("/api/v1/reports", headers=headers).status_code == 403
    assert client.get("/api/v1/reports/clients_by_status", headers=headers).status_code == 403


def test_list_describes_filters(app, api):
    reports = {r["name"]: r for r in api.get("/api/v1/reports").get_json()}
    assert {"clients_by_status", "clients_by_source", "clients_by_owner", "new_clients"} <= set(
        reports
    )
    filters = {f["name"]: f for f in reports["new_clients"]["filters"]}
    assert filters["created"]["kind"] == "period"
    assert filters["created"]["parameters"] == ["created", "created_from", "created_to"]
    assert {c["value"] for c in filters["status"]["choices"]} >= {"lead", "customer"}
    spec = api.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/reports" in spec["paths"] and "/api/v1/reports/{name}" in spec["paths"]


def test_exports_neutralise_formulas(app, api):
    evil = make_user(app, "evil@example.com", VIEWER, name='=HYPERLINK("http://evil")')
    with app.app_context():
        _client("E1", evil, "lead", "website", datetime(2024, 1, 5))
        _client("E2", evil, "lead", "website", datetime(2024, 1, 6))
    response = api.get("/api/v1/reports/clients_by_owner?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Owner", "Clients", "Share"]
    assert rows[1] == ['\'=HYPERLINK("http://evil")', "2", "1.0"]
    assert rows[-1] == ["Total", "2", "1.0"]
    response = api.get("/api/v1/reports/clients_by_owner?format=xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[1] == ['\'=HYPERLINK("http://evil")', 2, 1]
    assert sheet.cell(2, 3).number_format == "0.0%"


def test_the_report_page_draws_a_well_formed_svg_chart(app, admin_client):
    _seed(app)
    response = admin_client.get("/reports/clients_by_status")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    svg = html[html.index("<svg") : html.index("</svg>") + len("</svg>")]
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert len(root.findall(f"{SVG}rect")) == 4  # one bar per status
    assert 'data-testid="export-csv"' in html and 'data-testid="report-table"' in html
    line = admin_client.get(
        "/reports/new_clients?created=custom&created_from=2024-01-01&created_to=2024-03-31"
        "&bucket=day"
    ).get_data(as_text=True)
    root = ET.fromstring(line[line.index("<svg") : line.index("</svg>") + len("</svg>")])
    assert len(root.findall(f"{SVG}polyline")) == 1
    index = admin_client.get("/reports/").get_data(as_text=True)
    assert "Clients by status" in index and 'href="/reports/"' in index


def test_a_plugin_report_is_listed_only_while_the_plugin_is_enabled(app, api):
    def names():
        return [r["name"] for r in api.get("/api/v1/reports").get_json()]

    assert "hello.greetings" not in names()
    assert api.get("/api/v1/reports/hello.greetings").status_code == 404
    enable(app, "hello")
    assert "hello.greetings" in names()
    body = api.get("/api/v1/reports/hello.greetings?word=Welcome").get_json()
    assert body["columns"][1]["key"] == "greetings"
    assert api.get("/api/v1/reports/hello.greetings?word=Bye").status_code == 422
    disable(app, "hello")
    assert "hello.greetings" not in names()
    assert api.get("/api/v1/reports/hello.greetings").status_code == 404
