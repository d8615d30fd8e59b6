"""Web lead capture: POST /forms/<key> as JSON and as a form, deduplication, honeypot,
validation, rate limit, CORS, disabled forms and plugin, the admin pages."""

from __future__ import annotations

import sqlalchemy as sa

from core.clients.models import Client, ContactPerson
from core.db import db
from core.settings.services import save as save_settings
from plugins.sales.leads.models import LeadForm, LeadSubmission
from plugins.sales.models import Deal
from tests.conftest import disable, post_form
from tests.plugins.sales.automation_helpers import lead_form, windows


def _count(app, model) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar()


def test_json_and_form_posts_create_and_dedupe_clients_by_email_and_phone(app, api):
    ids = windows(app, api)
    key = lead_form(app, ids, redirect_url="https://okna.test/thanks")
    web = app.test_client()
    response = web.post(
        f"/forms/{key}",
        json={
            "name": "Anna Ivanova",
            "company": "Okna Plus",
            "email": "Anna@Example.test",
            "phone": "+373 22 123 456",
            "utm_source": "fb",
        },
    )
    assert response.status_code == 201 and response.get_json()["ok"] is True
    # A form post, with the phone typed differently: same client, a redirect.
    response = web.post(f"/forms/{key}", data={"name": "Anna", "phone": "(+373) 22-12-34-56"})
    assert (
        response.status_code == 303 and response.headers["Location"] == "https://okna.test/thanks"
    )
    # The e-mail in another case: same client again.
    response = web.post(f"/forms/{key}", json={"email": "anna@EXAMPLE.test"})
    assert response.status_code == 201
    with app.app_context():
        clients = db.session.execute(sa.select(Client)).scalars().all()
        assert [c.name for c in clients] == ["Okna Plus"]
        (person,) = db.session.execute(sa.select(ContactPerson)).scalars().all()
        assert (person.first_name, person.last_name) == ("Anna", "Ivanova")
        deals = db.session.execute(sa.select(Deal).order_by(Deal.id)).scalars().all()
        assert len(deals) == 3 and {d.client_id for d in deals} == {clients[0].id}
        assert all(d.stage.name == "First call" and d.source == "website" for d in deals)
        assert deals[0].utm == {"utm_source": "fb"}
        statuses = db.session.execute(sa.select(LeadSubmission.status)).scalars().all()
        assert statuses == ["created"] * 3


def test_bad_input_honeypot_and_no_contact_data(app, api):
    ids = windows(app, api)
    key = lead_form(app, ids)
    web = app.test_client()
    response = web.post(f"/forms/{key}", json={"name": "No Contact", "message": "hi"})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"email", "phone"}
    assert web.post(f"/forms/{key}", json={"email": "not-an-email"}).get_json()[
        "errors"
    ].keys() == {"email"}
    assert web.post(f"/forms/{key}", data={"phone": "12"}).status_code == 422
    assert web.post(f"/forms/{key}", json={"email": ["a@b.test"]}).status_code == 422
    assert (
        web.post(f"/forms/{key}", data="[1, 2]", content_type="application/json").status_code == 400
    )
    # The honeypot: looks accepted, creates nothing.
    response = web.post(f"/forms/{key}", data={"email": "bot@spam.test", "website": "http://spam"})
    assert response.status_code in (201, 303)
    assert _count(app, Client) == 0 and _count(app, Deal) == 0
    with app.app_context():
        statuses = db.session.execute(sa.select(LeadSubmission.status)).scalars().all()
        assert statuses.count("spam") == 1 and "created" not in statuses


