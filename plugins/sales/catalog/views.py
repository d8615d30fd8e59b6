"""Web pages of the catalog: the product list (search, filters, keyset pages, export), the
product form, product groups, price lists and the import."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _

from core.clients.imports import reader
from core.db import db, utcnow
from core.security import current_principal, requires
from core.spreadsheets import XLSX_MIMETYPE
from core.users.services import ValidationFailed
from plugins.sales.catalog import export, importer, queries, services
from plugins.sales.catalog.models import PriceList, PriceListItem, ProductImport
from plugins.sales.models import Product, ProductGroup

VIEW, EDIT = "sales.view", "sales.catalog"
PAGE = 50

bp = Blueprint(
    "sales_catalog",
    __name__,
    url_prefix="/sales/catalog",
    template_folder="../templates",
)


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


def _filters() -> dict:
    active_arg = request.args.get("active", "yes")
    active = {"yes": True, "no": False}.get(active_arg)
    kind = request.args.get("kind") if request.args.get("kind") in services.KINDS else None
    return {
        "q": request.args.get("q", "")[:200],
        "group_id": _int_arg("group_id"),
        "active": active,
        "kind": kind,
    }


def _group_choices() -> list[tuple[int, str]]:
    return sorted(services.group_paths().items(), key=lambda item: item[1].casefold())


# --- the list -----------------------------------------------------------------------------


@bp.route("/")
@requires(VIEW)
def index():
    filters = _filters()
    errors: dict[str, list[str]] = {}
    products: list[Product] = []
    cursor = None
    try:
        products, cursor = queries.page(
            queries.filtered(**filters), request.args.get("cursor") or None, PAGE
        )
    except queries.BadCursor as exc:
        errors["cursor"] = [str(exc)]
    args = {k: v for k, v in request.args.items() if k != "cursor"}
    groups = _group_choices()
    return render_template(
        "sales/catalog/list.html",
        products=products,
        paths=dict(groups),
        groups=groups,
        filters=filters,
        errors=errors,
        next_url=url_for(".index", **args, cursor=cursor) if cursor else None,
        first_url=url_for(".index", **args) if request.args.get("cursor") else None,
        export_args=args,
        can_edit=current_principal().has_permission(EDIT),
    ), (422 if errors else 200)


@bp.route("/export.<any(csv, xlsx):fmt>")
@requires(VIEW)
def export_file(fmt: str):
    query = queries.filtered(**_filters())
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    if fmt == "csv":
        return Response(
            stream_with_context(export.csv_stream(query)),
            mimetype="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="products-{stamp}.csv"'},
        )
    return send_file(
        export.xlsx(query),
        mimetype=XLSX_MIMETYPE,
        as_attachment=True,
        download_name=f"products-{stamp}.xlsx",
    )


# --- the product form ---------------------------------------------------------------------

FORM_FIELDS = (
    "name",
    "sku",
    "kind",
    "group_id",
    "unit",
    "price",
    "currency",
    "vat_rate",
    "description",
)


def _form_data() -> dict:
    data = {name: request.form.get(name, "") for name in FORM_FIELDS}
    data["active"] = request.form.get("active") == "yes"
    return data


def _render_form(product: Product | None, values: dict, errors: dict, status: int = 200):
    return render_template(
        "sales/catalog/form.html",
        product=product,
        values=values,
        errors=errors,
        groups=_group_choices(),
        kinds=[("product", _("Product")), ("service", _("Service"))],
        can_edit=current_principal().has_permission(EDIT),
        used=product is not None and services.used_by_deals(product.id),
    ), status


@bp.route("/new", methods=["GET", "POST"])
@requires(EDIT)
def new():
    if request.method == "POST":
        data = _form_data()
        try:
            product = services.create_product(data)
            flash(_("The product is saved."), "success")
            return redirect(url_for(".show", product_id=product.id))
        except ValidationFailed as exc:
            db.session.rollback()
            return _render_form(None, data, exc.errors, 422)
    values = {
        "kind": "product",
        "unit": "pcs",
        "price": "0.00",
        "currency": services.DEFAULT_CURRENCY,
        "vat_rate": "0",
        "active": True,
        "group_id": request.args.get("group_id", ""),
    }
    return _render_form(None, values, {})


def _values(product: Product) -> dict:
    return {
        "name": product.name,
        "sku": product.sku or "",
        "kind": product.kind,
        "group_id": product.group_id or "",
        "unit": product.unit,
        "price": f"{product.price:.2f}",
        "currency": product.currency,
        "vat_rate": f"{product.vat_rate:.2f}",
        "active": product.active,
        "description": product.description,
        "version": product.version,
    }


@bp.route("/<int:product_id>")
@requires(VIEW)
def show(product_id: int):
    product = db.session.get(Product, product_id) or abort(404)
    return _render_form(product, _values(product), {})


@bp.route("/<int:product_id>/edit", methods=["POST"])
@requires(EDIT)
def edit(product_id: int):
    product = db.session.get(Product, product_id) or abort(404)
    data = _form_data()
    if request.form.get("version", "") != str(product.version):
        values = {**data, "version": product.version}
        errors = {
            "_form": [
                _(
                    "Someone changed this product meanwhile; the form shows your "
                    "input over their version. Check it and save again."
                )
            ]
        }
        return _render_form(product, values, errors, 409)
    try:
        services.update_product(product, data)
    except ValidationFailed as exc:
        db.session.rollback()
        return _render_form(product, {**data, "version": product.version}, exc.errors, 422)
    flash(_("The product is saved."), "success")
    return redirect(url_for(".show", product_id=product.id))


@bp.route("/<int:product_id>/delete", methods=["POST"])
@requires(EDIT)
def delete(product_id: int):
    product = db.session.get(Product, product_id) or abort(404)
    result = services.delete_product(product)
    if result == "deactivated":
        flash(_("Deals use this product, so it was deactivated instead of deleted."), "info")
    else:
        flash(_("The product is deleted."), "success")
    return redirect(url_for(".index"))


# --- groups -------------------------------------------------------------------------------


@bp.route("/groups", methods=["GET", "POST"])
@requires(VIEW)
def groups():
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if not current_principal().has_permission(EDIT):
            abort(403)
        data = {"name": request.form.get("name", ""), "parent_id": request.form.get("parent_id")}
        try:
            services.create_group(data)
            flash(_("The group is saved."), "success")
            return redirect(url_for(".groups"))
        except ValidationFailed as exc:
            db.session.rollback()
            errors = exc.errors
    rows = db.session.execute(sa.select(ProductGroup)).scalars().all()
    paths = services.group_paths()
    counts = dict(
        db.session.execute(
            sa.select(Product.group_id, sa.func.count()).group_by(Product.group_id)
        ).all()
    )
    rows = sorted(rows, key=lambda g: paths[g.id].casefold())
    return render_template(
        "sales/catalog/groups.html",
        rows=rows,
        paths=paths,
        counts=counts,
        choices=_group_choices(),
        errors=errors,
        can_edit=current_principal().has_permission(EDIT),
    ), (422 if errors else 200)


@bp.route("/groups/<int:group_id>", methods=["POST"])
@requires(EDIT)
def group_edit(group_id: int):
    group = db.session.get(ProductGroup, group_id) or abort(404)
    if request.form.get("action") == "delete":
        services.delete_group(group)
        flash(_("The group is deleted."), "success")
        return redirect(url_for(".groups"))
    if request.form.get("version", "") != str(group.version):
        flash(_("Someone changed this group meanwhile; check it and save again."), "error")
        return redirect(url_for(".groups"))
    try:
        services.update_group(
            group,
            {"name": request.form.get("name", ""), "parent_id": request.form.get("parent_id")},
        )
        flash(_("The group is saved."), "success")
    except ValidationFailed as exc:
        db.session.rollback()
        flash("; ".join(" ".join(m) for m in exc.errors.values()), "error")
    return redirect(url_for(".groups"))


# --- price lists --------------------------------------------------------------------------


def _list_data() -> dict:
    return {
        "name": request.form.get("name", ""),
        "currency": request.form.get("currency", ""),
        "active": request.form.get("active") == "yes",
        "valid_from": request.form.get("valid_from", ""),
        "valid_to": request.form.get("valid_to", ""),
    }


@bp.route("/price-lists", methods=["GET", "POST"])
@requires(VIEW)
def price_lists():
    errors: dict[str, list[str]] = {}
    values: dict = {"currency": services.DEFAULT_CURRENCY, "active": True}
    if request.method == "POST":
        if not current_principal().has_permission(EDIT):
            abort(403)
        values = _list_data()
        try:
            price_list = services.create_price_list(values)
            flash(_("The price list is saved."), "success")
            return redirect(url_for(".price_list", list_id=price_list.id))
        except ValidationFailed as exc:
            db.session.rollback()
            errors = exc.errors
    lists = db.session.execute(sa.select(PriceList).order_by(PriceList.name)).scalars().all()
    counts = dict(
        db.session.execute(
            sa.select(PriceListItem.price_list_id, sa.func.count()).group_by(
                PriceListItem.price_list_id
            )
        ).all()
    )
    return render_template(
        "sales/catalog/price_lists.html",
        lists=lists,
        counts=counts,
        values=values,
        errors=errors,
        today=date.today(),
        valid_on=services.valid_on,
        can_edit=current_principal().has_permission(EDIT),
    ), (422 if errors else 200)


@bp.route("/price-lists/<int:list_id>", methods=["GET", "POST"])
@requires(VIEW)
def price_list(list_id: int):
    price_list = db.session.get(PriceList, list_id) or abort(404)
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        if not current_principal().has_permission(EDIT):
            abort(403)
        action = request.form.get("action")
        try:
            if action == "save":
                if request.form.get("version", "") != str(price_list.version):
                    raise ValidationFailed(
                        {"_form": [_("Someone changed this price list meanwhile; reload it.")]},
                        409,
                    )
                services.update_price_list(price_list, _list_data())
                flash(_("The price list is saved."), "success")
            elif action == "set_item":
                product = services.find_by_sku(request.form.get("sku"))
                product_id = product.id if product else request.form.get("product_id")
                if not product_id:
                    raise ValidationFailed({"sku": [_("No product has this SKU.")]})
                services.set_item(
                    price_list, {"product_id": product_id, "price": request.form.get("price")}
                )
                flash(_("The price is saved."), "success")
            elif action == "delete_item":
                item = db.session.get(PriceListItem, _form_id("item_id"))
                if item is not None and item.price_list_id == price_list.id:
                    services.delete_item(item)
            elif action == "delete":
                services.delete_price_list(price_list)
                flash(_("The price list is deleted."), "success")
                return redirect(url_for(".price_lists"))
            return redirect(url_for(".price_list", list_id=list_id))
        except ValidationFailed as exc:
            db.session.rollback()
            errors, status = exc.errors, exc.status
            price_list = db.session.get(PriceList, list_id)
    after = _int_arg("after") or 0
    items = db.session.execute(
        sa.select(PriceListItem, Product)
        .join(Product, Product.id == PriceListItem.product_id)
        .where(PriceListItem.price_list_id == list_id, PriceListItem.id > after)
        .order_by(PriceListItem.id)
        .limit(PAGE + 1)
    ).all()
    more = len(items) > PAGE
    items = items[:PAGE]
    return render_template(
        "sales/catalog/price_list.html",
        price_list=price_list,
        items=items,
        next_url=url_for(".price_list", list_id=list_id, after=items[-1][0].id) if more else None,
        errors=errors,
        form=request.form if errors else {},
        can_edit=current_principal().has_permission(EDIT),
    ), status


def _form_id(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


# --- import -------------------------------------------------------------------------------


@bp.route("/import", methods=["GET", "POST"])
@requires(EDIT)
def import_upload():
    errors: dict[str, list[str]] = {}
    user = current_principal()
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            errors = {"file": [_("Choose a CSV or XLSX file.")]}
        else:
            try:
                job = importer.upload(
                    upload.read(importer.MAX_BYTES + 1),
                    upload.filename,
                    user.id,
                    request.form.get("encoding") or None,
                    request.form.get("delimiter") or None,
                )
                return redirect(url_for(".import_show", import_id=job.id))
            except ValidationFailed as exc:
                db.session.rollback()
                errors = exc.errors
    query = sa.select(ProductImport).order_by(ProductImport.id.desc()).limit(20)
    if not user.is_admin:
        query = query.where(ProductImport.created_by_id == user.id)
    return render_template(
        "sales/catalog/import.html",
        imports=db.session.execute(query).scalars().all(),
        encodings=reader.ENCODINGS,
        errors=errors,
        limit_mb=importer.MAX_BYTES // 1048576,
    ), (422 if errors else 200)


def _visible_import(import_id: int) -> ProductImport:
    job = db.session.get(ProductImport, import_id)
    user = current_principal()
    if job is None or (job.created_by_id != user.id and not user.is_admin):
        abort(404)
    return job


@bp.route("/import/<int:import_id>", methods=["GET", "POST"])
@requires(EDIT)
def import_show(import_id: int):
    job = _visible_import(import_id)
    errors: dict[str, list[str]] = {}
    check = None
    mapping = list(job.mapping or [])
    if request.method == "POST" and job.status != "done":
        mapping = [request.form.get(f"column-{i}") or None for i in range(len(job.header))]
        dry_run = request.form.get("action") != "start"
        try:
            result = importer.run(job, mapping, current_principal().id, dry_run=dry_run)
            if not dry_run:
                flash(
                    _(
                        "Imported: %(c)s created, %(u)s updated, %(n)s unchanged, %(f)s rows with "
                        "problems.",
                        c=result["created_count"],
                        u=result["updated_count"],
                        n=result["unchanged_count"],
                        f=result["failed_count"],
                    ),
                    "success" if not result["failed_count"] else "warning",
                )
                return redirect(url_for(".import_show", import_id=job.id))
            check = result
            job = _visible_import(import_id)
        except ValidationFailed as exc:
            db.session.rollback()
            errors = exc.errors
            job = _visible_import(import_id)
    return render_template(
        "sales/catalog/import_show.html",
        job=job,
        mapping=mapping,
        sample=importer.sample(job) if job.status != "done" else [],
        targets=importer.targets(),
        check=check,
        problems=(check or {}).get("problems", job.problems or [])[:100],
        errors=errors,
    ), (422 if errors else 200)


@bp.route("/import/<int:import_id>/problems.csv")
@requires(EDIT)
def import_report(import_id: int):
    job = _visible_import(import_id)
    return Response(
        importer.report_csv(job),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="product-import-{job.id}.csv"'},
    )
