"""The client pages as a user meets them: forms, errors shown on the form, the card, the trash."""

from __future__ import annotations

import re

import sqlalchemy as sa

from core.clients.models import Client, CustomField
from core.db import db
from tests.conftest import enable, post_form


def _client(app, name) -> Client:
    with app.app_context():
        return db.session.execute(sa.select(Client).filter_by(name=name)).scalar_one()


def _form(extra: dict) -> dict:
    data = {
        "kind": "company",
        "status": "lead",
        "source": "",
        "owner_id": "1",
        "name": "",
        "phone_value": [],
        "phone_kind": [],
        "email_value": [],
        "email_kind": [],
        "address_kind": "legal",
        "address_street": "",
        "address_city": "",
        "address_postcode": "",
        "address_country": "",
        "tags": "",
        "notes": "",
    }
    data.update(extra)
    return data


def test_create_a_company_on_the_form_and_see_its_card(app, admin_client):
    response = post_form(
        admin_client,
        "/clients/new",
        _form(
            {
                "name": "Okna Plus SRL",
                "tax_id": "RO 123456",
                "phone_value": ["+373 22 123 456", "+373 69 123 456"],
                "phone_kind": ["work", "mobile"],
                "email_value": ["Office@OknaPlus.md"],
                "email_kind": ["work"],
                "address_street": "str. Ștefan cel Mare 1",
                "address_city": "Chișinău",
                "tags": "windows, vip",
            }
        ),
        page="/clients/new",
    )
    assert response.status_code == 302
    client = _client(app, "Okna Plus SRL")
    card = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    for text in (
        "Okna Plus SRL",
        "+37322123456",
        "+37369123456",
        "office@oknaplus.md",
        "Chișinău",
        "windows",
        "vip",
    ):
        assert text in card, text
    assert f"#{client.id}" in card


def test_form_errors_are_shown_on_the_form_and_nothing_is_saved(app, admin_client):
    response = post_form(
        admin_client,
        "/clients/new",
        _form(
            {
                "name": "Broken Ltd",
                "phone_value": ["12"],
                "phone_kind": ["work"],
                "email_value": ["not-mail"],
                "email_kind": ["work"],
                "next_contact_on": "soon",
            }
        ),
        page="/clients/new",
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Not a valid phone number" in page or "Not a valid date" in page
    assert 'value="Broken Ltd"' in page  # what was typed is kept
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Client)).scalar() == 0


def test_editing_with_a_stale_form_is_refused(app, admin_client):
    post_form(admin_client, "/clients/new", _form({"name": "Stale Co"}), page="/clients/new")
    client = _client(app, "Stale Co")
    edit_page = f"/clients/{client.id}/edit"
    fresh = post_form(
        admin_client, edit_page, _form({"name": "Fresh Co", "version": "1"}), page=edit_page
    )
    assert fresh.status_code == 302
    stale = post_form(
        admin_client, edit_page, _form({"name": "Lost Co", "version": "1"}), page=edit_page
    )
    assert stale.status_code == 422 and "Someone else changed this client" in stale.get_data(
        as_text=True
    )
    assert _client(app, "Fresh Co").version == 2


def test_contact_persons_are_added_on_the_card(app, admin_client):
    post_form(admin_client, "/clients/new", _form({"name": "Contacts Co"}), page="/clients/new")
    client = _client(app, "Contacts Co")
    card = f"/clients/{client.id}"
    post_form(
        admin_client,
        f"{card}/contacts",
        {
            "first_name": "Иван",
            "middle_name": "Петрович",
            "last_name": "Сидоров",
            "position": "Директор",
            "phone_value": "+7 916 555 12 34",
            "phone_kind": "mobile",
            "email_value": "",
            "email_kind": "work",
        },
        page=card,
    )
    post_form(
        admin_client,
        f"{card}/contacts",
        {
            "first_name": "Maria",
            "last_name": "Popescu",
            "phone_value": "",
            "email_value": "maria@example.ro",
        },
        page=card,
    )
    page = admin_client.get(card).get_data(as_text=True)
    assert "Иван Петрович Сидоров" in page and "Директор" in page and "+79165551234" in page
    assert "Maria Popescu" in page and "maria@example.ro" in page
    bad = post_form(admin_client, f"{card}/contacts", {"position": "Nobody"}, page=card)
    assert bad.status_code == 302
    assert "Enter at least a first or last name" in admin_client.get(card).get_data(as_text=True)


