"""Marshmallow schemas for clients and contact persons, shared by the API and the web forms."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from core.clients.models import KINDS, RELATION_KINDS

PHONE_KINDS = ("work", "mobile", "home", "fax", "other")
EMAIL_KINDS = ("work", "personal", "billing", "other")
ADDRESS_KINDS = ("legal", "postal", "delivery", "office", "other")


class PhoneInSchema(Schema):
    number = fields.String(required=True, validate=validate.Length(min=1, max=40))
    kind = fields.String(load_default="work", validate=validate.OneOf(PHONE_KINDS))


class EmailInSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=254))
    kind = fields.String(load_default="work", validate=validate.OneOf(EMAIL_KINDS))


class AddressSchema(Schema):
    kind = fields.String(load_default="legal", validate=validate.OneOf(ADDRESS_KINDS))
    country = fields.String(load_default="", validate=validate.Length(max=80))
    region = fields.String(load_default="", validate=validate.Length(max=120))
    city = fields.String(load_default="", validate=validate.Length(max=120))
    postcode = fields.String(load_default="", validate=validate.Length(max=20))
    street = fields.String(load_default="", validate=validate.Length(max=300))


def _as_objects(value: Any, key: str) -> Any:
    """Accept ["+49 30 1234567"] as well as [{"number": "...", "kind": "mobile"}]."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        return [{key: item} if isinstance(item, str) else item for item in value]
    return value


