"""JSON API of the catalog: /api/v1/sales/products, product-groups, price-lists (with their
items) and product-imports. Reading needs ``sales.view``, changing ``sales.catalog``."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Response, request
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import ValidationError

from core.api import ApiBlueprint, refuse_invalid, refuse_stale
from core.db import db
from core.security import current_principal, requires
from core.users.services import ValidationFailed
from plugins.sales.catalog import importer, queries, services
from plugins.sales.catalog.models import PriceList, PriceListItem, ProductImport
from plugins.sales.catalog.schemas import (
    DeleteResultSchema,
    GroupCreateSchema,
    GroupOutSchema,
    GroupPatchSchema,
    ImportFileSchema,
    ImportFormSchema,
    ImportOutSchema,
    ItemInSchema,
    ItemListQuerySchema,
    ItemOutSchema,
    ItemPageSchema,
    ItemPatchSchema,
    PriceListCreateSchema,
    PriceListOutSchema,
    PriceListPatchSchema,
    PriceOutSchema,
    PriceQuerySchema,
    ProductCreateSchema,
    ProductListQuerySchema,
    ProductOutSchema,
    ProductPageSchema,
    ProductPatchSchema,
)
from plugins.sales.models import Product, ProductGroup

VIEW, EDIT = "sales.view", "sales.catalog"

blp = ApiBlueprint(
    "sales_catalog_api",
    __name__,
    url_prefix="/api/v1/sales",
    description="Sales: the product catalog, product groups, price lists and product imports",
)


def _get(model, ident: int, noun: str):
    found = db.session.get(model, ident)
    if found is None:
        abort(404, message=f"{noun} {ident} does not exist.")
    return found


def _invalid(exc: ValidationFailed) -> None:
    refuse_invalid(exc)


# --- products -----------------------------------------------------------------------------


@blp.route("/products")
class Products(MethodView):
    @requires(VIEW)
    @blp.arguments(ProductListQuerySchema, location="query")
    @blp.response(200, ProductPageSchema)
    def get(self, args):
        """Products by name, ``limit`` at a time; pass ``next_cursor`` as ``cursor``.
        ``q`` is a name or SKU prefix; ``group_id`` includes its subgroups."""
        query = queries.filtered(
            args.get("q"), args.get("group_id"), args.get("active"), args.get("kind")
        )
        try:
            items, cursor = queries.page(query, args.get("cursor"), args["limit"])
        except queries.BadCursor as exc:
            abort(422, message=str(exc), errors={"query": {"cursor": [str(exc)]}})
        return {"items": items, "next_cursor": cursor}

    @requires(EDIT)
    @blp.arguments(ProductCreateSchema)
    @blp.response(201, ProductOutSchema)
    def post(self, data):
        """Create a product or service (SKU unique, case ignored; currency ISO 4217)."""
        try:
            return services.create_product(data)
        except ValidationFailed as exc:
            _invalid(exc)


@blp.route("/products/<int:product_id>")
class ProductItem(MethodView):
    @requires(VIEW)
    @blp.response(200, ProductOutSchema)
    def get(self, product_id):
        return _get(Product, product_id, "Product")

    @requires(EDIT)
    @blp.arguments(ProductPatchSchema)
    @blp.response(200, ProductOutSchema)
    def patch(self, data, product_id):
        """Change a product; send the ``version`` you read (409 if it changed since)."""
        product = _get(Product, product_id, "Product")
        refuse_stale(product, data.pop("version"), "product")
        try:
            return services.update_product(product, data)
        except ValidationFailed as exc:
            _invalid(exc)

    @requires(EDIT)
    @blp.response(200, DeleteResultSchema)
    def delete(self, product_id):
        """Delete a product, or deactivate it when deal lines refer to it."""
        return {"result": services.delete_product(_get(Product, product_id, "Product"))}


@blp.route("/products/<int:product_id>/price")
class ProductPrice(MethodView):
    @requires(VIEW)
    @blp.arguments(PriceQuerySchema, location="query")
    @blp.response(200, PriceOutSchema)
    def get(self, args, product_id):
        """The product's price on a date, from a price list when it has one for it."""
        product = _get(Product, product_id, "Product")
        price_list = None
        if "price_list_id" in args:
            price_list = _get(PriceList, args["price_list_id"], "Price list")
        return services.price_for(product, price_list, args.get("on"))


