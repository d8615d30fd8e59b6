"""Documents from templates: checked templates, numbered PDFs that render Cyrillic, Romanian
and German letters, kept on the client within its scope, and e-mailed through a real SMTP
server with retries."""

from __future__ import annotations

import io
from datetime import date

import pypdf
import pytest

from core.clients import services as clients
from core.clients.schemas import ContactInSchema
from core.db import db
from tests.conftest import api_token, make_user, run_at_once

PROPOSAL = """# Коммерческое предложение № {{ document.number }}

{{ client.name }}, ИНН {{ client.tax_id }}

{{ contact.salutation }}!

Предлагаем вам наши услуги. Дата: {{ today }}.

| Услуга | Цена |
|---|---|
| Монтаж | 100 |

{{ user.name }}, {{ company.name }}
"""


def _pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def _client_with_contact(app, owner_id: int | None = None, name: str = "ООО «Ромашка»"):
    with app.test_request_context():
        client = clients.create_client(
            {
                "name": name,
                "tax_id": "1003600012345",
                **({"owner_id": owner_id} if owner_id else {}),
            }
        )
        db.session.commit()
        contact = clients.save_contact(
            client,
            ContactInSchema().load(
                {
                    "first_name": "Иван",
                    "middle_name": "Петрович",
                    "last_name": "Сидоров",
                    "emails": [{"email": "ivan@romashka.example", "kind": "work"}],
                }
            ),
        )
        db.session.commit()
        return client.id, contact.id