def test_a_related_client_is_picked_by_name_on_the_card(app, admin_client):
    from core.clients import services

    with app.app_context():
        child = services.create_client({"kind": "company", "name": "Okna Sud"}).id
        parent = services.create_client({"kind": "company", "name": "Okna Holding"}).id
    card = admin_client.get(f"/clients/{child}").get_data(as_text=True)
    assert 'data-client-picker="/clients/pick"' in card
    unknown = post_form(
        admin_client,
        f"/clients/{child}/relations",
        {"kind": "subsidiary_of", "other_id": "Okna Nowhere"},
    )
    page = admin_client.get(unknown.headers["Location"]).get_data(as_text=True)
    assert "No client you may see is named" in page
    post_form(
        admin_client,
        f"/clients/{child}/relations",
        {"kind": "subsidiary_of", "other_id": "okna holding"},
    )
    relations = admin_client.get(f"/clients/{child}").get_data(as_text=True)
    assert f'href="/clients/{parent}"' in relations


def test_trash_from_the_card_and_restore_from_the_trash_page(app, admin_client):
    post_form(admin_client, "/clients/new", _form({"name": "Trashy Co"}), page="/clients/new")
    client = _client(app, "Trashy Co")
    post_form(admin_client, f"/clients/{client.id}/delete", page=f"/clients/{client.id}")
    assert ">Trashy Co</a>" not in admin_client.get("/clients/").get_data(as_text=True)
    assert admin_client.get(f"/clients/{client.id}").status_code == 404
    assert "Trashy Co" in admin_client.get("/clients/trash").get_data(as_text=True)
    post_form(admin_client, f"/clients/{client.id}/restore", page="/clients/trash")
    assert ">Trashy Co</a>" in admin_client.get("/clients/").get_data(as_text=True)


def test_custom_fields_and_options_defined_by_the_admin_appear_on_the_form(app, admin_client):
    post_form(
        admin_client,
        "/clients/configure/fields",
        {"key": "contract_no", "label": "Contract number", "kind": "text", "required": "on"},
        page="/clients/configure",
    )
    post_form(
        admin_client,
        "/clients/configure/options",
        {"list": "status", "code": "partner", "label": "Partner"},
        page="/clients/configure",
    )
    form = admin_client.get("/clients/new").get_data(as_text=True)
    assert "Contract number" in form and 'value="partner"' in form
    missing = post_form(
        admin_client, "/clients/new", _form({"name": "Needs Contract"}), page="/clients/new"
    )
    assert missing.status_code == 422 and "Contract number is required" in missing.get_data(
        as_text=True
    )
    ok = post_form(
        admin_client,
        "/clients/new",
        _form({"name": "Has Contract", "status": "partner", "cf_contract_no": "K-2026/17"}),
        page="/clients/new",
    )
    assert ok.status_code == 302
    assert _client(app, "Has Contract").custom == {"contract_no": "K-2026/17"}
    bad_key = post_form(
        admin_client,
        "/clients/configure/fields",
        {"key": "Bad Key!", "label": "X", "kind": "text"},
        page="/clients/configure",
    )
    assert bad_key.status_code == 302
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(CustomField)).scalar() == 1


def test_list_page_filters_and_pages(app, admin_client):
    with app.app_context():
        from core.clients import services

        for n in range(55):
            services.create_client(
                {"name": f"Firm {n:02d}", "status": "customer" if n % 2 else "lead"}
            )
    page = admin_client.get("/clients/").get_data(as_text=True)
    assert page.count('href="/clients/') >= 50 and "Next page" in page
    next_url = (
        re.search(r'href="([^"]+)" data-testid="next-page"', page).group(1).replace("&amp;", "&")
    )
    second = admin_client.get(next_url).get_data(as_text=True)
    assert "Firm 54" in second and "Firm 00" not in second
    leads = admin_client.get("/clients/?status=lead").get_data(as_text=True)
    assert "Firm 00" in leads and "Firm 01" not in leads
    bad = admin_client.get("/clients/?cursor=nonsense")
    assert bad.status_code == 422 and "cursor" in bad.get_data(as_text=True)


