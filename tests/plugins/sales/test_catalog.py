"""The product catalog of the sales plugin: products, groups, price lists, import, export,
pages and the API."""

from __future__ import annotations

import csv
import io
import time
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.audit.models import AuditLog
from core.db import db
from tests.conftest import api_token, disable, enable, login, make_user, post_form

CSV_HEADER = "SKU;Name;Group;Unit;Price;Currency;VAT;Active\n"


@pytest.fixture
def sales(app):
    enable(app, "sales")
    return app


def _product(api, **fields):
    body = {"name": "PVC window", "sku": "W-1", "price": "120.50", "currency": "EUR"} | fields
    response = api.post("/api/v1/sales/products", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _products(app):
    from plugins.sales.models import Product

    with app.app_context():
        return {
            p.sku: p for p in db.session.execute(sa.select(Product).order_by(Product.id)).scalars()
        }


# --- products through the API -------------------------------------------------------------


def test_product_crud_with_version_and_audit(sales, api):
    created = _product(api, vat_rate="20", unit="m2", kind="product")
    assert created["price"] == "120.50" and created["vat_rate"] == "20.00"
    pid = created["id"]
    assert api.get(f"/api/v1/sales/products/{pid}").get_json()["sku"] == "W-1"
    changed = api.patch(
        f"/api/v1/sales/products/{pid}", json={"price": "130", "version": created["version"]}
    )
    assert changed.status_code == 200 and changed.get_json()["price"] == "130.00"
    stale = api.patch(
        f"/api/v1/sales/products/{pid}", json={"price": "1", "version": created["version"]}
    )
    assert stale.status_code == 409
    with sales.app_context():
        rows = db.session.execute(
            sa.select(AuditLog.action, AuditLog.changes).where(
                AuditLog.entity == "sales_products", AuditLog.entity_id == pid
            )
        ).all()
    assert [r.action for r in rows] == ["create", "update"]
    assert rows[1].changes["price"] == ["120.50", "130.00"]
    assert api.delete(f"/api/v1/sales/products/{pid}").get_json() == {"result": "deleted"}
    assert api.get(f"/api/v1/sales/products/{pid}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"price": "-1"}, "price"),
        ({"vat_rate": "120"}, "vat_rate"),
        ({"currency": "ABC"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"name": ""}, "name"),
        ({"kind": "thing"}, "kind"),
        ({"group_id": 999}, "group_id"),
        ({"price": "NaN"}, "price"),
    ],
)
def test_bad_product_input_is_422_naming_the_field(sales, api, body, field):
    response = api.post(
        "/api/v1/sales/products", json={"name": "X", "currency": "EUR", "sku": "B-1"} | body
    )
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert api.get("/api/v1/sales/products").get_json()["items"] == []


def test_duplicate_sku_differing_in_case_is_refused(sales, api):
    first = _product(api, sku="ab-100")
    response = api.post(
        "/api/v1/sales/products", json={"name": "Other", "sku": "AB-100", "currency": "EUR"}
    )
    assert response.status_code == 422 and "sku" in response.get_json()["errors"]
    other = _product(api, sku="AB-200", name="Other")
    clash = api.patch(f"/api/v1/sales/products/{other['id']}", json={"sku": "Ab-100", "version": 1})
    assert clash.status_code == 422 and "sku" in clash.get_json()["errors"]
    assert api.get(f"/api/v1/sales/products/{first['id']}").get_json()["sku"] == "ab-100"


