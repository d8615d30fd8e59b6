"""The import pages: upload, map and preview, run, the summary and the report, as a user meets
them."""

from __future__ import annotations

import io
import re

import sqlalchemy as sa

from core.clients.models import Client
from core.db import db
from core.users.models import User
from tests.conftest import api_token, csrf_token, login, make_user


def _upload(client, content: bytes, filename: str = "clients.csv"):
    return client.post(
        "/clients/imports/",
        data={
            "csrf_token": csrf_token(client, "/clients/imports/"),
            "file": (io.BytesIO(content), filename),
        },
        content_type="multipart/form-data",
    )


def _names(app) -> list[str]:
    with app.app_context():
        return list(db.session.execute(sa.select(Client.name).order_by(Client.name)).scalars())


def test_upload_map_preview_and_import_in_the_browser_forms(app, admin_client):
    assert "Import" in admin_client.get("/clients/").get_data(as_text=True)
    content = "Название;Телефон;Почта\nООО Берёза;+373 22 111 222;info@bereza.md\nБез почты;;bad@\n"
    response = _upload(admin_client, content.encode("cp1251"))
    assert response.status_code == 302
    page_url = response.headers["Location"]
    page = admin_client.get(page_url).get_data(as_text=True)
    assert "ООО Берёза" in page and "cp1251" in page  # the first values, decoded
    assert re.search(r'<option value="name" selected>', page)
    assert re.search(r'<option value="phone" selected>', page)

    form = {
        "csrf_token": csrf_token(admin_client, page_url),
        "column-0": "name",
        "column-1": "phone",
        "column-2": "email",
        "on_duplicate": "skip",
        "default_owner_id": "1",
    }
    preview = admin_client.post(page_url, data={**form, "action": "preview"})
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and 'data-testid="preview"' in html
    assert "will be created" in html and "Not a valid e-mail address." in html
    assert _names(app) == []

    started = admin_client.post(page_url, data={**form, "action": "start"})
    assert started.status_code == 302
    summary = admin_client.get(page_url).get_data(as_text=True)
    assert re.search(r'data-testid="created">1<', summary)
    assert re.search(r'data-testid="failed">1<', summary)
    assert "bad@" in summary and "Download report (CSV)" in summary
    assert _names(app) == ["ООО Берёза"]
    report = admin_client.get(page_url + "/report.csv")
    assert report.status_code == 200 and "Без почты" in report.get_data(as_text=True)
    progress = admin_client.get(page_url + "/progress").get_json()
    assert progress["status"] == "done" and progress["processed"] == 2
    card = admin_client.get("/clients/1").get_data(as_text=True)
    assert "imported from #1 clients.csv, line 2" in card


def test_a_bad_file_shows_the_reason_on_the_form(app, admin_client):
    response = _upload(admin_client, b"%PDF-1.4 not a list", "scan.pdf")
    assert response.status_code == 422
    assert "This is not a CSV or XLSX file." in response.get_data(as_text=True)
    missing = admin_client.post(
        "/clients/imports/",
        data={"csrf_token": csrf_token(admin_client, "/clients/imports/")},
        content_type="multipart/form-data",
    )
    assert missing.status_code == 422
    assert "Choose a CSV or XLSX file." in missing.get_data(as_text=True)


def test_a_mapping_without_a_name_is_refused_on_the_form(app, admin_client):
    page_url = _upload(admin_client, b"name,email\nX,x@example.com\n").headers["Location"]
    response = admin_client.post(
        page_url,
        data={
            "csrf_token": csrf_token(admin_client, page_url),
            "column-0": "",
            "column-1": "email",
            "on_duplicate": "skip",
            "default_owner_id": "1",
            "action": "start",
        },
    )
    assert response.status_code == 422
    assert "Choose the column that holds the client&#39;s name." in response.get_data(as_text=True)
    assert _names(app) == []


def test_someone_elses_import_is_not_found_and_the_permission_is_needed(app, admin_client):
    page_url = _upload(admin_client, b"name\nA\n").headers["Location"]
    make_user(app, "mia@example.com", ["clients.view", "clients.import"], {"clients": "all"})
    make_user(app, "leo@example.com", ["clients.view"], {"clients": "all"})
    other = app.test_client()
    login(other, "mia@example.com")
    assert other.get(page_url).status_code == 404
    assert other.get(page_url + "/report.csv").status_code == 404
    assert other.get(page_url + "/progress").status_code == 404
    assert other.get("/clients/imports/").status_code == 200
    viewer = app.test_client()
    login(viewer, "leo@example.com")
    assert viewer.get("/clients/imports/").status_code == 403
    assert 'data-testid="import-link"' not in viewer.get("/clients/").get_data(as_text=True)


def test_a_garbled_mapping_form_is_refused_and_starts_nothing(app, admin_client):
    make_user(app, "gone@example.com", ["clients.view"], {"clients": "all"})
    with app.app_context():
        gone = db.session.execute(sa.select(User).filter_by(email="gone@example.com")).scalar_one()
        gone.active = False
        db.session.commit()
        gone_id = gone.id
    page_url = _upload(admin_client, b"name,email\nX,x@example.com\n").headers["Location"]
    form = {
        "csrf_token": csrf_token(admin_client, page_url),
        "column-0": "name",
        "column-1": "email",
        "on_duplicate": "skip",
        "default_owner_id": "1",
        "action": "start",
    }
    cases = [
        ({"action": None}, "Choose to preview the first rows or to start the import."),
        ({"action": "merge"}, "Choose to preview the first rows or to start the import."),
        ({"default_owner_id": "abc"}, "No such active user."),
        ({"default_owner_id": "²"}, "No such active user."),
        ({"default_owner_id": str(gone_id)}, "No such active user."),
        ({"default_owner_id": "9" * 30}, "No such active user."),
        ({"column-1": "nonsense"}, "Unknown field &#39;nonsense&#39;."),
    ]
    for change, message in cases:
        data = {k: v for k, v in {**form, **change}.items() if v is not None}
        response = admin_client.post(page_url, data=data)
        assert response.status_code == 422, change
        assert message in response.get_data(as_text=True), change
    assert "waiting for mapping" in admin_client.get(page_url).get_data(as_text=True)
    assert _names(app) == []


def test_an_api_owner_id_out_of_range_is_refused_naming_the_field(app):
    client = app.test_client()
    headers = api_token(client)
    job = client.post(
        "/api/v1/clients/imports",
        data={"file": (io.BytesIO(b"name\nA\n"), "a.csv")},
        headers=headers,
        content_type="multipart/form-data",
    ).get_json()
    response = client.post(
        f"/api/v1/clients/imports/{job['id']}/start",
        json={"default_owner_id": 10**30},
        headers=headers,
    )
    assert response.status_code == 422
    assert response.get_json()["errors"]["default_owner_id"] == ["No such active user."]