# --- groups -------------------------------------------------------------------------------


def _group_out(group: ProductGroup, paths: dict[int, str] | None = None) -> dict:
    paths = paths if paths is not None else services.group_paths()
    return {
        "id": group.id,
        "name": group.name,
        "parent_id": group.parent_id,
        "path": paths.get(group.id, group.name),
        "version": group.version,
    }


@blp.route("/product-groups")
class Groups(MethodView):
    @requires(VIEW)
    @blp.response(200, GroupOutSchema(many=True))
    def get(self):
        """Every product group with its full path, in path order."""
        paths = services.group_paths()
        groups = db.session.execute(sa.select(ProductGroup)).scalars().all()
        return sorted((_group_out(g, paths) for g in groups), key=lambda g: g["path"].casefold())

    @requires(EDIT)
    @blp.arguments(GroupCreateSchema)
    @blp.response(201, GroupOutSchema)
    def post(self, data):
        try:
            return _group_out(services.create_group(data))
        except ValidationFailed as exc:
            _invalid(exc)


@blp.route("/product-groups/<int:group_id>")
class GroupItem(MethodView):
    @requires(VIEW)
    @blp.response(200, GroupOutSchema)
    def get(self, group_id):
        return _group_out(_get(ProductGroup, group_id, "Product group"))

    @requires(EDIT)
    @blp.arguments(GroupPatchSchema)
    @blp.response(200, GroupOutSchema)
    def patch(self, data, group_id):
        """Rename or move a group (never into itself or its subgroups)."""
        group = _get(ProductGroup, group_id, "Product group")
        refuse_stale(group, data.pop("version"), "product group")
        try:
            return _group_out(services.update_group(group, data))
        except ValidationFailed as exc:
            _invalid(exc)

    @requires(EDIT)
    @blp.response(204)
    def delete(self, group_id):
        """Delete a group: subgroups move up, its products keep no group."""
        services.delete_group(_get(ProductGroup, group_id, "Product group"))


# --- price lists --------------------------------------------------------------------------


@blp.route("/price-lists")
class PriceLists(MethodView):
    @requires(VIEW)
    @blp.response(200, PriceListOutSchema(many=True))
    def get(self):
        return db.session.execute(sa.select(PriceList).order_by(PriceList.name)).scalars().all()

    @requires(EDIT)
    @blp.arguments(PriceListCreateSchema)
    @blp.response(201, PriceListOutSchema)
    def post(self, data):
        try:
            return services.create_price_list(data)
        except ValidationFailed as exc:
            _invalid(exc)


@blp.route("/price-lists/<int:list_id>")
class PriceListResource(MethodView):
    @requires(VIEW)
    @blp.response(200, PriceListOutSchema)
    def get(self, list_id):
        return _get(PriceList, list_id, "Price list")

    @requires(EDIT)
    @blp.arguments(PriceListPatchSchema)
    @blp.response(200, PriceListOutSchema)
    def patch(self, data, list_id):
        price_list = _get(PriceList, list_id, "Price list")
        refuse_stale(price_list, data.pop("version"), "price list")
        try:
            return services.update_price_list(price_list, data)
        except ValidationFailed as exc:
            _invalid(exc)

    @requires(EDIT)
    @blp.response(204)
    def delete(self, list_id):
        services.delete_price_list(_get(PriceList, list_id, "Price list"))