def test_plugin_panels_on_the_card_respect_permissions(app, admin_client, client):
    from tests.conftest import login, make_user

    enable(app, "hello")
    post_form(admin_client, "/clients/new", _form({"name": "Panel Co"}), page="/clients/new")
    card = f"/clients/{_client(app, 'Panel Co').id}"
    page = admin_client.get(card).get_data(as_text=True)
    assert (
        page.index('data-panel="core.contacts"')
        < page.index('data-panel="hello.greetings"')
        < page.index('data-panel="core.timeline"')
    )
    assert "Hello, Panel Co!" in page
    make_user(app, "viewer@example.com", ["clients.view", "hello.view"], {"clients": "all"})
    login(client, "viewer@example.com")
    viewer_page = client.get(card).get_data(as_text=True)
    assert 'data-panel="hello.greetings"' in viewer_page
    assert 'data-panel="hello.secret"' not in viewer_page


def test_the_form_warns_about_a_likely_duplicate_before_saving(app, admin_client):
    post_form(
        admin_client,
        "/clients/new",
        _form(
            {"name": "Okna Plus SRL", "phone_value": ["+373 22 123 456"], "phone_kind": ["work"]}
        ),
        page="/clients/new",
    )
    again = _form({"name": "OKNA-PLUS", "phone_value": ["+373 22 123 456"], "phone_kind": ["work"]})
    warned = post_form(admin_client, "/clients/new", again, page="/clients/new")
    page = warned.get_data(as_text=True)
    assert warned.status_code == 200 and 'data-testid="duplicates"' in page
    assert "Okna Plus SRL" in page and "same phone" in page and "similar name" in page
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Client)).scalar() == 1
    confirmed = post_form(
        admin_client, "/clients/new", {**again, "confirm_duplicates": "on"}, page="/clients/new"
    )
    assert confirmed.status_code == 302
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Client)).scalar() == 2


def test_a_contact_person_is_edited_on_its_own_page(app, admin_client):
    post_form(
        admin_client, "/clients/new", _form({"name": "Edit Contacts Co"}), page="/clients/new"
    )
    client = _client(app, "Edit Contacts Co")
    card = f"/clients/{client.id}"
    post_form(
        admin_client,
        f"{card}/contacts",
        {"first_name": "Ana", "last_name": "Popa", "phone_value": "+40 21 123 4567"},
        page=card,
    )
    with app.app_context():
        from core.clients.models import ContactPerson

        contact = db.session.execute(sa.select(ContactPerson)).scalar_one()
    page = admin_client.get(f"{card}/contacts/{contact.id}")
    assert page.status_code == 200 and "+40 21 123 4567" in page.get_data(as_text=True)
    saved = post_form(
        admin_client,
        f"{card}/contacts/{contact.id}",
        {
            "version": "1",
            "first_name": "Ana",
            "last_name": "Popa-Ionescu",
            "position": "CFO",
            "phone_value": "+40 21 123 4567",
        },
        page=f"{card}/contacts/{contact.id}",
    )
    assert saved.status_code == 302
    assert "Ana Popa-Ionescu" in admin_client.get(card).get_data(as_text=True)


def test_more_filters_narrow_the_list_by_industry_dates_and_custom_fields(app, admin_client):
    from core.clients import custom_fields, services

    with app.app_context():
        custom_fields.save_field(
            CustomField(),
            {"key": "region", "label": "Region", "kind": "choice", "choices": ["North", "South"]},
        )
        services.create_client(
            {"name": "Nordic Glass", "industry": "glass", "custom": {"region": "North"}}
        )
        services.create_client(
            {"name": "Southern Glass", "industry": "glass", "custom": {"region": "South"}}
        )
        services.create_client({"name": "Timber Co", "industry": "wood"})
    page = admin_client.get("/clients/").get_data(as_text=True)
    assert 'id="cf_region"' in page and '<option value="North"' in page
    found = admin_client.get("/clients/?industry=glass&cf_region=North").get_data(as_text=True)
    assert "Nordic Glass" in found and "Southern Glass" not in found and "Timber Co" not in found
    assert re.search(r'<details class="col-12" open', found)
    bad = admin_client.get("/clients/?created_from=yesterday")
    assert bad.status_code == 422 and 'id="created_from-error"' in bad.get_data(as_text=True)