def test_a_flood_from_one_address_gets_429_with_retry_after(app, api):
    ids = windows(app, api)
    key = lead_form(app, ids)
    with app.app_context():
        assert save_settings({"sales.lead_rate_per_minute": 3}) == {}
    web = app.test_client()
    for n in range(3):
        assert web.post(f"/forms/{key}", json={"email": f"u{n}@x.test"}).status_code == 201
    response = web.post(f"/forms/{key}", json={"email": "u9@x.test"})
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    # Another address is not held back.
    other = web.post(
        f"/forms/{key}", json={"email": "z@x.test"}, environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert other.status_code == 201
    assert _count(app, Deal) == 4


def test_cors_for_allowed_origins_only(app, api):
    ids = windows(app, api)
    key = lead_form(app, ids)
    web = app.test_client()
    preflight = web.options(
        f"/forms/{key}",
        headers={"Origin": "https://okna.test", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://okna.test"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    denied = web.options(f"/forms/{key}", headers={"Origin": "https://evil.test"})
    assert "Access-Control-Allow-Origin" not in denied.headers
    response = web.post(
        f"/forms/{key}", json={"email": "e@x.test"}, headers={"Origin": "https://evil.test"}
    )
    assert response.status_code == 403 and "Access-Control-Allow-Origin" not in response.headers
    assert _count(app, Deal) == 0


def test_unknown_or_disabled_form_and_disabled_plugin_answer_404(app, api):
    ids = windows(app, api)
    key = lead_form(app, ids)
    web = app.test_client()
    assert web.post("/forms/not-a-key", json={"email": "a@b.test"}).status_code == 404
    with app.app_context():
        form = db.session.execute(sa.select(LeadForm)).scalar_one()
        form.active = False
        db.session.commit()
    assert web.post(f"/forms/{key}", json={"email": "a@b.test"}).status_code == 404
    with app.app_context():
        form = db.session.execute(sa.select(LeadForm)).scalar_one()
        form.active = True
        db.session.commit()
    disable(app, "sales")
    assert web.post(f"/forms/{key}", json={"email": "a@b.test"}).status_code == 404
    assert _count(app, Deal) == 0


def test_round_robin_owner_among_a_role(app, api):
    ids = windows(app, api)
    key = lead_form(app, ids, owner_id="", owner_role="Measurer")
    web = app.test_client()
    for n in range(3):
        assert web.post(f"/forms/{key}", json={"email": f"rr{n}@x.test"}).status_code == 201
    with app.app_context():
        owners = db.session.execute(sa.select(Deal.owner_id).order_by(Deal.id)).scalars().all()
    assert owners == [ids["measurer1"], ids["measurer2"], ids["measurer1"]]


def test_the_admin_pages_make_a_form_and_show_the_snippet(app, api, admin_client):
    ids = windows(app, api)
    page = admin_client.get("/sales/admin/lead-forms")
    assert page.status_code == 200
    response = post_form(
        admin_client,
        "/sales/admin/lead-forms",
        {"name": "", "pipeline_id": str(ids["pipeline"])},
        page="/sales/admin/lead-forms",
    )
    assert response.status_code == 422
    response = post_form(
        admin_client,
        "/sales/admin/lead-forms",
        {"name": "Site", "pipeline_id": str(ids["pipeline"]), "allowed_origins": "ftp://x"},
        page="/sales/admin/lead-forms",
    )
    assert response.status_code == 422
    response = post_form(
        admin_client,
        "/sales/admin/lead-forms",
        {"name": "Site", "pipeline_id": str(ids["pipeline"]), "owner_id": str(ids["manager"])},
        page="/sales/admin/lead-forms",
    )
    assert response.status_code == 302
    html = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        key = db.session.execute(sa.select(LeadForm.key)).scalar_one()
    assert len(key) >= 24
    assert f"http://localhost/forms/{key}" in html
    assert "&lt;form method=&#34;post&#34;" in html or '&lt;form method="post"' in html
    assert "fetch(" in html and 'name="website"' in html.replace("&#34;", '"').replace(
        "&lt;", "<"
    ).replace("&gt;", ">")
    # A manager without sales.admin may not see it.
    from tests.conftest import login

    other = app.test_client()
    login(other, "manager@okna.test")
    assert other.get("/sales/admin/lead-forms").status_code == 403