@blp.route("/price-lists/<int:list_id>/items")
class PriceListItems(MethodView):
    @requires(VIEW)
    @blp.arguments(ItemListQuerySchema, location="query")
    @blp.response(200, ItemPageSchema)
    def get(self, args, list_id):
        """The list's prices by item id, ``limit`` at a time."""
        _get(PriceList, list_id, "Price list")
        query = sa.select(PriceListItem).where(PriceListItem.price_list_id == list_id)
        if "cursor" in args:
            query = query.where(PriceListItem.id > args["cursor"])
        limit = args["limit"]
        rows = db.session.execute(query.order_by(PriceListItem.id).limit(limit + 1)).scalars()
        rows = rows.all()
        return {
            "items": rows[:limit],
            "next_cursor": rows[limit - 1].id if len(rows) > limit else None,
        }

    @requires(EDIT)
    @blp.arguments(ItemInSchema)
    @blp.response(201, ItemOutSchema)
    def post(self, data, list_id):
        """Set a product's price in the list (replaces the price it had there)."""
        price_list = _get(PriceList, list_id, "Price list")
        try:
            return services.set_item(price_list, data)
        except ValidationFailed as exc:
            _invalid(exc)


@blp.route("/price-lists/<int:list_id>/items/<int:item_id>")
class PriceListItemResource(MethodView):
    def _item(self, list_id: int, item_id: int) -> PriceListItem:
        item = db.session.get(PriceListItem, item_id)
        if item is None or item.price_list_id != list_id:
            abort(404, message=f"Price list {list_id} has no item {item_id}.")
        return item

    @requires(VIEW)
    @blp.response(200, ItemOutSchema)
    def get(self, list_id, item_id):
        return self._item(list_id, item_id)

    @requires(EDIT)
    @blp.arguments(ItemPatchSchema)
    @blp.response(200, ItemOutSchema)
    def patch(self, data, list_id, item_id):
        item = self._item(list_id, item_id)
        refuse_stale(item, data.pop("version"), "price list item")
        try:
            return services.update_item(item, data)
        except ValidationFailed as exc:
            _invalid(exc)

    @requires(EDIT)
    @blp.response(204)
    def delete(self, list_id, item_id):
        services.delete_item(self._item(list_id, item_id))


# --- imports ------------------------------------------------------------------------------


@blp.route("/product-imports")
class ProductImports(MethodView):
    @requires(EDIT)
    @blp.arguments(ImportFileSchema, location="files")
    @blp.response(201, ImportOutSchema)
    def post(self, files):
        """Import products from a CSV or XLSX file (multipart ``file``). The columns are
        guessed from the header unless ``mapping`` is given. Synchronous: the answer holds
        the figures and the problems (also as CSV at ``report_url``)."""
        upload = files["file"]
        user = current_principal()
        try:
            form = ImportFormSchema().load(request.form.to_dict())
        except ValidationError as exc:
            abort(422, message="Invalid input.", errors={"form": exc.messages})
        try:
            job = importer.upload(
                upload.read(),
                upload.filename or "",
                user.id,
                form.get("encoding"),
                form.get("delimiter"),
            )
            importer.run(job, importer.parse_mapping_text(form.get("mapping"), job), user.id)
        except ValidationFailed as exc:
            _invalid(exc)
        return job


def _import(import_id: int) -> ProductImport:
    job = db.session.get(ProductImport, import_id)
    user = current_principal()
    if job is None or (job.created_by_id != user.id and not user.is_admin):
        abort(404, message=f"Product import {import_id} does not exist.")
    return job


@blp.route("/product-imports/<int:import_id>")
class ProductImportItem(MethodView):
    @requires(EDIT)
    @blp.response(200, ImportOutSchema)
    def get(self, import_id):
        return _import(import_id)


@blp.route("/product-imports/<int:import_id>/problems.csv")
class ProductImportReport(MethodView):
    @requires(EDIT)
    @blp.response(200, content_type="text/csv")
    def get(self, import_id):
        """The rows that were not imported: line, column, value, reason and the row."""
        job = _import(import_id)
        return Response(
            importer.report_csv(job),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="product-import-{job.id}.csv"'},
        )
