"""Sales documents: deal variables in templates, numbered invoices with payments, their
pages and API, and amounts in words."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import pypdf
import pytest
import sqlalchemy as sa

from core.clients import services as clients
from core.clients.schemas import ContactInSchema
from core.db import db
from core.documents.models import DocumentTemplate
from plugins.sales.invoices import events, services
from plugins.sales.invoices.models import Invoice
from plugins.sales.invoices.words import amount_in_words
from plugins.sales.models import Deal, DealLine, Pipeline, Stage
from tests.conftest import api_token, disable, enable, make_user, post_form, run_at_once

CLIENT_NAME = "ООО «Оконный Мир»"


def _pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


@pytest.fixture
def sales(app):
    enable(app, "sales")
    with app.app_context():
        from core.settings import services as settings

        settings.save(
            {
                "core.company_name": "ООО «Стеклодел»",
                "core.company_tax_id": "7701234567",
                "core.company_bank_name": "АО «Банк»",
                "core.company_bank_account": "40702810900000012345",
                "core.company_bank_code": "044525225",
            }
        )
    return app


def _deal(app, owner_id: int | None = None, currency: str = "RUB", stored: bool = True) -> int:
    """A deal with two lines (a discount, two VAT rates) for a client with a Cyrillic name."""
    with app.test_request_context():
        client = clients.create_client(
            {
                "name": CLIENT_NAME,
                "tax_id": "7707083893",
                "addresses": [{"kind": "legal", "city": "Москва", "street": "ул. Ленина, 1"}],
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
                    "emails": [{"email": "ivan@okna.example", "kind": "work"}],
                }
            ),
        )
        db.session.commit()
        pipeline = db.session.execute(sa.select(Pipeline)).scalars().first()
        if pipeline is None:
            pipeline = Pipeline(name="Продажи")
            db.session.add(pipeline)
            db.session.flush()
            db.session.add(Stage(pipeline_id=pipeline.id, name="Оплата", position=1))
            db.session.flush()
        stage = db.session.execute(sa.select(Stage)).scalars().first()
        deal = Deal(
            title="Остекление офиса",
            client_id=client.id,
            contact_person_id=contact.id,
            pipeline_id=pipeline.id,
            stage_id=stage.id,
            owner_id=owner_id or 1,
            amount=Decimal("1210.14"),
            currency=currency,
            expected_close_on=date(2026, 12, 20),
        )
        lines = [
            ("Окно ПВХ 1200×1400", "шт", "2", "500.00", "10", "20", "900.00", "180.00"),
            ("Монтаж", "усл", "1", "120.50", "0", "8", "120.50", "9.64"),
        ]
        for position, (name, unit, qty, price, disc, vat, net, vat_amount) in enumerate(lines):
            line = DealLine(
                position=position,
                name=name,
                unit=unit,
                quantity=Decimal(qty),
                price=Decimal(price),
                discount_percent=Decimal(disc),
                vat_rate=Decimal(vat),
            )
            if stored:
                line.net_amount = Decimal(net)
                line.vat_amount = Decimal(vat_amount)
                line.total_amount = Decimal(net) + Decimal(vat_amount)
            deal.lines.append(line)
        db.session.add(deal)
        db.session.commit()
        return deal.id


def _template_id(app, name: str) -> int:
    with app.app_context():
        return db.session.execute(
            sa.select(DocumentTemplate.id).where(DocumentTemplate.name == name)
        ).scalar_one()


def test_enabling_creates_the_default_templates_once(sales, app):
    enable(app, "sales")  # already enabled: nothing happens
    with app.app_context():
        names = set(db.session.execute(sa.select(DocumentTemplate.name)).scalars())
        from plugins.sales.invoices.defaults import DEFAULTS, ensure_default_templates

        assert {d[1] for d in DEFAULTS} <= names
        assert ensure_default_templates() == []


@pytest.mark.parametrize("stored", [True, False])
def test_an_invoice_pdf_has_the_client_lines_totals_words_and_payment_details(
    sales, app, api, stored
):
    deal_id = _deal(app, stored=stored)
    template_id = _template_id(app, "Счёт на оплату (продажи)")
    response = api.post(
        f"/api/v1/sales/deals/{deal_id}/invoices", json={"template_id": template_id}
    )
    assert response.status_code == 201, response.get_json()
    invoice = response.get_json()
    year = date.today().year
    assert invoice["number"] == f"INV-{year}-0001"
    assert invoice["status"] == "issued"
    assert (invoice["net_amount"], invoice["vat_amount"], invoice["total_amount"]) == (
        "1020.50",
        "189.64",
        "1210.14",
    )
    assert invoice["due_on"] == (date.today() + timedelta(days=14)).isoformat()

    text = _pdf_text(api.get(f"/api/v1/documents/{invoice['document_id']}/pdf").data)
    text = text.replace("\xa0", " ")
    assert f"Счёт на оплату № INV-{year}-0001" in text
    assert CLIENT_NAME in text and "ИНН 7707083893" in text
    assert "ул. Ленина, 1, Москва" in text
    assert "Окно ПВХ 1200×1400" in text and "Монтаж" in text
    assert "500,00" in text and "900,00" in text and "1 080,00" in text
    assert "120,50" in text and "130,14" in text
    assert "Итого без НДС: 1 020,50 RUB" in text
    assert "НДС 8 %: 9,64 RUB" in text and "НДС 20 %: 180,00 RUB" in text
    assert "Всего к оплате: 1 210,14 RUB" in text
    assert "Сумма прописью: Одна тысяча двести десять рублей 14 копеек" in text
    assert "40702810900000012345" in text and "ООО «Стеклодел»" in text

    # Kept on the deal (the document's link) and on the client.
    document = api.get(f"/api/v1/documents/{invoice['document_id']}").get_json()
    assert document["client_id"] == invoice["client_id"]
    with app.app_context():
        assert [d.number for d in services.deal_documents(deal_id)] == [invoice["number"]]


def test_a_proposal_in_english_and_the_deal_panel(sales, app, admin_client):
    deal_id = _deal(app, currency="EUR")
    template_id = _template_id(app, "Commercial proposal (sales)")
    response = post_form(
        admin_client,
        f"/sales/deals/{deal_id}/invoices",
        {"template_id": str(template_id), "next": "/sales/invoices"},
    )
    assert response.status_code == 302 and response.location.endswith("/sales/invoices")
    with app.app_context():
        [document] = services.deal_documents(deal_id)
        assert document.number.startswith("PROP-") and document.record_kind == "sales.deal"
        assert db.session.execute(sa.select(Invoice)).first() is None  # a proposal only
        text = _pdf_text(document.content).replace("\xa0", " ")
    assert "Commercial proposal PROP-" in text and "Dear Иван Петрович," in text
    assert "total 1,210.14 EUR" in text
    assert "One thousand two hundred and ten euros and 14 cents" in text

    with app.test_request_context():
        from flask_login import login_user

        from core.security import load_principal
        from plugins.sales.invoices.views import render_deal_documents_panel

        principal = load_principal(1)
        login_user(principal)
        with app.app_context():
            html = render_deal_documents_panel(db.session.get(Deal, deal_id), principal)
    assert document.number in html and "Issue" in html


def test_numbers_run_per_year(sales, app, api, monkeypatch):
    deal_id = _deal(app)
    first = api.post(f"/api/v1/sales/deals/{deal_id}/invoices", json={}).get_json()
    second = api.post(f"/api/v1/sales/deals/{deal_id}/invoices", json={}).get_json()
    year = date.today().year
    assert [first["number"], second["number"]] == [f"INV-{year}-0001", f"INV-{year}-0002"]

    class NextYear(date):
        @classmethod
        def today(cls):
            return cls(year + 1, 1, 5)

    import core.documents.services as core_documents

    monkeypatch.setattr(core_documents, "date", NextYear)
    monkeypatch.setattr(services, "date", NextYear)
    third = api.post(f"/api/v1/sales/deals/{deal_id}/invoices", json={}).get_json()
    assert third["number"] == f"INV-{year + 1}-0001"
    assert third["issued_on"] == f"{year + 1}-01-05" and third["due_on"] == f"{year + 1}-01-19"

    listed = api.get("/api/v1/sales/invoices?limit=2").get_json()
    assert [i["number"] for i in listed["items"]] == [third["number"], second["number"]]
    rest = api.get(f"/api/v1/sales/invoices?limit=2&cursor={listed['next_cursor']}").get_json()
    assert [i["number"] for i in rest["items"]] == [first["number"]]
    assert rest["next_cursor"] is None
    issued_next_year = api.get(f"/api/v1/sales/invoices?issued_from={year + 1}-01-01").get_json()
    assert [i["number"] for i in issued_next_year["items"]] == [third["number"]]


def test_invoices_issued_at_the_same_time_get_distinct_numbers_and_their_own_pdf(sales, app):
    """Each invoice and its document are saved in one transaction: the numbers of invoices
    issued by three workers at once run without a gap or a repeat, and every invoice is
    recorded with the number and PDF of its own document."""
    from core.documents.models import Document
    from core.users.models import User

    deal_id = _deal(app)

    def work() -> None:
        for _ in range(3):
            deal = db.session.get(Deal, deal_id)
            user = db.session.get(User, 1)
            services.issue_invoice(deal, actor=user)

    assert run_at_once(app, work, threads=3) == []
    year = date.today().year
    with app.app_context():
        invoices = db.session.execute(sa.select(Invoice).order_by(Invoice.number)).scalars().all()
        assert [i.number for i in invoices] == [f"INV-{year}-{n:04d}" for n in range(1, 10)]
        for invoice in invoices:
            document = db.session.get(Document, invoice.document_id)
            assert document.number == invoice.number
            assert f"Invoice {invoice.number} of" in _pdf_text(document.content)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Document)) == 9


def test_an_edited_template_is_used_by_the_next_invoice(sales, app, api):
    """What a worker keeps (the compiled body, the fonts' subsets) never hides an edit."""
    deal_id = _deal(app)
    template_id = _template_id(app, "Счёт на оплату (продажи)")
    issue = {"template_id": template_id}
    first = api.post(f"/api/v1/sales/deals/{deal_id}/invoices", json=issue).get_json()
    template = api.get(f"/api/v1/document-templates/{template_id}").get_json()
    body = template["body"].replace("Счёт на оплату", "Rechnung für Grüße, Счёт-фактура")
    edited = api.patch(
        f"/api/v1/document-templates/{template_id}",
        json={"version": template["version"], "body": body},
    )
    assert edited.status_code == 200, edited.get_json()
    second = api.post(f"/api/v1/sales/deals/{deal_id}/invoices", json=issue).get_json()
    old = _pdf_text(api.get(f"/api/v1/documents/{first['document_id']}/pdf").data)
    new = _pdf_text(api.get(f"/api/v1/documents/{second['document_id']}/pdf").data)
    assert f"Счёт на оплату № {first['number']}" in old
    assert f"Rechnung für Grüße, Счёт-фактура № {second['number']}" in new
    assert "Счёт на оплату" not in new


def test_payments_partial_then_full_and_over_payment_refused(sales, app, api):
    deal_id = _deal(app)
    invoice = api.post(f"/api/v1/sales/deals/{deal_id}/invoices", json={}).get_json()
    paid: list[str] = []

    def listener(inv, actor):
        paid.append(inv.number)

    events.on_invoice_paid(listener)
    url = f"/api/v1/sales/invoices/{invoice['id']}/payments"
    today = date.today().isoformat()
    try:
        bad_amounts = (("-5", "amount"), ("0", "amount"), ("10.005", "amount"), ("1e30", "amount"))
        for bad, field in bad_amounts:
            response = api.post(url, json={"amount": bad})
            assert response.status_code == 422, (bad, response.get_json())
            assert field in response.get_json()["errors"]
        future = (date.today() + timedelta(days=1)).isoformat()
        assert api.post(url, json={"amount": "1", "paid_on": future}).status_code == 422

        partly = api.post(url, json={"amount": "1000.00", "paid_on": today})
        assert partly.status_code == 201, partly.get_json()
        assert partly.get_json()["status"] == "partly_paid"
        assert partly.get_json()["paid_amount"] == "1000.00"
        assert paid == []

        over = api.post(url, json={"amount": "210.15"})
        assert over.status_code == 422
        assert "more than what is outstanding (210.14 RUB)" in over.get_json()["message"]
        assert api.get(f"/api/v1/sales/invoices/{invoice['id']}").get_json()["paid_amount"] == (
            "1000.00"
        )

        full = api.post(url, json={"amount": "210.14", "paid_on": today}).get_json()
        assert (full["status"], full["paid_amount"], full["paid_on"]) == ("paid", "1210.14", today)
        assert paid == [invoice["number"]]
        assert api.post(url, json={"amount": "1"}).status_code == 422  # already paid
        assert api.post(f"/api/v1/sales/invoices/{invoice['id']}/cancel").status_code == 409
        filtered = api.get("/api/v1/sales/invoices?status=paid").get_json()["items"]
        assert [i["id"] for i in filtered] == [invoice["id"]]
    finally:
        # Only this test's own: the automation's listener (registered when its module was
        # imported) must stay for the tests that run after this one.
        events._listeners.remove(listener)


def test_cancel_and_accounting_sync(sales, app, api):
    deal_id = _deal(app)
    first = api.post(f"/api/v1/sales/deals/{deal_id}/invoices", json={}).get_json()
    second = api.post(f"/api/v1/sales/deals/{deal_id}/invoices", json={}).get_json()
    cancelled = api.post(f"/api/v1/sales/invoices/{first['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    payment = api.post(f"/api/v1/sales/invoices/{first['id']}/payments", json={"amount": "1"})
    assert payment.status_code == 422

    from core.users.services import ValidationFailed

    with app.app_context():
        invoice = services.mark_paid_from_accounting(second["number"], "500", date(2026, 1, 2))
        assert invoice.status == "partly_paid"
        invoice = services.mark_paid_from_accounting(second["number"], "1210.14")
        assert invoice.status == "paid"
        version = invoice.version
        again = services.mark_paid_from_accounting(second["number"], "1210.14")
        assert again.version == version  # the same figures change nothing
        with pytest.raises(ValidationFailed) as unknown:
            services.mark_paid_from_accounting("INV-1999-0001", "1")
        assert unknown.value.status == 404
        with pytest.raises(ValidationFailed):
            services.mark_paid_from_accounting(second["number"], "9999")


def test_an_invoice_is_emailed_from_its_page(sales, app, api, admin_client, smtp_server):
    deal_id = _deal(app)
    invoice = api.post(f"/api/v1/sales/deals/{deal_id}/invoices", json={}).get_json()
    page = f"/sales/invoices/{invoice['id']}"
    html = admin_client.get(page).get_data(as_text=True)
    assert (
        invoice["number"] in html
        and CLIENT_NAME.replace("«", "&laquo;") in html
        or ("Оконный Мир" in html)
    )
    with app.app_context():
        contact_id = db.session.get(Deal, deal_id).contact_person_id
    response = post_form(
        admin_client,
        f"/sales/documents/{invoice['document_id']}/send",
        {"contact_id": str(contact_id), "next": page},
        page=page,
    )
    assert response.status_code == 302 and response.location.endswith(page)
    [message] = smtp_server.messages
    assert message["To"] == "ivan@okna.example"
    [attached] = list(message.iter_attachments())
    assert attached.get_filename() == f"{invoice['number']}.pdf"
    assert "Сидоров" not in message["Subject"] and invoice["number"] in message["Subject"]

    # The payment form of the page.
    response = post_form(
        admin_client, f"{page}/payments", {"amount": "10,00", "paid_on": ""}, page=page
    )
    assert response.status_code == 302
    assert api.get(f"/api/v1/sales/invoices/{invoice['id']}").get_json()["status"] == (
        "partly_paid"
    )


def test_list_panel_and_exports(sales, app, api, admin_client):
    deal_id = _deal(app)
    invoice = api.post(f"/api/v1/sales/deals/{deal_id}/invoices", json={}).get_json()
    html = admin_client.get("/sales/invoices?status=issued").get_data(as_text=True)
    assert invoice["number"] in html
    assert invoice["number"] not in admin_client.get("/sales/invoices?status=paid").get_data(
        as_text=True
    )
    card = admin_client.get(f"/clients/{invoice['client_id']}").get_data(as_text=True)
    assert 'data-testid="client-invoices"' in card and invoice["number"] in card

    csv_text = admin_client.get("/sales/invoices/export.csv").get_data(as_text=True)
    assert csv_text.startswith("\ufeffnumber,issued_on")
    assert f"{invoice['number']},{date.today().isoformat()}" in csv_text
    assert CLIENT_NAME in csv_text and "1210.14" in csv_text
    assert "1020.50,189.64,1210.14,0.00,issued" in csv_text
    xlsx = admin_client.get("/sales/invoices/export.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][0] == invoice["number"] and rows[1][8] == 1210.14

    disable(app, "sales")
    assert admin_client.get("/sales/invoices").status_code == 404
    card = admin_client.get(f"/clients/{invoice['client_id']}").get_data(as_text=True)
    assert 'data-testid="client-invoices"' not in card
    enable(app, "sales")
    assert invoice["number"] in admin_client.get("/sales/invoices").get_data(as_text=True)


def test_another_own_user_gets_404(sales, app, api):
    deal_id = _deal(app)
    invoice = api.post(f"/api/v1/sales/deals/{deal_id}/invoices", json={}).get_json()
    make_user(
        app,
        "own@example.com",
        ["sales.view", "sales.invoices", "clients.view"],
        scopes={"sales.deals": "own", "clients": "own"},
    )
    client = app.test_client()
    headers = api_token(client, "own@example.com")
    assert client.get(f"/api/v1/sales/invoices/{invoice['id']}", headers=headers).status_code == (
        404
    )
    assert client.get("/api/v1/sales/invoices", headers=headers).get_json()["items"] == []
    from tests.conftest import login

    web = app.test_client()
    login(web, "own@example.com")
    assert web.get(f"/sales/invoices/{invoice['id']}").status_code == 404
    assert invoice["number"] not in web.get("/sales/invoices/export.csv").get_data(as_text=True)
    for path, body in (
        (f"/api/v1/sales/deals/{deal_id}/invoices", {}),
        (f"/api/v1/sales/invoices/{invoice['id']}/payments", {"amount": "1"}),
        (f"/api/v1/sales/invoices/{invoice['id']}/cancel", None),
    ):
        assert client.post(path, json=body, headers=headers).status_code == 404, path


def test_templates_using_deal_variables_are_checked(sales, api):
    ok = api.post(
        "/api/v1/document-templates",
        json={
            "type": "invoice",
            "name": "Factură",
            "language": "ro",
            "body": "{{ deal.title }} {{ totals.total }} {{ amount_in_words }} "
            "{{ payment_details.bank_account }}{% for l in lines %}{{ l.vat }}{% endfor %}",
        },
    )
    assert ok.status_code == 201, ok.get_json()
    bad = api.post(
        "/api/v1/document-templates",
        json={"type": "invoice", "name": "Bad", "body": "{{ totals.totl }}"},
    )
    assert bad.status_code == 422 and "totals.totl" in bad.get_json()["message"]


def test_issuing_is_refused_clearly(sales, app, api):
    deal_id = _deal(app)
    proposal = _template_id(app, "Commercial proposal (sales)")
    response = api.post(f"/api/v1/sales/deals/{deal_id}/invoices", json={"template_id": proposal})
    assert response.status_code == 422 and "template_id" in response.get_json()["errors"]
    assert api.post("/api/v1/sales/deals/999999/invoices", json={}).status_code == 404
    spec = api.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/sales/invoices/{invoice_id}/payments" in spec["paths"]


@pytest.mark.parametrize(
    ("amount", "currency", "language", "words"),
    [
        ("1200.50", "RUB", "ru", "Одна тысяча двести рублей 50 копеек"),
        ("1", "RUB", "ru", "Один рубль 00 копеек"),
        ("22.03", "USD", "ru", "Двадцать два доллара 03 цента"),
        ("2000", "EUR", "ru", "Две тысячи евро 00 центов"),
        ("1200.50", "MDL", "ro", "O mie două sute de lei și 50 de bani"),
        ("1", "MDL", "ro", "Un leu și 00 bani"),
        ("19.01", "RON", "ro", "Nouăsprezece lei și 01 ban"),
        ("2", "RUB", "ro", "Două ruble și 00 copeici"),
        ("1200.50", "EUR", "de", "Eintausendzweihundert Euro und 50 Cent"),
        ("1", "USD", "de", "Ein US-Dollar und 00 Cent"),
        ("1200.50", "USD", "en", "One thousand two hundred dollars and 50 cents"),
        ("1", "EUR", "en", "One euro and 00 cents"),
        ("35.01", "MDL", "en", "Thirty-five lei and 01 ban"),
        ("5", "RUB", "en", "Five roubles and 00 kopecks"),
        ("1000000", "RUB", "ru", "Один миллион рублей 00 копеек"),
        ("10", "GBX", "en", "Ten GBX 00"),
    ],
)
def test_amount_in_words(amount, currency, language, words):
    assert amount_in_words(Decimal(amount), currency, language) == words


def test_invoices_are_kept_a_deal_or_client_with_invoices_is_not_deleted(
    sales, app, api, admin_client
):
    from core.clients.models import Client

    deal_id = _deal(app)
    invoice = api.post(f"/api/v1/sales/deals/{deal_id}/invoices", json={}).get_json()
    deal = api.get(f"/api/v1/sales/deals/{deal_id}").get_json()
    client_id = deal["client_id"]

    refused = api.delete(f"/api/v1/sales/deals/{deal_id}")
    assert refused.status_code == 409
    assert "kept for the accounts" in str(refused.get_json()["errors"])
    assert api.get(f"/api/v1/sales/deals/{deal_id}").status_code == 200
    on_page = post_form(admin_client, f"/sales/deals/{deal_id}/delete")
    assert on_page.status_code == 302 and on_page.location.endswith(f"/sales/deals/{deal_id}")
    assert "kept for the accounts" in admin_client.get(on_page.location).get_data(as_text=True)
    assert api.get(f"/api/v1/sales/deals/{deal_id}").status_code == 200

    assert api.delete(f"/api/v1/clients/{client_id}").status_code == 204  # to the trash
    purge = api.post(f"/api/v1/clients/{client_id}/purge")
    assert purge.status_code == 409
    message = purge.get_json()["message"]
    assert "Invoices of this client: 1" in message and "Deals of this client: 1" in message

    # With the plugin switched off it cannot tell; the database keeps them all the same.
    disable(app, "sales")
    purge = api.post(f"/api/v1/clients/{client_id}/purge")
    assert purge.status_code == 409 and "cannot be deleted for good" in purge.get_json()["message"]
    enable(app, "sales")
    assert (
        api.get(f"/api/v1/sales/invoices/{invoice['id']}").get_json()["number"]
        == (invoice["number"])
    )
    with app.app_context():
        assert db.session.get(Client, client_id) is not None