def test_the_card_shows_every_persons_phones_and_emails_in_the_same_few_queries(app, admin_client):
    """The card loads the company's and its contact persons' phones and e-mails in one
    statement each, however many persons it has; each number shows under its own person,
    and a person moved to another company takes theirs along."""
    from core.clients import services
    from tests.conftest import QueryCounter

    with app.app_context():
        owner = db.session.execute(sa.text("SELECT id FROM users ORDER BY id")).scalar()
        small = services.create_client(
            {"name": "Small Co", "kind": "company", "owner_id": owner, "phones": ["+4930100"]}
        )
        big = services.create_client(
            {"name": "Big Co", "kind": "company", "owner_id": owner, "emails": ["big@example.com"]}
        )
        other = services.create_client({"name": "Other Co", "kind": "company", "owner_id": owner})
        services.save_contact(small, {"last_name": "Solo", "phones": ["+4930111"]})
        people = [
            services.save_contact(
                big,
                {
                    "first_name": f"Person{n}",
                    "last_name": f"Zeta{n}",
                    "phones": [f"+49302000{n}", f"+49303000{n}"],
                    "emails": [f"person{n}@example.com"],
                },
            )
            for n in range(8)
        ]
        services.move_contact(people[7], other, None, owner)
        ids = small.id, big.id, other.id
    counts = []
    for client_id in ids[:2]:
        admin_client.get(f"/clients/{client_id}")  # caches fill
        with QueryCounter(app) as counter:
            page = admin_client.get(f"/clients/{client_id}")
        assert page.status_code == 200
        counts.append(counter.count)
    assert counts[0] == counts[1], counts
    page = admin_client.get(f"/clients/{ids[1]}").get_data(as_text=True)
    assert "big@example.com" in page
    for n in range(7):
        start = page.index(f"Person{n} Zeta{n}")
        following = page.find("Person", start + 8)
        block = page[start : following if following > 0 else len(page)]
        assert f"+49302000{n}" in block and f"+49303000{n}" in block, n
        assert f"person{n}@example.com" in block, n
    # Listed among the persons who left (the panel's moves), without their numbers.
    assert "+493020007" not in page and "person7@example.com" not in page
    moved = admin_client.get(f"/clients/{ids[2]}").get_data(as_text=True)
    assert "Person7 Zeta7" in moved and "+493020007" in moved and "person7@example.com" in moved


def test_the_cards_persons_phones_emails_addresses_and_tags_are_looked_up_by_index(app):
    """The one statement that reads them (``queries._card_children``) finds each kind by an
    index of the client (and the persons' phones and e-mails by the person's), never by
    walking a table: sequential scans are switched off on PostgreSQL, so that the plan
    shows what the statement allows whatever the tables' sizes."""
    from core.clients import queries, services

    with app.app_context():
        owner = db.session.execute(sa.text("SELECT id FROM users ORDER BY id")).scalar()
        client = services.create_client(
            {"name": "Indexed Co", "kind": "company", "owner_id": owner, "tags": ["vip"]}
        )
        services.save_contact(client, {"last_name": "Person", "phones": ["+4930100"]})
        statement = queries._card_children(client.id)
        connection = db.session.connection()
        sql = str(
            statement.compile(
                connection, compile_kwargs={"literal_binds": True, "render_postcompile": True}
            )
        )
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {sql}"))
            scans = [line for line in plan.splitlines() if "Seq Scan" in line]
        else:
            plan = "\n".join(
                row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
            )
            scans = [
                line for line in plan.splitlines() if line.startswith("SCAN ") and line != "SCAN k"
            ]
        db.session.rollback()
    assert not scans, plan
    for index in ("contact_persons_client_id", "client_phones", "client_emails"):
        assert index in plan, plan
