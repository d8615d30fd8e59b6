"""Marshmallow schemas of the catalog API (products, groups, price lists, imports)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.api import UtcDateTime
from plugins.sales.catalog.services import KINDS

ID = validate.Range(min=1, max=2**63 - 1)


def _money(**kwargs) -> fields.Decimal:
    return fields.Decimal(
        places=2,
        as_string=True,
        validate=validate.Range(min=0, error="The price cannot be negative."),
        # The limits as numbers: apispec would write them as the field does, as strings.
        metadata={"description": "A decimal number >= 0 (two decimal places).", "minimum": 0},
        **kwargs,
    )


class ProductInSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=300))
    sku = fields.String(allow_none=True, validate=validate.Length(max=64))
    kind = fields.String(validate=validate.OneOf(KINDS))
    group_id = fields.Integer(strict=True, allow_none=True, validate=ID)
    unit = fields.String(validate=validate.Length(max=20))
    price = _money()
    currency = fields.String(
        validate=validate.Length(equal=3), metadata={"description": "ISO 4217 code, e.g. EUR."}
    )
    vat_rate = fields.Decimal(
        places=2,
        as_string=True,
        validate=validate.Range(min=0, max=100, error="Enter a percentage between 0 and 100."),
        metadata={"minimum": 0, "maximum": 100},
    )
    active = fields.Boolean()
    description = fields.String(validate=validate.Length(max=20_000))


class ProductCreateSchema(ProductInSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=300))


class ProductPatchSchema(ProductInSchema):
    version = fields.Integer(required=True, metadata={"description": "The version you read."})


class ProductOutSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    sku = fields.String(allow_none=True)
    kind = fields.String()
    group_id = fields.Integer(allow_none=True)
    unit = fields.String()
    price = fields.Decimal(as_string=True)
    currency = fields.String()
    vat_rate = fields.Decimal(as_string=True)
    active = fields.Boolean()
    description = fields.String()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    version = fields.Integer()


class ProductListQuerySchema(Schema):
    q = fields.String(
        validate=validate.Length(max=200),
        metadata={"description": "Name or SKU prefix (case-insensitive)."},
    )
    group_id = fields.Integer(validate=ID, metadata={"description": "The group and its subgroups."})
    active = fields.Boolean()
    kind = fields.String(validate=validate.OneOf(KINDS))
    cursor = fields.String(validate=validate.Length(max=1000))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class ProductPageSchema(Schema):
    items = fields.List(fields.Nested(ProductOutSchema))
    next_cursor = fields.String(allow_none=True)


class DeleteResultSchema(Schema):
    result = fields.String(metadata={"description": '"deleted" or "deactivated"'})


class GroupInSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    parent_id = fields.Integer(strict=True, allow_none=True, validate=ID)


class GroupCreateSchema(GroupInSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class GroupPatchSchema(GroupInSchema):
    version = fields.Integer(required=True)


class GroupOutSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    parent_id = fields.Integer(allow_none=True)
    path = fields.String(metadata={"description": 'The full path, e.g. "Windows / PVC".'})
    version = fields.Integer()


class PriceListInSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    currency = fields.String(validate=validate.Length(equal=3))
    active = fields.Boolean()
    valid_from = fields.Date(allow_none=True)
    valid_to = fields.Date(allow_none=True)


class PriceListCreateSchema(PriceListInSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    currency = fields.String(required=True, validate=validate.Length(equal=3))


class PriceListPatchSchema(PriceListInSchema):
    version = fields.Integer(required=True)


class PriceListOutSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    currency = fields.String()
    active = fields.Boolean()
    valid_from = fields.Date(allow_none=True)
    valid_to = fields.Date(allow_none=True)
    version = fields.Integer()


class ItemInSchema(Schema):
    product_id = fields.Integer(required=True, strict=True, validate=ID)
    price = _money(required=True)


class ItemPatchSchema(Schema):
    price = _money(required=True)
    version = fields.Integer(required=True)


class ItemOutSchema(Schema):
    id = fields.Integer()
    price_list_id = fields.Integer()
    product_id = fields.Integer()
    price = fields.Decimal(as_string=True)
    version = fields.Integer()


class ItemListQuerySchema(Schema):
    cursor = fields.Integer(validate=validate.Range(min=0, max=2**63 - 1))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class ItemPageSchema(Schema):
    items = fields.List(fields.Nested(ItemOutSchema))
    next_cursor = fields.Integer(allow_none=True)


class PriceQuerySchema(Schema):
    price_list_id = fields.Integer(validate=ID)
    on = fields.Date(metadata={"description": "The date (today when not given)."})


class PriceOutSchema(Schema):
    amount = fields.Decimal(as_string=True)
    currency = fields.String()
    price_list_id = fields.Integer(allow_none=True)


class ImportFormSchema(Schema):
    encoding = fields.String(validate=validate.Length(max=20))
    delimiter = fields.String(validate=validate.Length(max=2))
    mapping = fields.String(
        metadata={
            "description": "JSON list: the field of each column by position (null skips it); "
            "guessed from the header when not given."
        }
    )


class ImportFileSchema(ImportFormSchema):
    """The multipart body: the file, and the optional form fields (read from the form part
    of the body with ``ImportFormSchema``; listed here so the OpenAPI document shows them:
    OpenAPI 3 has one request body, not a form and a file parameter)."""

    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class ProblemSchema(Schema):
    line = fields.Integer()
    column = fields.String()
    value = fields.String()
    reason = fields.String()


class ImportOutSchema(Schema):
    id = fields.Integer()
    filename = fields.String()
    status = fields.String()
    total_rows = fields.Integer()
    created_count = fields.Integer()
    updated_count = fields.Integer()
    unchanged_count = fields.Integer()
    failed_count = fields.Integer()
    seconds = fields.Float()
    header = fields.List(fields.String())
    mapping = fields.List(fields.String(allow_none=True))
    problems = fields.Method("_problems")
    report_url = fields.Method("_report_url")

    def _problems(self, job):
        return [
            {"line": line, "column": column, "value": value, "reason": reason}
            for line, column, value, reason in (job.problems or [])[:1000]
        ]

    def _report_url(self, job):
        return f"/api/v1/sales/product-imports/{job.id}/problems.csv"