class _ClientFields(Schema):
    kind = fields.String(validate=validate.OneOf(KINDS))
    name = fields.String(validate=validate.Length(min=1, max=300))
    legal_name = fields.String(allow_none=True, validate=validate.Length(max=300))
    tax_id = fields.String(allow_none=True, validate=validate.Length(max=40))
    industry = fields.String(allow_none=True, validate=validate.Length(max=120))
    status = fields.String(validate=validate.Length(min=1, max=40))
    category = fields.String(allow_none=True, validate=validate.Length(max=120))
    source = fields.String(allow_none=True, validate=validate.Length(max=40))
    owner_id = fields.Integer(allow_none=True)
    tags = fields.List(
        fields.String(validate=validate.Length(min=1, max=60)), validate=validate.Length(max=50)
    )
    notes = fields.String(validate=validate.Length(max=20000))
    next_contact_on = fields.Date(allow_none=True)
    website = fields.String(allow_none=True, validate=validate.Length(max=300))
    phones = fields.List(fields.Nested(PhoneInSchema), validate=validate.Length(max=20))
    emails = fields.List(fields.Nested(EmailInSchema), validate=validate.Length(max=20))
    addresses = fields.List(fields.Nested(AddressSchema), validate=validate.Length(max=10))
    custom = fields.Dict(keys=fields.String(validate=validate.Length(max=40)))

    @pre_load
    def _shorthand(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if "phones" in data:
                data["phones"] = _as_objects(data["phones"], "number")
            if "emails" in data:
                data["emails"] = _as_objects(data["emails"], "email")
            # The single "phone"/"email" of DESIGN.md's resource are the first of the lists.
            if "phone" in data and "phones" not in data:
                data["phones"] = _as_objects(data.pop("phone") or [], "number")
            if "email" in data and "emails" not in data:
                data["emails"] = _as_objects(data.pop("email") or [], "email")
        return data


class ClientCreateSchema(_ClientFields):
    name = fields.String(required=True, validate=validate.Length(min=1, max=300))


class ClientPatchSchema(_ClientFields):
    version = fields.Integer(required=True)


class PhoneOutSchema(Schema):
    number = fields.String(attribute="e164")
    kind = fields.String()


class EmailOutSchema(Schema):
    email = fields.String()
    kind = fields.String()


class ClientOutSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    name = fields.String()
    legal_name = fields.String(allow_none=True)
    tax_id = fields.String(allow_none=True)
    industry = fields.String(allow_none=True)
    status = fields.String()
    category = fields.String(allow_none=True)
    source = fields.String(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    tags = fields.Method("_tags")
    notes = fields.String()
    next_contact_on = fields.Date(allow_none=True)
    website = fields.String(allow_none=True)
    email = fields.Method("_email", metadata={"description": "The first e-mail."})
    phone = fields.Method("_phone", metadata={"description": "The first phone, E.164."})
    emails = fields.List(fields.Nested(EmailOutSchema))
    phones = fields.List(fields.Nested(PhoneOutSchema))
    addresses = fields.List(fields.Nested(AddressSchema))
    custom = fields.Dict()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    deleted_at = fields.DateTime(allow_none=True)
    version = fields.Integer()

    def _tags(self, client) -> list[str]:
        return [t.name for t in client.tags]

    def _email(self, client) -> str | None:
        return client.emails[0].email if client.emails else None

    def _phone(self, client) -> str | None:
        return client.phones[0].e164 if client.phones else None


class ClientSummarySchema(ClientOutSchema):
    class Meta:
        exclude = ("addresses", "notes")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def summary_json(row: Any) -> dict[str, Any]:
    """``ClientSummarySchema().dump(row)`` written out by hand: lists answer in a fraction
    of the time. tests/test_clients_api_shape.py keeps the two identical."""
    return {
        "id": row.id,
        "kind": row.kind,
        "name": row.name,
        "legal_name": row.legal_name,
        "tax_id": row.tax_id,
        "industry": row.industry,
        "status": row.status,
        "category": row.category,
        "source": row.source,
        "owner_id": row.owner_id,
        "tags": [t.name for t in row.tags],
        "next_contact_on": _iso(row.next_contact_on),
        "website": row.website,
        "email": row.emails[0].email if row.emails else None,
        "phone": row.phones[0].e164 if row.phones else None,
        "emails": [{"email": e.email, "kind": e.kind} for e in row.emails],
        "phones": [{"number": p.e164, "kind": p.kind} for p in row.phones],
        "custom": row.custom,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "deleted_at": _iso(row.deleted_at),
        "version": row.version,
    }


def detail_json(row: Any) -> dict[str, Any]:
    """``ClientOutSchema().dump(row)`` written out by hand, for the API's client detail;
    tests/test_clients_api_shape.py keeps the two identical."""
    out = summary_json(row)
    out["notes"] = row.notes
    out["addresses"] = [
        {
            "kind": a.kind,
            "country": a.country,
            "region": a.region,
            "city": a.city,
            "postcode": a.postcode,
            "street": a.street,
        }
        for a in row.addresses
    ]
    return out


class ClientPageSchema(Schema):
    items = fields.List(fields.Nested(ClientSummarySchema))
    next_cursor = fields.String(allow_none=True)


def _csv_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return value
    return [v for v in str(value).split(",") if v]


class CsvList(fields.Field):
    """``?status=lead,customer`` or ``?status=lead&status=customer``."""

    def __init__(self, inner: fields.Field, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inner = inner

    def _deserialize(self, value, attr, data, **kwargs):
        values = []
        for item in _csv_list(value):
            try:
                values.append(self.inner.deserialize(item))
            except ValidationError as exc:
                raise ValidationError(exc.messages) from exc
        return values


class ClientListQuerySchema(Schema):
    q = fields.String(load_default="", validate=validate.Length(max=200))
    kind = fields.String(validate=validate.OneOf(KINDS))
    status = CsvList(fields.String(validate=validate.Length(max=40)), load_default=list)
    source = CsvList(fields.String(validate=validate.Length(max=40)), load_default=list)
    owner_id = CsvList(fields.Integer(), load_default=list)
    tags = CsvList(fields.String(validate=validate.Length(max=60)), load_default=list)
    industry = fields.String(validate=validate.Length(max=120))
    created_from = fields.Date()
    created_to = fields.Date()
    updated_from = fields.Date()
    updated_to = fields.Date()
    next_contact_due = fields.Boolean(load_default=False)
    sort = fields.String(
        load_default="name",
        validate=validate.OneOf(
            ["name", "-name", "created", "-created", "updated", "-updated", "next_contact"]
        ),
    )
    cursor = fields.String(validate=validate.Length(max=500))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))

    class Meta:
        # cf_<key>=value filters on custom fields arrive as extra parameters (web forms).
        unknown = "include"


class ContactInSchema(Schema):
    first_name = fields.String(validate=validate.Length(max=100))
    middle_name = fields.String(validate=validate.Length(max=100))
    last_name = fields.String(validate=validate.Length(max=100))
    position = fields.String(validate=validate.Length(max=200))
    birthday = fields.Date(allow_none=True)
    notes = fields.String(validate=validate.Length(max=5000))
    phones = fields.List(fields.Nested(PhoneInSchema), validate=validate.Length(max=10))
    emails = fields.List(fields.Nested(EmailInSchema), validate=validate.Length(max=10))

    @pre_load
    def _shorthand(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if "phones" in data:
                data["phones"] = _as_objects(data["phones"], "number")
            if "emails" in data:
                data["emails"] = _as_objects(data["emails"], "email")
        return data


class ContactOutSchema(Schema):
    id = fields.Integer()
    client_id = fields.Integer()
    first_name = fields.String()
    middle_name = fields.String()
    last_name = fields.String()
    full_name = fields.String()
    position = fields.String()
    birthday = fields.Date(allow_none=True)
    notes = fields.String()
    phones = fields.List(fields.Nested(PhoneOutSchema))
    emails = fields.List(fields.Nested(EmailOutSchema))
    version = fields.Integer()


class ContactMoveSchema(Schema):
    to_client_id = fields.Integer(required=True)
    position = fields.String(validate=validate.Length(max=200))


class RelationInSchema(Schema):
    other_id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(RELATION_KINDS))