def _template(api, body: str = PROPOSAL, type_: str = "proposal", language: str = "ru") -> int:
    response = api.post(
        "/api/v1/document-templates",
        json={"type": type_, "name": f"КП {type_}", "language": language, "body": body},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_a_proposal_for_a_cyrillic_client_is_generated_attached_and_emailed(app, api, smtp_server):
    client_id, contact_id = _client_with_contact(app)
    template_id = _template(api)

    response = api.post(
        "/api/v1/documents",
        json={"template_id": template_id, "client_id": client_id, "contact_id": contact_id},
    )
    assert response.status_code == 201, response.get_json()
    document = response.get_json()
    assert document["number"] == f"PROP-{date.today().year}-0001"

    pdf = api.get(f"/api/v1/documents/{document['id']}/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "attachment" in pdf.headers["Content-Disposition"]
    text = _pdf_text(pdf.data)
    assert "ООО «Ромашка»" in text
    assert "Уважаемый Иван Петрович!" in text
    assert document["number"] in text

    listed = api.get(f"/api/v1/documents?client_id={client_id}").get_json()
    assert [d["id"] for d in listed] == [document["id"]]

    sent = api.post(f"/api/v1/documents/{document['id']}/send", json={"contact_id": contact_id})
    assert sent.status_code == 202, sent.get_json()
    [sending] = api.get(f"/api/v1/documents/{document['id']}/sendings").get_json()
    assert sending["status"] == "sent" and sending["message_id"]

    [message] = smtp_server.messages
    assert message["To"] == "ivan@romashka.example"
    assert "Уважаемый Иван Петрович" in message.get_body(("plain",)).get_content()
    [attached] = list(message.iter_attachments())
    assert attached.get_filename() == f"{document['number']}.pdf"
    assert attached.get_content() == pdf.data


def test_the_client_card_lists_the_document_and_its_email(app, api, admin_client, smtp_server):
    client_id, contact_id = _client_with_contact(app)
    template_id = _template(api)
    document = api.post(
        "/api/v1/documents", json={"template_id": template_id, "client_id": client_id}
    ).get_json()
    api.post(f"/api/v1/documents/{document['id']}/send", json={"contact_id": contact_id})
    html = admin_client.get(f"/clients/{client_id}").get_data(as_text=True)
    assert document["number"] in html
    assert "ivan@romashka.example" in html and "Generate document" in html


def test_romanian_and_german_letters_render(app, api):
    client_id, _ = _client_with_contact(app, name="Întreprinderea Științifică SRL")
    body = (
        "Stimați parteneri ș ț ă â î Ș Ț Ă Â Î\n\n"
        "Grüße aus Köln: ä ö ü ß Ä Ö Ü\n\n{{ client.name }}"
    )
    template_id = _template(api, body, "letter", "ro")
    document = api.post(
        "/api/v1/documents", json={"template_id": template_id, "client_id": client_id}
    ).get_json()
    text = _pdf_text(api.get(f"/api/v1/documents/{document['id']}/pdf").data)
    assert "ș ț ă â î Ș Ț Ă Â Î" in text
    assert "Grüße aus Köln: ä ö ü ß Ä Ö Ü" in text
    assert "Întreprinderea Științifică SRL" in text


def test_a_template_with_broken_syntax_is_refused_with_its_position(api):
    body = "Hello\n\n{{ client.name }\n"
    response = api.post(
        "/api/v1/document-templates", json={"type": "letter", "name": "Bad", "body": body}
    )
    assert response.status_code == 422
    [message] = response.get_json()["errors"]["body"]
    assert message.startswith("line 3")
    assert api.get("/api/v1/document-templates").get_json() == []


def test_a_template_with_an_unknown_placeholder_is_refused_with_its_position(api):
    body = "Hello\n  {{ client.nmae }}\n"
    response = api.post(
        "/api/v1/document-templates", json={"type": "letter", "name": "Bad", "body": body}
    )
    assert response.status_code == 422
    [message] = response.get_json()["errors"]["body"]
    assert message == "line 2, column 6: unknown placeholder 'client.nmae'"
    response = api.post(
        "/api/v1/document-templates",
        json={"type": "letter", "name": "Bad", "body": "{{ secret_key }}"},
    )
    assert "unknown placeholder 'secret_key'" in response.get_json()["errors"]["body"][0]


def test_a_template_cannot_reach_python_internals(api):
    body = "{{ client.name.__class__.__mro__ }}"
    response = api.post(
        "/api/v1/document-templates", json={"type": "letter", "name": "Bad", "body": body}
    )
    assert response.status_code == 422


def test_a_broken_edit_changes_nothing(api):
    template_id = _template(api, "{{ client.name }}", "letter", "en")
    response = api.patch(
        f"/api/v1/document-templates/{template_id}",
        json={"version": 1, "body": "{% if %}"},
    )
    assert response.status_code == 422
    assert api.get(f"/api/v1/document-templates/{template_id}").get_json()["body"] == (
        "{{ client.name }}"
    )
    changed = api.patch(
        f"/api/v1/document-templates/{template_id}",
        json={"version": 1, "body": "{{ client.tax_id }}"},
    )
    assert changed.status_code == 200 and changed.get_json()["version"] == 2
    stale = api.patch(f"/api/v1/document-templates/{template_id}", json={"version": 1, "name": "x"})
    assert stale.status_code == 409


def test_the_template_editor_shows_the_error_as_a_form_error(admin_client):
    from tests.conftest import post_form

    response = post_form(
        admin_client,
        "/documents/templates/new",
        {"type": "letter", "name": "X", "language": "en", "body": "a\n{{ contact.nope }}"},
        page="/documents/templates/new",
    )
    assert response.status_code == 422
    assert "line 2, column 4: unknown placeholder" in response.get_data(as_text=True)


def test_numbers_run_per_type_and_year(app, api):
    client_id, _ = _client_with_contact(app)
    proposal = _template(api, "{{ document.number }}", "proposal", "en")
    invoice = _template(api, "{{ document.number }}", "invoice", "en")
    year = date.today().year
    numbers = [
        api.post("/api/v1/documents", json={"template_id": t, "client_id": client_id}).get_json()[
            "number"
        ]
        for t in (proposal, proposal, invoice, proposal)
    ]
    assert numbers == [
        f"PROP-{year}-0001",
        f"PROP-{year}-0002",
        f"INV-{year}-0001",
        f"PROP-{year}-0003",
    ]


def test_a_user_with_scope_own_cannot_see_another_managers_documents(app, api):
    perms = ["clients.view", "documents.generate"]
    owner_id = make_user(app, "owner@example.com", perms, {"clients": "own"})
    make_user(app, "other@example.com", perms, {"clients": "own"})
    client_id, _ = _client_with_contact(app, owner_id=owner_id)
    template_id = _template(api, "{{ client.name }}", "letter", "en")
    http = app.test_client()
    owner = api_token(http, "owner@example.com")
    other = api_token(http, "other@example.com")
    created = http.post(
        "/api/v1/documents",
        json={"template_id": template_id, "client_id": client_id},
        headers=owner,
    )
    assert created.status_code == 201
    document_id = created.get_json()["id"]
    assert http.get(f"/api/v1/documents/{document_id}/pdf", headers=owner).status_code == 200
    assert http.get(f"/api/v1/documents/{document_id}/pdf", headers=other).status_code == 404
    assert http.get(f"/api/v1/documents/{document_id}", headers=other).status_code == 404
    assert http.get(f"/api/v1/documents?client_id={client_id}", headers=other).status_code == 404
    assert (
        http.post(
            "/api/v1/documents",
            json={"template_id": template_id, "client_id": client_id},
            headers=other,
        ).status_code
        == 404
    )
    # The web download too.
    from tests.conftest import login

    browser = app.test_client()
    login(browser, "other@example.com")
    assert browser.get(f"/documents/{document_id}.pdf").status_code == 404


def test_a_refusing_smtp_server_delays_the_email_without_losing_the_document(app, api, smtp_server):
    client_id, contact_id = _client_with_contact(app)
    template_id = _template(api)
    document = api.post(
        "/api/v1/documents", json={"template_id": template_id, "client_id": client_id}
    ).get_json()
    smtp_server.refuse = "451 4.3.0 Try again later"
    response = api.post(
        f"/api/v1/documents/{document['id']}/send", json={"email": "boss@romashka.example"}
    )
    assert response.status_code == 202
    [sending] = api.get(f"/api/v1/documents/{document['id']}/sendings").get_json()
    assert sending["status"] == "failed"
    assert sending["attempts"] == 6  # the first try and five retries (immediate in tests)
    assert "did not take" in sending["error"]
    assert smtp_server.messages == []
    assert api.get(f"/api/v1/documents/{document['id']}/pdf").status_code == 200

    smtp_server.refuse = None
    with app.app_context():
        from core.documents import services
        from core.documents.models import DocumentSending

        services.retry_sending(db.session.get(DocumentSending, sending["id"]))
    [sending] = api.get(f"/api/v1/documents/{document['id']}/sendings").get_json()
    assert sending["status"] == "sent"
    [message] = smtp_server.messages
    assert message["To"] == "boss@romashka.example"


def test_sending_needs_an_address(app, api):
    client_id, _ = _client_with_contact(app)
    template_id = _template(api, "{{ client.name }}", "letter", "en")
    document = api.post(
        "/api/v1/documents", json={"template_id": template_id, "client_id": client_id}
    ).get_json()
    response = api.post(f"/api/v1/documents/{document['id']}/send", json={"email": "not-mail"})
    assert response.status_code == 422 and "email" in response.get_json()["errors"]


@pytest.mark.parametrize(
    ("first", "middle", "last", "language", "expected"),
    [
        ("Иван", "Петрович", "Сидоров", "ru", "Уважаемый Иван Петрович"),
        ("Анна", "Сергеевна", "Иванова", "ru", "Уважаемая Анна Сергеевна"),
        ("Ivan", "Petrovich", "Sidorov", "en", "Dear Ivan Petrovich"),
        ("Maria", "", "Popescu", "ro", "Stimată doamnă Popescu"),
        ("Hans", "", "Müller", "de", "Guten Tag Hans Müller"),
    ],
)
def test_salutations_follow_the_language_and_the_name(first, middle, last, language, expected):
    from core.documents.salutation import salutation

    assert salutation(first, middle, last, language) == expected


# --- attachments ----------------------------------------------------------------------------

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _upload(http, client_id, name, content, headers):
    return http.post(
        f"/api/v1/clients/{client_id}/attachments",
        data={"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
        headers=headers,
    )


def _stored_files(app) -> list:
    from pathlib import Path

    root = Path(app.instance_path) / "attachments"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_an_attachment_is_stored_outside_the_web_root_and_served_as_a_download(app):
    perms = ["clients.view", "documents.attach"]
    owner_id = make_user(app, "owner@example.com", perms, {"clients": "own"})
    make_user(app, "other@example.com", perms, {"clients": "own"})
    client_id, _ = _client_with_contact(app, owner_id=owner_id)
    http = app.test_client()
    owner = api_token(http, "owner@example.com")
    other = api_token(http, "other@example.com")

    created = _upload(http, client_id, "Договор скан.pdf", PDF_BYTES, owner)
    assert created.status_code == 201, created.get_json()
    attachment = created.get_json()
    assert attachment["filename"] == "Договор скан.pdf"
    [stored] = _stored_files(app)
    assert stored.read_bytes() == PDF_BYTES
    assert "Договор" not in stored.name and len(stored.name) == 32

    url = f"/api/v1/clients/{client_id}/attachments/{attachment['id']}"
    download = http.get(url, headers=owner)
    assert download.status_code == 200 and download.data == PDF_BYTES
    assert download.headers["Content-Disposition"].startswith("attachment")
    listed = http.get(f"/api/v1/clients/{client_id}/attachments", headers=owner).get_json()
    assert [a["id"] for a in listed] == [attachment["id"]]

    # Someone who may not see the client sees nothing, by any route.
    assert http.get(url, headers=other).status_code == 404
    assert http.get(f"/api/v1/clients/{client_id}/attachments", headers=other).status_code == 404
    assert _upload(http, client_id, "x.pdf", PDF_BYTES, other).status_code == 404
    from tests.conftest import login

    browser = app.test_client()
    login(browser, "other@example.com")
    assert browser.get(f"/documents/attachments/{attachment['id']}").status_code == 404
    assert http.delete(url, headers=other).status_code == 404
    assert len(_stored_files(app)) == 1


def test_only_the_uploader_or_an_admin_deletes_an_attachment(app, api):
    perms = ["clients.view", "documents.attach"]
    make_user(app, "colleague@example.com", perms, {"clients": "all"})
    client_id, _ = _client_with_contact(app)
    created = _upload(
        app.test_client(), client_id, "notes.txt", "Привет".encode(), api_headers(app)
    )
    attachment_id = created.get_json()["id"]
    url = f"/api/v1/clients/{client_id}/attachments/{attachment_id}"
    http = app.test_client()
    colleague = api_token(http, "colleague@example.com")
    assert http.delete(url, headers=colleague).status_code == 403
    assert api.delete(url).status_code == 204
    assert _stored_files(app) == []
    assert api.get(url).status_code == 404
    with app.app_context():
        from core.audit.models import AuditLog

        actions = [
            a.action
            for a in db.session.query(AuditLog).filter_by(
                entity="attachments", entity_id=attachment_id
            )
        ]
    assert actions == ["create", "delete"]


def api_headers(app) -> dict:
    return api_token(app.test_client())


@pytest.mark.parametrize(
    ("name", "content", "status", "message"),
    [
        ("script.exe", b"MZ\x90\x00", 422, "not allowed"),
        ("virus.pdf", b"MZ\x90\x00 not a pdf", 422, "not PDF"),
        ("photo.png", b"\xff\xd8\xff\xe0 a jpeg", 422, "not PNG"),
        ("table.xlsx", b"PK\x03\x04 broken zip", 422, "not XLSX"),
        ("binary.txt", b"abc\x00def", 422, "not TXT"),
        ("empty.pdf", b"", 422, "empty"),
        ("noextension", b"%PDF-1.4", 422, "not allowed"),
    ],
)
def test_bad_uploads_are_refused_and_nothing_is_stored(app, name, content, status, message):
    client_id, _ = _client_with_contact(app)
    response = _upload(app.test_client(), client_id, name, content, api_headers(app))
    assert response.status_code == status
    assert message in response.get_json()["errors"]["file"][0]
    assert _stored_files(app) == []


def test_an_upload_over_the_limit_is_refused(app):
    app.config["CRM_ATTACHMENT_MAX_MB"] = 0.01  # about 10 KB
    client_id, _ = _client_with_contact(app)
    headers = api_headers(app)
    big = PDF_BYTES + b"0" * 20_000
    response = _upload(app.test_client(), client_id, "big.pdf", big, headers)
    assert response.status_code == 413
    assert "larger than" in response.get_json()["errors"]["file"][0]
    assert _stored_files(app) == []
    assert _upload(app.test_client(), client_id, "ok.pdf", PDF_BYTES, headers).status_code == 201


def test_office_files_images_and_csv_are_accepted(app):
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
    client_id, _ = _client_with_contact(app)
    headers = api_headers(app)
    for name, content in [
        ("offer.docx", buffer.getvalue()),
        ("logo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 16),
        ("prices.csv", "name;price\nЧай;10\n".encode()),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16),
    ]:
        response = _upload(app.test_client(), client_id, name, content, headers)
        assert response.status_code == 201, (name, response.get_json())


def test_the_card_shows_attachments_and_uploads_through_the_form(app, admin_client):
    from tests.conftest import csrf_token

    client_id, _ = _client_with_contact(app)
    token = csrf_token(admin_client, f"/clients/{client_id}")
    response = admin_client.post(
        f"/documents/attachments/client/{client_id}",
        data={"file": (io.BytesIO(PDF_BYTES), "скан.pdf"), "csrf_token": token},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    html = admin_client.get(f"/clients/{client_id}").get_data(as_text=True)
    assert "скан.pdf" in html and "Attach a file" in html


def test_plugins_add_variables_through_document_variables(app, api):
    from tests.conftest import disable, enable

    enable(app, "hello")
    client_id, _ = _client_with_contact(app)
    body = (
        "{{ hello.greeting }}\n\n| Name | Price |\n"
        "{% for line in hello.lines %}| {{ line.name }} | {{ line.price }} |\n{% endfor %}"
    )
    template_id = _template(api, body, "invoice", "en")
    refused = api.post(
        "/api/v1/document-templates",
        json={"type": "letter", "name": "Bad", "body": "{{ hello.greting }}"},
    )
    assert "unknown placeholder 'hello.greting'" in refused.get_json()["errors"]["body"][0]

    document = api.post(
        "/api/v1/documents", json={"template_id": template_id, "client_id": client_id}
    ).get_json()
    text = _pdf_text(api.get(f"/api/v1/documents/{document['id']}/pdf").data)
    assert f"Привет from client {client_id} for Ada Admin" in text
    assert "Чай" in text and "Café" in text

    disable(app, "hello")
    refused = api.post(
        "/api/v1/document-templates",
        json={"type": "letter", "name": "Needs hello", "body": "{{ hello.greeting }}"},
    )
    assert refused.status_code == 422


def test_a_document_links_only_to_a_record_the_user_may_see(app, api):
    client_id, _ = _client_with_contact(app)
    template_id = _template(api, "{{ client.name }}", "act", "en")
    refused = api.post(
        "/api/v1/documents",
        json={
            "template_id": template_id,
            "client_id": client_id,
            "link": {"kind": "sales.deal", "id": 7},
        },
    )
    assert refused.status_code == 422 and "link" in refused.get_json()["errors"]
    linked = api.post(
        "/api/v1/documents",
        json={
            "template_id": template_id,
            "client_id": client_id,
            "link": {"kind": "client", "id": client_id},
        },
    )
    assert linked.status_code == 201
    assert (linked.get_json()["record_kind"], linked.get_json()["record_id"]) == (
        "client",
        client_id,
    )


def test_generating_from_the_card_form(app, admin_client, api):
    from tests.conftest import post_form

    client_id, contact_id = _client_with_contact(app)
    template_id = _template(api)
    response = post_form(
        admin_client,
        f"/documents/generate/{client_id}",
        {"template_id": str(template_id), "contact_id": str(contact_id)},
        page=f"/clients/{client_id}",
    )
    assert response.status_code == 302
    html = admin_client.get(f"/clients/{client_id}").get_data(as_text=True)
    assert f"PROP-{date.today().year}-0001" in html


def test_documents_generated_at_the_same_time_get_distinct_numbers(app, api):
    from core.clients.models import Client
    from core.documents import services
    from core.documents.models import DocumentTemplate
    from core.users.models import User

    client_id, _ = _client_with_contact(app)
    template_id = _template(api, "{{ document.number }}", "contract", "en")
    numbers: list[str] = []

    def work() -> None:
        for _ in range(4):
            template = db.session.get(DocumentTemplate, template_id)
            client = db.session.get(Client, client_id)
            user = db.session.query(User).first()
            numbers.append(services.generate(template, client, user).number)

    assert run_at_once(app, work, threads=3) == []
    year = date.today().year
    assert sorted(numbers) == [f"CON-{year}-{n:04d}" for n in range(1, 13)]


def test_an_upload_to_an_unknown_or_hidden_record_is_not_found(app, admin_client):
    from tests.conftest import csrf_token

    client_id, _ = _client_with_contact(app)
    token = csrf_token(admin_client, f"/clients/{client_id}")
    for path in (
        f"/documents/attachments/sales.deal/{client_id}",
        "/documents/attachments/client/999",
    ):
        response = admin_client.post(
            path,
            data={"file": (io.BytesIO(PDF_BYTES), "a.pdf"), "csrf_token": token},
            content_type="multipart/form-data",
        )
        assert response.status_code == 404
    assert _stored_files(app) == []


def test_a_merge_moves_documents_and_files_to_the_surviving_client(app, api):
    survivor_id, _ = _client_with_contact(app, name="Ромашка")
    merged_id, _ = _client_with_contact(app, name="ООО Ромашка")
    template_id = _template(api, "{{ client.name }}", "letter", "en")
    document = api.post(
        "/api/v1/documents", json={"template_id": template_id, "client_id": merged_id}
    ).get_json()
    _upload(app.test_client(), merged_id, "a.pdf", PDF_BYTES, api_headers(app))
    version = api.get(f"/api/v1/clients/{survivor_id}").get_json()["version"]
    merged = api.post(
        "/api/v1/clients/merge",
        json={"survivor_id": survivor_id, "merged_ids": [merged_id], "version": version},
    )
    assert merged.status_code == 200, merged.get_json()
    listed = api.get(f"/api/v1/documents?client_id={survivor_id}").get_json()
    assert [d["id"] for d in listed] == [document["id"]]
    files = api.get(f"/api/v1/clients/{survivor_id}/attachments").get_json()
    assert [f["filename"] for f in files] == ["a.pdf"]


def test_purging_a_client_deletes_its_documents_and_files(app, api):
    client_id, _ = _client_with_contact(app)
    template_id = _template(api, "{{ client.name }}", "letter", "en")
    document = api.post(
        "/api/v1/documents", json={"template_id": template_id, "client_id": client_id}
    ).get_json()
    _upload(app.test_client(), client_id, "a.pdf", PDF_BYTES, api_headers(app))
    assert api.delete(f"/api/v1/clients/{client_id}").status_code == 204
    assert api.post(f"/api/v1/clients/{client_id}/purge").status_code == 204
    assert _stored_files(app) == []
    with app.app_context():
        from core.documents.models import Attachment, Document

        assert db.session.get(Document, document["id"]) is None
        assert db.session.query(Attachment).count() == 0
