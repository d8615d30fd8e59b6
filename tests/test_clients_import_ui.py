"""The import pages: upload, map and preview, run, the summary and the report, as a user meets
them."""

from __future__ import annotations

import io
import re

import sqlalchemy as sa

from core.clients.models import Client
from core.db import db
from tests.conftest import csrf_token, login, make_user


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
