"""Deal pages: the board, the list and its export, the card with its forms, the admin pages,
the client card panel, the timeline, the search box, and the plugin switched off."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from core.db import db
from plugins.sales.models import Deal, Pipeline, StageChange
from tests.conftest import (
    QueryCounter,
    api_token,
    csrf_token,
    disable,
    enable,
    login,
    make_user,
    post_form,
)
from tests.plugins.sales.deals_helpers import (
    SALES_PERMISSIONS,
    manager,
    new_client,
    reason_id,
    sales_on,
    stages,
)


@pytest.fixture
def sales(app):
    sales_on(app)
    return app


def _create(api, client_id, n=1, **extra):
    ids = []
    for i in range(n):
        response = api.post(
            "/api/v1/sales/deals",
            json={"title": f"Deal {i:03d}", "client_id": client_id, "amount": "100", **extra},
        )
        assert response.status_code == 201, response.get_json()
        ids.append(response.get_json()["id"])
    return ids


def test_a_deal_is_created_edited_and_deleted_in_the_ui(sales, admin_client):
    client_id = new_client(sales)
    page = admin_client.get(f"/sales/deals/new?client_id={client_id}")
    assert page.status_code == 200 and "Okna Plus" in page.get_data(as_text=True)
    created = post_form(
        admin_client,
        "/sales/deals/new",
        {
            "title": "Balcony glazing",
            "client_id": str(client_id),
            "owner_id": "1",
            "amount": "2 400,50",
            "currency": "EUR",
            "stage_id": str(stages(sales)["Measurements"]),
        },
    )
    assert created.status_code == 302
    with sales.app_context():
        deal = db.session.execute(sa.select(Deal)).scalar_one()
        assert deal.amount == 2400.50 and deal.stage.name == "Measurements"
        deal_id = deal.id
    card = admin_client.get(f"/sales/deals/{deal_id}").get_data(as_text=True)
    assert "Balcony glazing" in card and 'data-testid="stage-history"' in card
    edited = post_form(
        admin_client,
        f"/sales/deals/{deal_id}/edit",
        {
            "title": "Balcony glazing, 2 windows",
            "client_id": str(client_id),
            "owner_id": "1",
            "amount": "2500",
            "currency": "EUR",
            "version": "1",
        },
    )
    assert edited.status_code == 302
    stale = post_form(
        admin_client,
        f"/sales/deals/{deal_id}/edit",
        {
            "title": "Overwrite",
            "client_id": str(client_id),
            "owner_id": "1",
            "currency": "EUR",
            "version": "1",
        },
    )
    assert stale.status_code == 409 and "changed this deal" in stale.get_data(as_text=True)
    bad = post_form(
        admin_client,
        f"/sales/deals/{deal_id}/edit",
        {"title": "x", "client_id": str(client_id), "currency": "ABC", "version": "2"},
    )
    assert bad.status_code == 422 and 'id="currency-error"' in bad.get_data(as_text=True)
    assert post_form(admin_client, f"/sales/deals/{deal_id}/delete").status_code == 302
    assert admin_client.get(f"/sales/deals/{deal_id}").status_code == 404


def test_a_deleted_deals_files_and_comments_go_and_its_tasks_move_to_its_client(
    sales, admin_client, api
):
    client_id = new_client(sales)
    deal_id = _create(api, client_id)[0]
    token = csrf_token(admin_client, f"/sales/deals/{deal_id}")
    admin_client.post(
        f"/documents/attachments/sales.deal/{deal_id}",
        data={"file": (io.BytesIO(b"width;height\n1200;1400\n"), "sizes.csv"), "csrf_token": token},
        content_type="multipart/form-data",
    )
    link = re.search(
        r'href="(/documents/attachments/\d+)">sizes.csv<',
        admin_client.get(f"/sales/deals/{deal_id}").get_data(as_text=True),
    ).group(1)
    record = {"record_kind": "sales.deal", "record_id": deal_id}
    assert api.post("/api/v1/comments", json={**record, "body": "Wants white"}).status_code == 201
    task = api.post(
        "/api/v1/tasks", json={**record, "title": "Measure again", "assignee_id": 1}
    ).get_json()
    assert post_form(admin_client, f"/sales/deals/{deal_id}/delete").status_code == 302

    assert admin_client.get(link).status_code == 404
    assert api.get(f"/api/v1/tasks/{task['id']}").get_json()["record_id"] == client_id
    # SQLite gives the next deal the same id: it starts with nothing of the deleted one.
    again = _create(api, new_client(sales, "Other client"))[0]
    card = admin_client.get(f"/sales/deals/{again}").get_data(as_text=True)
    assert "sizes.csv" not in card and "Wants white" not in card and "Measure again" not in card


def test_the_deal_form_takes_the_client_by_name_or_pick_and_refuses_what_names_none_or_several(
    sales, admin_client
):
    okna = new_client(sales, "Okna Plus")
    new_client(sales, "Dveri Nord")
    new_client(sales, "Dveri Nord")
    stage = str(stages(sales)["Measurements"])
    form = {"title": "Balcony", "owner_id": "1", "amount": "100", "stage_id": stage}

    # What the picker suggests: the clients the search finds, labelled "Name (#id)".
    picked = admin_client.get("/clients/pick?q=okna").get_json()["items"]
    assert [i["label"] for i in picked] == [f"Okna Plus (#{okna})"]
    assert admin_client.get("/clients/pick?q=o").get_json()["items"] == []

    for typed in (picked[0]["label"], "okna  plus", f"#{okna}"):
        response = post_form(admin_client, "/sales/deals/new", {**form, "client_id": typed})
        assert response.status_code == 302, typed
    for typed, reason in (
        ("Dveri Nord", "Several clients are named"),
        ("Nobody Ltd", "No client you may see is named"),
        ("", "Choose a client"),
    ):
        refused = post_form(
            admin_client, "/sales/deals/new", {**form, "client_id": typed, "amount": "-"}
        )
        page = refused.get_data(as_text=True)
        assert refused.status_code == 422 and reason in page, typed
        assert 'id="amount-error"' in page  # the other fields are checked too
        assert f'name="client_id" value="{typed}"' in page  # what was typed stays
    with sales.app_context():
        deals = db.session.execute(sa.select(Deal.client_id)).scalars().all()
    assert deals == [okna, okna, okna]
    # Editing keeps the client shown as the picker labels it.
    edit = admin_client.get(f"/sales/deals/{_first_deal(sales)}/edit").get_data(as_text=True)
    assert f'value="Okna Plus (#{okna})"' in edit


def test_a_manager_cannot_pick_or_name_a_client_outside_their_scope(sales):
    anna = make_user(sales, "anna@example.com", SALES_PERMISSIONS, scopes={"clients": "own"})
    boris = make_user(sales, "boris@example.com", SALES_PERMISSIONS, scopes={"clients": "own"})
    hidden = new_client(sales, "Okna Boris", owner_id=boris)
    new_client(sales, "Okna Anna", owner_id=anna)
    browser = sales.test_client()
    login(browser, "anna@example.com")
    labels = [i["label"] for i in browser.get("/clients/pick?q=okna").get_json()["items"]]
    assert labels == [f"Okna Anna (#{hidden + 1})"]
    for typed, told in (
        (
            "Okna Boris",
            "No client you may see is named “Okna Boris”: type a part of its name and pick it.",
        ),
        (f"#{hidden}", f"No client you may see has the number {hidden}."),
        (f"Okna Boris (#{hidden})", f"No client you may see has the number {hidden}."),
    ):
        refused = post_form(
            browser,
            "/sales/deals/new",
            {"title": "X", "client_id": typed, "owner_id": str(anna), "amount": "1"},
        )
        error = re.search(r'id="client_id-error">([^<]*)<', refused.get_data(as_text=True))
        assert refused.status_code == 422 and error.group(1) == told, typed
    # The form opened for a client the manager may not see does not show its name either.
    assert "Okna Boris" not in browser.get(f"/sales/deals/new?client_id={hidden}").get_data(
        as_text=True
    )
    with sales.app_context():
        assert db.session.execute(sa.select(sa.func.count(Deal.id))).scalar() == 0


def test_a_deal_of_a_client_outside_the_managers_scope_is_edited_without_touching_it(sales, api):
    anna, _ = manager(sales, "anna@example.com")
    with sales.app_context():
        from core.users.models import Role

        role = db.session.execute(sa.select(Role).filter_by(name="role for anna@example.com"))
        role = role.scalar_one()
        role.scopes = {**role.scopes, "clients": "own"}
        db.session.commit()
    other = new_client(sales, "Okna of someone else")
    deal_id = _create(api, other, owner_id=anna)[0]
    browser = sales.test_client()
    login(browser, "anna@example.com")
    form = browser.get(f"/sales/deals/{deal_id}/edit").get_data(as_text=True)
    assert f'name="client_id" value="{other}"' in form and "Okna of someone" not in form
    saved = post_form(
        browser,
        f"/sales/deals/{deal_id}/edit",
        {"title": "Renamed", "client_id": str(other), "owner_id": str(anna), "version": "1"},
    )
    assert saved.status_code == 302
    with sales.app_context():
        deal = db.session.get(Deal, deal_id)
        assert (deal.title, deal.client_id) == ("Renamed", other)
    refused = post_form(
        browser,
        f"/sales/deals/{deal_id}/edit",
        {"title": "", "client_id": str(other), "owner_id": str(anna), "version": "2"},
    )
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and f'name="client_id" value="{other}"' in page


def _first_deal(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.min(Deal.id))).scalar_one()


def test_files_are_attached_to_a_deal_on_its_card_and_kept_from_other_managers(sales, api):
    anna = make_user(
        sales,
        "anna@example.com",
        [*SALES_PERMISSIONS, "documents.attach"],
        scopes={"sales.deals": "own", "clients": "all"},
    )
    manager(sales, "boris@example.com")
    deal_id = _create(api, new_client(sales), owner_id=anna)[0]
    browser = sales.test_client()
    login(browser, "anna@example.com")
    card = browser.get(f"/sales/deals/{deal_id}").get_data(as_text=True)
    assert f'action="/documents/attachments/sales.deal/{deal_id}"' in card
    uploaded = browser.post(
        f"/documents/attachments/sales.deal/{deal_id}",
        data={
            "file": (io.BytesIO("name;qty\nОкно;12\n".encode()), "замер.csv"),
            "csrf_token": csrf_token(browser, f"/sales/deals/{deal_id}"),
        },
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 302 and uploaded.headers["Location"].endswith(
        f"/sales/deals/{deal_id}"
    )
    card = browser.get(f"/sales/deals/{deal_id}").get_data(as_text=True)
    link = re.search(r'href="(/documents/attachments/\d+)">замер.csv<', card)
    assert link, "the file is listed on the deal card"
    assert browser.get(link.group(1)).data == "name;qty\nОкно;12\n".encode()
    boris = sales.test_client()
    login(boris, "boris@example.com")
    assert boris.get(link.group(1)).status_code == 404
    # The deal decides who opens its files, not a permission of clients.
    scopes = {"sales.deals": "all", "clients": "all"}
    make_user(sales, "seller@example.com", ["sales.view"], scopes=scopes)
    make_user(sales, "clerk@example.com", ["clients.view"], scopes=scopes)
    seller, clerk = sales.test_client(), sales.test_client()
    login(seller, "seller@example.com")
    login(clerk, "clerk@example.com")
    assert seller.get(link.group(1)).status_code == 200
    assert clerk.get(f"/sales/deals/{deal_id}").status_code == 403
    assert clerk.get(link.group(1)).status_code == 404


def test_the_lines_editor_saves_lines_and_refuses_a_negative_quantity(sales, admin_client, api):
    deal_id = _create(api, new_client(sales))[0]
    good = post_form(
        admin_client,
        f"/sales/deals/{deal_id}/lines",
        {
            "rows": "3",
            "version": "1",
            "name-0": "Window",
            "quantity-0": "2",
            "price-0": "100",
            "discount_percent-0": "10",
            "vat_rate-0": "20",
            "name-1": "",
            "price-1": "",
        },
    )
    assert good.status_code == 302
    card = admin_client.get(f"/sales/deals/{deal_id}").get_data(as_text=True)
    assert 'data-testid="lines-total">216.00<' in card
    bad = post_form(
        admin_client,
        f"/sales/deals/{deal_id}/lines",
        {"rows": "1", "version": "2", "name-0": "Window", "quantity-0": "-2", "price-0": "100"},
    )
    assert bad.status_code == 422 and "lines.0.quantity" in bad.get_data(as_text=True)
    assert api.get(f"/api/v1/sales/deals/{deal_id}").get_json()["amount"] == "216.00"
    # A forged row count is refused, and does not save the deal without its lines.
    for count in ("abc", "-1", "", "9" * 5000):
        forged = post_form(
            admin_client, f"/sales/deals/{deal_id}/lines", {"rows": count, "version": "2"}
        )
        assert forged.status_code == 400 and "rows" in forged.get_data(as_text=True)
    assert api.get(f"/api/v1/sales/deals/{deal_id}").get_json()["amount"] == "216.00"


def test_the_card_moves_a_deal_and_asks_for_the_lost_reason(sales, admin_client, api):
    s = stages(sales)
    deal_id = _create(api, new_client(sales))[0]
    moved = post_form(
        admin_client, f"/sales/deals/{deal_id}/move", {"stage_id": str(s["Approval"])}
    )
    assert moved.status_code == 302
    no_reason = post_form(
        admin_client, f"/sales/deals/{deal_id}/move", {"stage_id": str(s["Lost"])}
    )
    assert no_reason.status_code == 302 and f"lose={s['Lost']}" in no_reason.location
    dialog = admin_client.get(no_reason.location).get_data(as_text=True)
    assert 'data-testid="lost-dialog"' in dialog and "Choose why the deal is lost." in dialog
    lost = post_form(
        admin_client,
        f"/sales/deals/{deal_id}/move",
        {"stage_id": str(s["Lost"]), "lost_reason_id": str(reason_id(sales)), "note": "Chose PVC"},
    )
    assert lost.status_code == 302
    card = admin_client.get(f"/sales/deals/{deal_id}").get_data(as_text=True)
    history = card.split('data-testid="stage-history"')[1].split("</ol>")[0]
    assert history.count("<li") == 3 and "Approval → <strong>Lost</strong>" in history
    assert "Ada Admin" in history and "Chose PVC" in history


def test_the_board_moves_a_deal_by_fetch_with_the_csrf_token(sales, admin_client, api):
    s = stages(sales)
    deal_id = _create(api, new_client(sales))[0]
    token = csrf_token(admin_client, "/sales/deals/board")
    response = admin_client.post(
        f"/sales/deals/{deal_id}/move",
        data={"stage_id": str(s["Payment"]), "csrf_token": token},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200 and response.get_json()["stage_id"] == s["Payment"]
    refused = admin_client.post(
        f"/sales/deals/{deal_id}/move",
        data={"stage_id": str(s["Lost"]), "csrf_token": token},
        headers={"Accept": "application/json"},
    )
    assert refused.status_code == 422 and "lost_reason_id" in refused.get_json()["errors"]
    no_csrf = admin_client.post(
        f"/sales/deals/{deal_id}/move",
        data={"stage_id": str(s["Won"])},
        headers={"Accept": "application/json"},
    )
    assert no_csrf.status_code == 400


def test_the_board_shows_counts_sums_and_the_newest_cards_with_a_bounded_number_of_queries(
    sales, admin_client, api
):
    client_id = new_client(sales)
    _create(api, client_id, 10)
    admin_client.get("/sales/deals/board")  # warm the caches
    with QueryCounter(sales) as ten:
        page = admin_client.get("/sales/deals/board")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    first = stages(sales)["First call"]
    column = html.split(f'data-testid="column-{first}"')[1].split("</section>")[0]
    assert '<span class="badge text-bg-secondary" data-testid="count">10</span>' in column
    assert "1,000.00 EUR" in column and "Okna Plus" in column
    _create(api, client_id, 90)
    with QueryCounter(sales) as hundred:
        html = admin_client.get("/sales/deals/board").get_data(as_text=True)
    assert hundred.count == ten.count, hundred.statements
    column = html.split(f'data-testid="column-{first}"')[1].split("</section>")[0]
    assert column.count('class="sales-card') == 20 and "80 more" in column
    assert 'data-testid="count">100<' in column and "10,000.00 EUR" in column


def test_the_board_filters_by_owner_and_source(sales, admin_client, api):
    anna, _ = manager(sales, "anna@example.com")
    client_id = new_client(sales)
    _create(api, client_id, 2, source="website")
    _create(api, client_id, 1, owner_id=anna, source="phone")
    html = admin_client.get(f"/sales/deals/board?owner_id={anna}").get_data(as_text=True)
    assert html.count('class="sales-card') == 1
    html = admin_client.get("/sales/deals/board?source=website").get_data(as_text=True)
    assert html.count('class="sales-card') == 2


def test_the_list_filters_and_exports_csv_and_xlsx_within_the_scope(sales, admin_client, api):
    client_id = new_client(sales)
    _create(api, client_id, 3)
    _create(api, client_id, 1, title='=HYPERLINK("x")')
    html = admin_client.get("/sales/deals?q=deal").get_data(as_text=True)
    assert html.count("/sales/deals/") >= 3 and "HYPERLINK" not in html
    csv = admin_client.get("/sales/deals/export.csv").get_data(as_text=True)
    assert csv.count("\n") == 5 and "'=HYPERLINK" in csv and "Okna Plus" in csv
    xlsx = admin_client.get("/sales/deals/export.xlsx")
    assert xlsx.status_code == 200
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert sheet.max_row == 5
    anna, _ = manager(sales, "anna@example.com")
    anna_client = sales.test_client()
    login(anna_client, "anna@example.com")
    assert anna_client.get("/sales/deals/export.csv").get_data(as_text=True).count("\n") == 1


def test_a_manager_with_scope_own_gets_404_on_every_page_of_another_managers_deal(sales, api):
    anna, _ = manager(sales, "anna@example.com")
    manager(sales, "boris@example.com")
    deal_id = _create(api, new_client(sales), owner_id=anna)[0]
    boris = sales.test_client()
    login(boris, "boris@example.com")
    for path in (
        f"/sales/deals/{deal_id}",
        f"/sales/deals/{deal_id}/edit",
        f"/sales/deals/{deal_id}/lines",
    ):
        assert boris.get(path).status_code == 404, path
    for path in (
        f"/sales/deals/{deal_id}/move",
        f"/sales/deals/{deal_id}/delete",
        f"/sales/deals/{deal_id}/edit",
    ):
        assert post_form(boris, path, {"stage_id": "1"}).status_code == 404, path
    assert "Deal 000" not in boris.get("/sales/deals").get_data(as_text=True)
    assert "Deal 000" not in boris.get("/sales/deals/board").get_data(as_text=True)
    assert "Deal 000" not in boris.get("/search?q=Deal").get_data(as_text=True)
    anna_client = sales.test_client()
    login(anna_client, "anna@example.com")
    assert anna_client.get(f"/sales/deals/{deal_id}").status_code == 200
    assert "Deal 000" in anna_client.get("/search?q=deal").get_data(as_text=True)


def test_the_client_card_panel_timeline_and_links_show_the_deals(sales, admin_client, api):
    client_id = new_client(sales)
    deal_id = _create(api, client_id)[0]
    api.post(f"/api/v1/sales/deals/{deal_id}/move", json={"stage_id": stages(sales)["Approval"]})
    card = admin_client.get(f"/clients/{client_id}").get_data(as_text=True)
    assert 'data-panel="sales.deals"' in card and "Deal 000" in card
    items = api.get(f"/api/v1/clients/{client_id}/timeline").get_json()["items"]
    kinds = [i["kind"] for i in items]
    assert "deal" in kinds and "deal_stage" in kinds
    stage_item = next(i for i in items if i["kind"] == "deal_stage")
    assert "First call → Approval" in stage_item["title"]
    only = api.get(
        f"/api/v1/clients/{client_id}/timeline", query_string={"kinds": "deal_stage"}
    ).get_json()["items"]
    assert {i["kind"] for i in only} == {"deal_stage"}
    task = api.post(
        "/api/v1/tasks",
        json={"title": "Call back", "record_kind": "sales.deal", "record_id": deal_id},
    )
    assert task.status_code == 201, task.get_json()
    comment = api.post(
        "/api/v1/comments", json={"record_kind": "sales.deal", "record_id": deal_id, "body": "Hi"}
    )
    assert comment.status_code == 201, comment.get_json()
    page = admin_client.get(f"/sales/deals/{deal_id}").get_data(as_text=True)
    assert "Call back" in page and 'data-testid="deal-comments"' in page and ">Hi<" in page


def test_switching_the_plugin_off_hides_routes_panels_and_search_and_keeps_the_deals(
    sales, admin_client, api
):
    client_id = new_client(sales)
    deal_id = _create(api, client_id)[0]
    disable(sales, "sales")
    assert admin_client.get("/sales/deals/board").status_code == 404
    assert admin_client.get(f"/sales/deals/{deal_id}").status_code == 404
    assert admin_client.get("/sales/admin/pipelines").status_code == 404
    assert api.get(f"/api/v1/sales/deals/{deal_id}").status_code == 404
    assert api.get("/api/v1/sales/pipelines").status_code == 404
    card = admin_client.get(f"/clients/{client_id}").get_data(as_text=True)
    assert 'data-panel="sales.deals"' not in card and "Deal 000" not in card
    assert "Deal 000" not in admin_client.get("/search?q=Deal").get_data(as_text=True)
    assert "/sales/deals/board" not in admin_client.get("/").get_data(as_text=True)
    enable(sales, "sales")
    assert api.get(f"/api/v1/sales/deals/{deal_id}").status_code == 200
    assert "/sales/deals/board" in admin_client.get("/").get_data(as_text=True)


def test_the_default_pipeline_is_created_once(app, admin_client):
    enable(app, "sales")
    disable(app, "sales")
    enable(app, "sales")
    assert admin_client.get("/sales/deals/board").status_code == 200
    with app.app_context():
        names = db.session.execute(sa.select(Pipeline.name)).scalars().all()
    assert names == ["Sales"]
    assert list(stages(app)) == [
        "First call",
        "Measurements",
        "Approval",
        "Payment",
        "Installation",
        "Won",
        "Lost",
    ]


def test_an_admin_removes_a_stage_and_moves_its_deals_where_they_say(sales, admin_client, api):
    s = stages(sales)
    deal_ids = _create(api, new_client(sales), 3, stage_id=s["Approval"])
    page = admin_client.get(f"/sales/admin/stages/{s['Approval']}/remove").get_data(as_text=True)
    assert "3 deals are in this stage" in page
    refused = post_form(admin_client, f"/sales/admin/stages/{s['Approval']}/remove", {})
    assert refused.status_code == 422
    done = post_form(
        admin_client, f"/sales/admin/stages/{s['Approval']}/remove", {"move_to": str(s["Payment"])}
    )
    assert done.status_code == 302
    with sales.app_context():
        assert {d.stage_id for d in db.session.execute(sa.select(Deal)).scalars()} == {s["Payment"]}
        moves = (
            db.session.execute(
                sa.select(StageChange).where(StageChange.from_stage_id == s["Approval"])
            )
            .scalars()
            .all()
        )
        assert sorted(m.deal_id for m in moves) == deal_ids
        assert all(m.to_stage_id == s["Payment"] and m.by_id == 1 for m in moves)
    admin = admin_client.get(f"/sales/admin/pipelines/{_pipeline_id(sales)}").get_data(as_text=True)
    assert "Approval" not in admin.split('data-testid="stages"')[1]
    card = admin_client.get(f"/sales/deals/{deal_ids[0]}").get_data(as_text=True)
    assert "Approval → <strong>Payment</strong>" in card  # the history keeps the removed name


def _pipeline_id(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(Pipeline.id)).scalar_one()


def test_an_admin_edits_pipelines_stages_and_lost_reasons(sales, admin_client):
    pipeline_id = _pipeline_id(sales)
    s = stages(sales)
    path = f"/sales/admin/pipelines/{pipeline_id}"
    post_form(
        admin_client,
        f"/sales/admin/stages/{s['Approval']}",
        {
            "name": "Approval by the client",
            "probability": "55",
            "target_hours": "24",
            "kind": "open",
            "action": "save",
        },
    )
    post_form(
        admin_client,
        f"/sales/admin/pipelines/{pipeline_id}/stages",
        {"name": "Delivery", "probability": "90", "target_hours": "", "kind": "open"},
    )
    post_form(admin_client, f"/sales/admin/stages/{s['Measurements']}", {"action": "up"})
    bad = post_form(
        admin_client,
        f"/sales/admin/stages/{s['Payment']}",
        {"name": "Payment", "probability": "150", "kind": "open", "action": "save"},
    )
    assert bad.status_code == 302
    names = list(stages(sales))
    html = admin_client.get(path).get_data(as_text=True)
    order = re.findall(r'name="name" value="([^"]+)" maxlength="120"', html)
    assert order == [
        "Measurements",
        "First call",
        "Approval by the client",
        "Payment",
        "Installation",
        "Delivery",
        "Won",
        "Lost",
    ]
    assert "Delivery" in names
    post_form(admin_client, "/sales/admin/lost-reasons", {"name": "Moved away"})
    assert "Moved away" in admin_client.get("/sales/admin/lost-reasons").get_data(as_text=True)
    created = post_form(admin_client, "/sales/admin/pipelines", {"name": "Service"})
    assert created.status_code == 302
    assert "Service" in admin_client.get("/sales/admin/pipelines").get_data(as_text=True)


def test_a_manager_without_sales_admin_cannot_open_the_admin_pages(sales):
    manager(sales, "anna@example.com")
    anna = sales.test_client()
    login(anna, "anna@example.com")
    assert anna.get("/sales/admin/pipelines").status_code == 403
    headers = api_token(anna, "anna@example.com")
    assert (
        anna.post("/api/v1/sales/pipelines", json={"name": "X"}, headers=headers).status_code == 403
    )


def _fill_client(sales, api, admin_client, client_id: int, other_id: int, n: int) -> None:
    """``n`` of everything the client card shows: deals with an invoice, contact persons,
    calls, tasks, comments mentioning someone, documents with an e-mail each, files, and
    a relation (each side of it)."""
    deal_ids = _create(api, client_id, n)
    template = api.post(
        "/api/v1/document-templates",
        json={"type": "proposal", "name": f"Offer {client_id}", "language": "en", "body": "Hi"},
    ).get_json()["id"]
    for i in range(n):
        assert api.post(f"/api/v1/sales/deals/{deal_ids[i]}/invoices", json={}).status_code == 201
        contact = api.post(
            f"/api/v1/clients/{client_id}/contacts",
            json={"last_name": f"Person {i}", "phones": [f"+4930100{i:03d}"]},
        ).get_json()["id"]
        api.post(
            f"/api/v1/clients/{client_id}/interactions",
            json={"kind": "call", "subject": f"#{i}", "contact_person_id": contact},
        )
        api.post(
            "/api/v1/tasks",
            json={"title": f"T{i}", "record_kind": "client", "record_id": client_id},
        )
        api.post(
            "/api/v1/comments",
            json={"record_kind": "client", "record_id": client_id, "body": f"@Ada Admin #{i}"},
        )
        document = api.post(
            "/api/v1/documents", json={"template_id": template, "client_id": client_id}
        ).get_json()["id"]
        api.post(f"/api/v1/documents/{document}/send", json={"email": f"to{i}@example.com"})
        api.post(
            f"/api/v1/clients/{client_id}/attachments",
            data={"file": (io.BytesIO(b"%PDF-1.4\n%%EOF\n"), f"file{i}.pdf")},
            content_type="multipart/form-data",
        )
    for side in ((client_id, other_id), (other_id, client_id)):
        post_form(
            admin_client,
            f"/clients/{side[0]}/relations",
            {"kind": "partner", "other_id": str(side[1])},
            page=f"/clients/{side[0]}",
        )


def test_a_client_card_runs_three_statements_however_much_it_shows(sales, admin_client, api):
    """The client with its owner; its contact persons, phones, e-mails, addresses and tags;
    then the rows of every panel (deals, invoices, tasks, documents and their e-mails,
    files, relations, former staff), the timeline's (interactions, comments and mentions,
    history, tasks, documents, deals, stage changes) and the bell's count: the same for a
    client with one of each as for one with eight, for an administrator and for a manager
    whose deals scope is "own". No User is loaded (the sales plugin takes the principal).
    Before: 23 for a client with nothing more than deals, contacts, calls and tasks, up to
    29 (a round trip each on PostgreSQL)."""
    other = new_client(sales, "Other Co")
    small, big = new_client(sales, "Small Co"), new_client(sales, "Big Co")
    _fill_client(sales, api, admin_client, small, other, 1)
    _fill_client(sales, api, admin_client, big, other, 8)
    manager(sales, "mona@example.com")
    mona = sales.test_client()
    login(mona, "mona@example.com")
    for http in (admin_client, mona):
        counts = []
        for client_id in (small, big):
            http.get(f"/clients/{client_id}")  # warm the caches
            with QueryCounter(sales) as counter:
                page = http.get(f"/clients/{client_id}")
            assert page.status_code == 200
            statements = [s for s in counter.statements if "FROM plugins" not in s]
            counts.append(len(statements))
            assert not any("user_roles" in s for s in statements), statements
            [together] = [s for s in statements if "notifications" in s]
            assert "sales_deals" in together and "audit_log" in together
        assert counts == [3, 3], counts
    html = admin_client.get(f"/clients/{big}").get_data(as_text=True)
    for shown in ("Deal 007", "Person 7", "T7", "to7@example.com", "file7.pdf", "Other Co"):
        assert shown in html, shown
    assert 'class="mention"' in html and "INV-" in html


def test_a_plugin_panel_whose_read_fails_is_left_out_and_the_card_still_shows(
    sales, admin_client, api, monkeypatch
):
    """The card's reads run in one statement; if a plugin's read fails, they run again one
    by one, and only the panel of the failing read is left out."""
    from core.plugin_system.types import PanelSource
    from core.reads import Read
    from plugins.sales.deals import views

    missing = sa.table("sales_not_there", sa.column("id", sa.Integer))

    def broken(client, user):
        return PanelSource({"rows": Read(sa.select(missing.c.id))}, lambda rows: "never shown")

    monkeypatch.setattr(views, "render_client_deals_panel", broken)
    client_id = new_client(sales)
    _create(api, client_id)
    api.post(f"/api/v1/clients/{client_id}/contacts", json={"last_name": "Popescu"})
    page = admin_client.get(f"/clients/{client_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-panel="sales.deals"' not in html and "never shown" not in html
    assert 'data-panel="sales_invoices"' in html and 'data-panel="core.timeline"' in html
    assert "Deal created: Deal 000" in html and "Popescu" in html