def test_list_search_filters_and_keyset_pages(sales, api):
    group = api.post("/api/v1/sales/product-groups", json={"name": "Windows"}).get_json()
    sub = api.post(
        "/api/v1/sales/product-groups", json={"name": "PVC", "parent_id": group["id"]}
    ).get_json()
    for n in range(7):
        _product(api, name=f"Okno {n}", sku=f"OK-{n}", group_id=sub["id"])
    _product(api, name="Ёлка", sku="XMAS-1", active=False)
    _product(api, name="Measurement visit", sku="SRV-1", kind="service")
    seen, cursor = [], None
    while True:
        query = "/api/v1/sales/products?limit=3&active=true" + (
            f"&cursor={cursor}" if cursor else ""
        )
        page = api.get(query).get_json()
        seen += [p["name"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["Measurement visit"] + [f"Okno {n}" for n in range(7)]
    names = lambda q: [p["name"] for p in api.get(q).get_json()["items"]]  # noqa: E731
    assert names("/api/v1/sales/products?q=okn") == [f"Okno {n}" for n in range(7)]
    assert names("/api/v1/sales/products?q=ok-3") == ["Okno 3"]
    assert names("/api/v1/sales/products?q=елка") == ["Ёлка"]
    assert names(f"/api/v1/sales/products?group_id={group['id']}&limit=2") == ["Okno 0", "Okno 1"]
    assert names("/api/v1/sales/products?active=false") == ["Ёлка"]
    assert names("/api/v1/sales/products?kind=service") == ["Measurement visit"]
    bad = api.get("/api/v1/sales/products?cursor=garbage")
    assert bad.status_code == 422


def test_group_tree_refuses_cycles(sales, api):
    top = api.post("/api/v1/sales/product-groups", json={"name": "Top"}).get_json()
    mid = api.post(
        "/api/v1/sales/product-groups", json={"name": "Mid", "parent_id": top["id"]}
    ).get_json()
    low = api.post(
        "/api/v1/sales/product-groups", json={"name": "Low", "parent_id": mid["id"]}
    ).get_json()
    assert low["path"] == "Top / Mid / Low"
    cycle = api.patch(
        f"/api/v1/sales/product-groups/{top['id']}",
        json={"parent_id": low["id"], "version": top["version"]},
    )
    assert cycle.status_code == 422 and "parent_id" in cycle.get_json()["errors"]
    itself = api.patch(
        f"/api/v1/sales/product-groups/{top['id']}",
        json={"parent_id": top["id"], "version": top["version"]},
    )
    assert itself.status_code == 422
    dup = api.post("/api/v1/sales/product-groups", json={"name": "top"})
    assert dup.status_code == 422 and "name" in dup.get_json()["errors"]
    assert api.delete(f"/api/v1/sales/product-groups/{mid['id']}").status_code == 204
    assert api.get(f"/api/v1/sales/product-groups/{low['id']}").get_json()["parent_id"] == top["id"]


def test_delete_deactivates_a_product_used_by_a_deal_line(sales, api):
    from core.clients.models import Client
    from plugins.sales.models import Deal, DealLine, Pipeline, Stage

    product = _product(api)
    with sales.app_context():
        client = Client(kind="company", name="Acme", name_key="acme")
        pipeline = Pipeline(name="Windows")
        db.session.add_all([client, pipeline])
        db.session.flush()
        stage = Stage(pipeline_id=pipeline.id, name="First call")
        db.session.add(stage)
        db.session.flush()
        deal = Deal(
            title="Deal",
            client_id=client.id,
            pipeline_id=pipeline.id,
            stage_id=stage.id,
            currency="EUR",
        )
        deal.lines.append(DealLine(name="PVC window", product_id=product["id"]))
        db.session.add(deal)
        db.session.commit()
    response = api.delete(f"/api/v1/sales/products/{product['id']}")
    assert response.get_json() == {"result": "deactivated"}
    assert api.get(f"/api/v1/sales/products/{product['id']}").get_json()["active"] is False


# --- price lists --------------------------------------------------------------------------


def test_price_lists_and_price_for(sales, api):
    from plugins.sales.catalog.services import price_for

    product = _product(api, price="100.00")
    other = _product(api, sku="W-2", price="50.00")
    bad = api.post("/api/v1/sales/price-lists", json={"name": "X", "currency": "ZZZ"})
    assert bad.status_code == 422 and "currency" in bad.get_json()["errors"]
    backwards = api.post(
        "/api/v1/sales/price-lists",
        json={"name": "X", "currency": "EUR", "valid_from": "2026-02-01", "valid_to": "2026-01-01"},
    )
    assert backwards.status_code == 422 and "valid_to" in backwards.get_json()["errors"]
    wholesale = api.post(
        "/api/v1/sales/price-lists",
        json={
            "name": "Wholesale 2026",
            "currency": "USD",
            "valid_from": "2026-01-01",
            "valid_to": "2026-12-31",
        },
    ).get_json()
    item = api.post(
        f"/api/v1/sales/price-lists/{wholesale['id']}/items",
        json={"product_id": product["id"], "price": "90.00"},
    )
    assert item.status_code == 201
    negative = api.post(
        f"/api/v1/sales/price-lists/{wholesale['id']}/items",
        json={"product_id": product["id"], "price": "-5"},
    )
    assert negative.status_code == 422
    again = api.post(
        f"/api/v1/sales/price-lists/{wholesale['id']}/items",
        json={"product_id": product["id"], "price": "85.00"},
    ).get_json()
    assert again["id"] == item.get_json()["id"]  # one item per list and product
    items = api.get(f"/api/v1/sales/price-lists/{wholesale['id']}/items").get_json()["items"]
    assert [i["price"] for i in items] == ["85.00"]
    with sales.app_context():
        inside = price_for(product["id"], wholesale["id"], date(2026, 6, 1))
        assert (inside.amount, inside.currency, inside.price_list_id) == (
            Decimal("85.00"),
            "USD",
            wholesale["id"],
        )
        outside = price_for(product["id"], wholesale["id"], date(2027, 1, 1))
        assert (outside.amount, outside.currency, outside.price_list_id) == (
            Decimal("100.00"),
            "EUR",
            None,
        )
        missing = price_for(other["id"], wholesale["id"], date(2026, 6, 1))
        assert missing.amount == Decimal("50.00") and missing.price_list_id is None
        assert price_for(product["id"]).amount == Decimal("100.00")
    api.patch(f"/api/v1/sales/price-lists/{wholesale['id']}", json={"active": False, "version": 1})
    via_api = api.get(
        f"/api/v1/sales/products/{product['id']}/price?price_list_id={wholesale['id']}&on=2026-06-01"
    ).get_json()
    assert via_api == {"amount": "100.00", "currency": "EUR", "price_list_id": None}


# --- import and export --------------------------------------------------------------------


def _import(api, data: bytes, filename: str, **form):
    response = api.post(
        "/api/v1/sales/product-imports",
        data={"file": (io.BytesIO(data), filename), **form},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


GOOD_AND_BAD = (
    CSV_HEADER
    + "OK-1;Окно ПВХ;Окна;шт;1 250,50;MDL;20;да\n"
    + "OK-2;Подоконник;Окна;м;-5;MDL;20;да\n"
    + "SRV-1;Замер;Услуги;визит;300;MDL;0;да\n"
    + "OK-3;Откос;Окна;м;100;XYZ;120;да\n"
)


@pytest.mark.parametrize(
    ("encode", "filename"),
    [
        (lambda text: text.encode("cp1251"), "products.csv"),
        (lambda text: text.encode("utf-8-sig"), "products.csv"),
        ("xlsx", "products.xlsx"),
    ],
)
def test_import_keeps_good_rows_reports_bad_ones_and_reimport_makes_no_doubles(
    sales, api, encode, filename
):
    if encode == "xlsx":
        from openpyxl import Workbook

        workbook = Workbook()
        sheet = workbook.active
        for line in GOOD_AND_BAD.strip().split("\n"):
            sheet.append(line.split(";"))
        buffer = io.BytesIO()
        workbook.save(buffer)
        data = buffer.getvalue()
    else:
        data = encode(GOOD_AND_BAD)
    result = _import(api, data, filename)
    assert (result["created_count"], result["failed_count"]) == (2, 2), result
    reasons = {(p["line"], p["column"]) for p in result["problems"]}
    assert reasons == {(3, "Price"), (5, "Currency"), (5, "VAT")}
    products = _products(sales)
    assert set(products) == {"OK-1", "SRV-1"}
    window = products["OK-1"]
    assert (window.name, window.price, window.currency, window.vat_rate) == (
        "Окно ПВХ",
        Decimal("1250.50"),
        "MDL",
        Decimal("20.00"),
    )
    with sales.app_context():
        from plugins.sales.models import ProductGroup

        names = set(db.session.execute(sa.select(ProductGroup.name)).scalars())
    assert names == {"Окна", "Услуги"}
    report = api.get(result["report_url"])
    assert report.status_code == 200
    lines = list(csv.reader(io.StringIO(report.get_data(as_text=True).lstrip("\ufeff"))))
    assert lines[0][:4] == ["line", "column", "value", "reason"]
    assert [row[:2] for row in lines[1:]] == [["3", "Price"], ["5", "Currency"], ["5", "VAT"]]
    assert lines[1][4:6] == ["OK-2", "Подоконник"]  # the row itself, to fix and re-import
    again = _import(api, data, filename)
    assert (again["created_count"], again["updated_count"], again["unchanged_count"]) == (0, 0, 2)
    assert len(_products(sales)) == 2


def test_reimport_updates_by_sku_ignoring_case(sales, api):
    _import(api, (CSV_HEADER + "ok-1;Window;Windows;pcs;100;EUR;20;yes\n").encode(), "a.csv")
    result = _import(
        api, (CSV_HEADER + "OK-1;Window XL;Windows;pcs;110;EUR;20;no\n").encode(), "b.csv"
    )
    assert (result["created_count"], result["updated_count"]) == (0, 1)
    (product,) = _products(sales).values()
    assert (product.name, product.price, product.active, product.version) == (
        "Window XL",
        Decimal("110.00"),
        False,
        2,
    )
    with sales.app_context():
        actions = (
            db.session.execute(
                sa.select(AuditLog.action).where(AuditLog.entity == "sales_products")
            )
            .scalars()
            .all()
        )
    assert actions == ["create", "update"]


def test_import_repeated_sku_in_one_file_is_reported(sales, api):
    text = CSV_HEADER + "A-1;One;;pcs;1;EUR;0;yes\n" + "a-1;Two;;pcs;2;EUR;0;yes\n"
    result = _import(api, text.encode(), "dup.csv")
    assert result["created_count"] == 1 and result["problems"][0]["line"] == 3


def test_import_of_10000_rows_is_fast(sales, api):
    lines = [CSV_HEADER] + [
        f"SKU-{n:05d};Product {n};Group {n % 50};pcs;{n % 1000}.{n % 100:02d};EUR;20;yes\n"
        for n in range(10_000)
    ]
    data = "".join(lines).encode()
    started = time.perf_counter()
    result = _import(api, data, "big.csv")
    first = time.perf_counter() - started
    assert result["created_count"] == 10_000
    started = time.perf_counter()
    again = _import(api, data, "big.csv")
    second = time.perf_counter() - started
    assert again["unchanged_count"] == 10_000
    print(f"\n10,000 rows: first import {first:.2f} s, re-import {second:.2f} s")
    assert first < 20 and second < 20


def test_export_neutralises_formulas(sales, api, client):
    _product(api, name='=HYPERLINK("http://evil")', sku="+1", description="@SUM(A1)")
    login(client)
    response = client.get("/sales/catalog/export.csv?active=any")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[1][0] == "'+1" and rows[1][1].startswith("'=") and rows[1][-1] == "'@SUM(A1)"
    xlsx = client.get("/sales/catalog/export.xlsx")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert sheet["B2"].value.startswith("'=") and sheet["B2"].data_type == "s"


# --- permissions, pages, the plugin switch ------------------------------------------------


def test_a_user_without_sales_catalog_can_read_but_not_write(sales, api, client):
    product = _product(api)
    make_user(sales, "viewer@example.com", ["sales.view"])
    headers = api_token(client, "viewer@example.com")
    assert client.get("/api/v1/sales/products", headers=headers).status_code == 200
    writes = [
        client.post("/api/v1/sales/products", json={"name": "X"}, headers=headers),
        client.patch(
            f"/api/v1/sales/products/{product['id']}", json={"version": 1}, headers=headers
        ),
        client.delete(f"/api/v1/sales/products/{product['id']}", headers=headers),
        client.post("/api/v1/sales/product-groups", json={"name": "G"}, headers=headers),
        client.post(
            "/api/v1/sales/price-lists", json={"name": "P", "currency": "EUR"}, headers=headers
        ),
    ]
    assert [r.status_code for r in writes] == [403] * 5
    make_user(sales, "nobody@example.com", [])
    nobody = api_token(client, "nobody@example.com")
    assert client.get("/api/v1/sales/products", headers=nobody).status_code == 403


def test_pages_menu_form_and_validation(sales, client):
    login(client)
    page = client.get("/sales/catalog/")
    assert page.status_code == 200
    assert "/sales/catalog/" in client.get("/").get_data(as_text=True)  # the menu item
    bad = post_form(
        client,
        "/sales/catalog/new",
        {"name": "Window", "price": "-1", "currency": "EUR", "vat_rate": "5"},
        page="/sales/catalog/new",
    )
    assert bad.status_code == 422 and "price-error" in bad.get_data(as_text=True)
    good = post_form(
        client,
        "/sales/catalog/new",
        {
            "name": "Window",
            "sku": "W-9",
            "price": "10,5",
            "currency": "eur",
            "vat_rate": "5",
            "active": "yes",
            "kind": "product",
            "unit": "pcs",
        },
        page="/sales/catalog/new",
    )
    assert good.status_code == 302
    listing = client.get("/sales/catalog/?q=win").get_data(as_text=True)
    assert "Window" in listing and "10.50 EUR" in listing
    for path in ("/sales/catalog/groups", "/sales/catalog/price-lists", "/sales/catalog/import"):
        assert client.get(path).status_code == 200, path


def test_import_pages_map_check_and_run(sales, client):
    login(client)
    page = "/sales/catalog/import"
    data = {"file": (io.BytesIO(GOOD_AND_BAD.encode("cp1251")), "p.csv")}
    data["csrf_token"] = __import__("tests.conftest").conftest.csrf_token(client, page)
    uploaded = client.post(page, data=data, content_type="multipart/form-data")
    assert uploaded.status_code == 302
    show = uploaded.headers["Location"]
    html = client.get(show).get_data(as_text=True)
    assert "Окно ПВХ" in html
    mapping = {
        f"column-{i}": code
        for i, code in enumerate(
            ["sku", "name", "group", "unit", "price", "currency", "vat_rate", "active"]
        )
    }
    check = post_form(client, show, {**mapping, "action": "check"}, page=show)
    assert check.status_code == 200 and 'data-testid="check-figures"' in check.get_data(
        as_text=True
    )
    assert _products(sales) == {}
    run = post_form(client, show, {**mapping, "action": "start"}, page=show)
    assert run.status_code == 302
    assert set(_products(sales)) == {"OK-1", "SRV-1"}
    assert client.get(show + "/problems.csv").status_code == 200


def test_disabled_plugin_answers_404(sales, api, client):
    _product(api)
    disable(sales, "sales")
    login(client)
    assert api.get("/api/v1/sales/products").status_code == 404
    assert client.get("/sales/catalog/").status_code == 404
    enable(sales, "sales")
    assert len(api.get("/api/v1/sales/products").get_json()["items"]) == 1


def test_catalog_is_in_the_openapi_document(sales, client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/sales/products",
        "/api/v1/sales/products/{product_id}",
        "/api/v1/sales/product-groups",
        "/api/v1/sales/price-lists",
        "/api/v1/sales/price-lists/{list_id}/items",
        "/api/v1/sales/product-imports",
    ):
        assert path in paths, path
