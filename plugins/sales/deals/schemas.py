"""Marshmallow schemas of pipelines and deals for the API (the web forms send the same
fields to the same services)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.tasks.schemas import UtcDateTime
from plugins.sales.models import STAGE_KINDS

ID = validate.Range(min=1, max=2**63 - 1)


def _money(**kwargs) -> fields.Decimal:
    return fields.Decimal(as_string=True, allow_nan=False, **kwargs)


class StageInSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    probability = fields.Integer(strict=True, load_default=0, validate=validate.Range(0, 100))
    target_hours = fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(1, 24 * 366),
        metadata={"description": "Target time in the stage, in hours."},
    )
    kind = fields.String(load_default="open", validate=validate.OneOf(STAGE_KINDS))


class StageOutSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    position = fields.Integer()
    probability = fields.Integer()
    target_hours = fields.Integer(allow_none=True)
    kind = fields.String()


class PipelineInSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    stages = fields.List(
        fields.Nested(StageInSchema),
        validate=validate.Length(max=50),
        metadata={"description": "In order; without stages: New, Won and Lost."},
    )


class PipelineOutSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    position = fields.Integer()
    active = fields.Boolean()
    stages = fields.List(fields.Nested(StageOutSchema))
    version = fields.Integer()


class DealLineSchema(Schema):
    product_id = fields.Integer(
        strict=True,
        allow_none=True,
        validate=ID,
        metadata={"description": "A catalog product: fills name, unit, price and VAT."},
    )
    name = fields.String(validate=validate.Length(max=300))
    unit = fields.String(validate=validate.Length(max=20))
    quantity = _money(metadata={"description": "Above zero."})
    price = _money(metadata={"description": "Zero or more, before discount and VAT."})
    discount_percent = _money()
    vat_rate = _money(metadata={"description": "Percent, charged on the net amount."})


class DealLineOutSchema(DealLineSchema):
    id = fields.Integer()
    position = fields.Integer()
    net_amount = _money()
    vat_amount = _money()
    total_amount = _money()


class DealInSchema(Schema):
    title = fields.String(validate=validate.Length(max=300))
    client_id = fields.Integer(strict=True, validate=ID)
    contact_person_id = fields.Integer(strict=True, allow_none=True, validate=ID)
    owner_id = fields.Integer(strict=True, validate=ID)
    amount = _money(metadata={"description": "Ignored when the deal has lines."})
    currency = fields.String(metadata={"description": "ISO 4217 code."})
    expected_close_on = fields.Date(allow_none=True)
    source = fields.String(allow_none=True, validate=validate.Length(max=40))
    campaign = fields.String(allow_none=True, validate=validate.Length(max=200))
    utm = fields.Dict(keys=fields.String(), values=fields.String())
    notes = fields.String(validate=validate.Length(max=20_000))
    lines = fields.List(
        fields.Nested(DealLineSchema),
        metadata={"description": "Replaces every line; the amount becomes their total."},
    )


class DealCreateSchema(DealInSchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    client_id = fields.Integer(strict=True, required=True, validate=ID)
    pipeline_id = fields.Integer(strict=True, validate=ID)
    stage_id = fields.Integer(
        strict=True, validate=ID, metadata={"description": "Default: the first stage."}
    )
    lost_reason_id = fields.Integer(strict=True, validate=ID)


class DealPatchSchema(DealInSchema):
    version = fields.Integer(required=True, metadata={"description": "The version you read."})


class DealMoveSchema(Schema):
    stage_id = fields.Integer(strict=True, required=True, validate=ID)
    lost_reason_id = fields.Integer(
        strict=True, allow_none=True, validate=ID, metadata={"description": "For a lost stage."}
    )
    note = fields.String(load_default="", validate=validate.Length(max=2000))
    version = fields.Integer(metadata={"description": "If sent, a changed deal gets 409."})


class DealOutSchema(Schema):
    id = fields.Integer()
    title = fields.String()
    client_id = fields.Integer()
    contact_person_id = fields.Integer(allow_none=True)
    pipeline_id = fields.Integer()
    stage_id = fields.Integer()
    owner_id = fields.Integer(allow_none=True)
    amount = _money()
    currency = fields.String()
    expected_close_on = fields.Date(allow_none=True)
    source = fields.String(allow_none=True)
    campaign = fields.String(allow_none=True)
    utm = fields.Dict()
    lost_reason_id = fields.Integer(allow_none=True)
    lost_note = fields.String()
    closed_at = UtcDateTime(allow_none=True)
    stage_entered_at = UtcDateTime()
    notes = fields.String()
    lines = fields.List(fields.Nested(DealLineOutSchema))
    created_by_id = fields.Integer(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    version = fields.Integer()


class DealListQuerySchema(Schema):
    pipeline_id = fields.Integer(validate=ID)
    stage_id = fields.Integer(validate=ID)
    owner_id = fields.Integer(validate=ID)
    client_id = fields.Integer(validate=ID)
    source = fields.String(validate=validate.Length(max=40))
    status = fields.String(validate=validate.OneOf(STAGE_KINDS))
    q = fields.String(
        validate=validate.Length(max=200), metadata={"description": "Title starts with."}
    )
    created_from = fields.Date(metadata={"description": "Created on or after (UTC)."})
    created_to = fields.Date(metadata={"description": "Created on or before (UTC)."})
    expected_from = fields.Date()
    expected_to = fields.Date()
    cursor = fields.Integer(validate=ID, metadata={"description": "``next_cursor`` of a page."})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class DealPageSchema(Schema):
    items = fields.List(fields.Nested(DealOutSchema))
    next_cursor = fields.Integer(allow_none=True)
