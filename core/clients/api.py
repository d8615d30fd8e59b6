"""JSON API for clients, their contact persons and relations, and the global search."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import current_app, jsonify, request
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, ValidationError, fields, validate

from core.api import ApiBlueprint, refuse_invalid, refuse_stale
from core.clients import bulk, duplicates, merge, queries, services
from core.clients.custom_fields import active_fields, coerce
from core.clients.models import ClientRelation, ContactPerson
from core.clients.schemas import (
    ClientCreateSchema,
    ClientListQuerySchema,
    ClientOutSchema,
    ClientPageSchema,
    ClientPatchSchema,
    ClientSummarySchema,
    ContactInSchema,
    ContactMoveSchema,
    ContactOutSchema,
    CsvList,
    RelationInSchema,
    detail_json,
    summary_json,
)
from core.db import db
from core.security import current_principal, login_required_only, requires
from core.users.services import ValidationFailed

blp = ApiBlueprint("api_clients", __name__, url_prefix="/api/v1/clients", description="Clients")
search_blp = ApiBlueprint(
    "api_search", __name__, url_prefix="/api/v1/search", description="Global search"
)


def _visible(client_id: int, include_trash: bool = False):
    client = queries.card(client_id, current_principal(), include_trash=include_trash)
    if client is None:
        abort(404, message=f"Client {client_id} does not exist or is not yours to see.")
    return client


LIST_QUERY = ClientListQuerySchema()
KNOWN_LIST_PARAMETERS = frozenset(LIST_QUERY.fields)


def list_params(args: dict[str, Any]) -> queries.ClientQuery:
    """Turn validated query arguments (plus cf_<key> custom filters) into a ClientQuery."""
    custom: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    unknown = [k for k in args if k not in KNOWN_LIST_PARAMETERS]
    fields_by_key = {f.key: f for f in active_fields()} if unknown else {}
    for name in unknown:
        value = args.pop(name)
        if not name.startswith("cf_") or name[3:] not in fields_by_key:
            errors[name] = ["Unknown parameter."]
            continue
        field = fields_by_key[name[3:]]
        try:
            raw = value.split(",") if field.kind == "multi" and isinstance(value, str) else value
            custom[field.key] = coerce(field, raw)
        except ValueError as exc:
            errors[name] = [str(exc)]
    if errors:
        raise ValidationFailed(errors)
    return queries.ClientQuery(**{k: v for k, v in args.items() if v is not None}, custom=custom)


@blp.route("")
class Clients(MethodView):
    @requires("clients.view")
    @blp.arguments(LIST_QUERY, location="query")
    @blp.response(200, ClientPageSchema)
    def get(self, args):
        """Clients the caller may see, ``limit`` at a time; pass ``next_cursor`` as ``cursor``.

        ``q`` searches names, e-mails, phones (any format) and tax ids; filters combine;
        custom fields filter as ``cf_<key>=value``.
        """
        # webargs drops unknown query parameters; custom-field filters are read here.
        extra = {k: v for k, v in request.args.items() if k.startswith("cf_")}
        try:
            params = list_params({**args, **extra})
            items, cursor = queries.page(params, current_principal())
        except ValidationFailed as exc:
            abort(422, message="Invalid input.", errors={"query": exc.errors})
        except queries.BadCursor as exc:
            abort(422, message=str(exc), errors={"query": {"cursor": [str(exc)]}})
        # Documented by ClientPageSchema; built directly because lists are the hot path.
        return jsonify({"items": [summary_json(i) for i in items], "next_cursor": cursor})

    @requires("clients.create")
    @blp.arguments(ClientCreateSchema)
    @blp.response(201, ClientOutSchema)
    def post(self, data):
        """Create a client; the caller owns it unless ``owner_id`` says otherwise."""
        data.setdefault("owner_id", current_principal().id)
        try:
            return services.create_client(data)
        except ValidationFailed as exc:
            refuse_invalid(exc)


class ExportQuerySchema(ClientListQuerySchema):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


@blp.route("/export")
class Export(MethodView):
    @requires("clients.export")
    @blp.arguments(ExportQuerySchema, location="query")
    @blp.response(200, description="A CSV (UTF-8 with BOM) or XLSX file of the filtered list.")
    def get(self, args):
        """The filtered list as a file, within the caller's scope; formulas are neutralised."""
        from core.clients.views import export_response

        fmt = args.pop("format")
        args.pop("cursor", None)
        extra = {k: v for k, v in request.args.items() if k.startswith("cf_")}
        try:
            params = list_params({**args, **extra})
        except ValidationFailed as exc:
            abort(422, message="Invalid input.", errors={"query": exc.errors})
        return export_response(params, fmt)


class BulkSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(list(bulk.ACTIONS)))
    value = fields.Raw(
        allow_none=True,
        metadata={
            "description": "owner id (assign_owner), status code (set_status) or a list of tag "
            "names (add_tags, remove_tags); none for trash"
        },
    )
    ids = fields.List(fields.Integer(), validate=validate.Length(min=1, max=bulk.MAX_CLIENTS))
    filter = fields.Dict(
        metadata={
            "description": "List filters, as the list's query "
            "parameters; used when ids are not given"
        }
    )


class BulkResultSchema(Schema):
    changed = fields.Integer()


@blp.route("/bulk")
class Bulk(MethodView):
    @requires("clients.edit")
    @blp.arguments(BulkSchema)
    @blp.response(200, BulkResultSchema)
    def post(self, data):
        """Change many clients at once: the ``ids`` given, or all that the ``filter`` matches."""
        user = current_principal()
        needed = bulk.ACTIONS[data["action"]]
        if not user.has_permission(needed):
            abort(403, message=f"You need the permission {needed!r}.")
        if "ids" not in data and "filter" not in data:
            abort(
                422,
                message="Invalid input.",
                errors={"json": {"ids": ["Give the ids or a filter."]}},
            )
        try:
            params = None
            if "ids" not in data:
                loaded = ClientListQuerySchema().load(
                    {k: v for k, v in data["filter"].items() if not k.startswith("cf_")}
                )
                extra = {k: v for k, v in data["filter"].items() if k.startswith("cf_")}
                params = list_params({**loaded, **extra})
            ids = bulk.target_ids(user, data.get("ids"), params)
            return {"changed": bulk.apply(user, data["action"], data.get("value"), ids)}
        except ValidationError as exc:
            abort(422, message="Invalid input.", errors={"json": {"filter": exc.messages}})
        except ValidationFailed as exc:
            refuse_invalid(exc)


class DuplicateQuerySchema(Schema):
    name = fields.String(validate=validate.Length(max=300))
    email = CsvList(fields.String(validate=validate.Length(max=254)), load_default=list)
    phone = CsvList(fields.String(validate=validate.Length(max=40)), load_default=list)
    tax_id = fields.String(validate=validate.Length(max=40))
    exclude_id = fields.Integer()
    limit = fields.Integer(load_default=5, validate=validate.Range(min=1, max=50))


class DuplicateSchema(Schema):
    client = fields.Nested(ClientSummarySchema)
    reasons = fields.List(
        fields.String(), metadata={"description": "e-mail, phone, tax id and/or similar name"}
    )
    score = fields.Integer(metadata={"description": "100 for an exact e-mail/phone/tax id"})


@blp.route("/duplicates")
class Duplicates(MethodView):
    @requires("clients.view")
    @blp.arguments(DuplicateQuerySchema, location="query")
    @blp.response(200, DuplicateSchema(many=True))
    def get(self, args):
        """Clients the caller may see that look like the given data: check before creating."""
        data = {
            "name": args.get("name"),
            "emails": args["email"],
            "phones": args["phone"],
            "tax_id": args.get("tax_id"),
        }
        return duplicates.find(
            data,
            current_principal(),
            exclude_id=args.get("exclude_id"),
            limit=args["limit"],
            region=services.phone_region(),
        )


@blp.route("/<int:client_id>")
class ClientItem(MethodView):
    @requires("clients.view")
    @blp.response(200, ClientOutSchema)
    def get(self, client_id):
        """One client (404 when it is outside the caller's scope)."""
        row = queries.detail(client_id, current_principal())
        if row is None:
            abort(404, message=f"Client {client_id} does not exist or is not yours to see.")
        # Documented by ClientOutSchema; built directly because it is a hot path.
        return jsonify(detail_json(row))

    @requires("clients.edit")
    @blp.arguments(ClientPatchSchema)
    @blp.response(200, ClientOutSchema)
    def patch(self, data, client_id):
        """Change a client; send the ``version`` you read (409 if it changed since)."""
        client = _visible(client_id)
        refuse_stale(client, data.pop("version"), "client")
        try:
            return services.update_client(client, data)
        except ValidationFailed as exc:
            refuse_invalid(exc)

    @requires("clients.delete")
    @blp.response(204)
    def delete(self, client_id):
        """Move a client to the trash; an admin can restore it."""
        services.trash(_visible(client_id), current_principal().id)


@blp.route("/<int:client_id>/restore")
class ClientRestore(MethodView):
    @requires("clients.trash")
    @blp.response(200, ClientOutSchema)
    def post(self, client_id):
        """Bring a client back from the trash."""
        client = _visible(client_id, include_trash=True)
        if client.deleted_at is None:
            abort(409, message="The client is not in the trash.")
        try:
            services.restore(client)
        except ValidationFailed as exc:
            abort(409, message=" ".join(m for msgs in exc.errors.values() for m in msgs))
        return client


class MergeSchema(Schema):
    survivor_id = fields.Integer(required=True)
    merged_ids = fields.List(
        fields.Integer(), required=True, validate=validate.Length(min=1, max=20)
    )
    version = fields.Integer(required=True, metadata={"description": "The survivor's version."})
    fields_from = fields.Dict(
        data_key="fields",
        keys=fields.String(),
        values=fields.Integer(),
        load_default=dict,
        metadata={"description": "Field name -> id of the client whose value the survivor takes."},
    )


@blp.route("/merge")
class Merge(MethodView):
    @requires("clients.merge")
    @blp.arguments(MergeSchema)
    @blp.response(200, ClientOutSchema)
    def post(self, data):
        """Merge duplicates into one client; nothing is lost, the others go to the trash.

        One transaction: if a plugin cannot move its records (deals, invoices, ...) to the
        survivor, nothing is merged and the answer is 409 naming the plugin."""
        survivor = _visible(data["survivor_id"])
        others = []
        for other_id in dict.fromkeys(data["merged_ids"]):
            other = queries.card(other_id, current_principal())
            if other is None:
                abort(
                    422,
                    message="Invalid input.",
                    errors={
                        "json": {
                            "merged_ids": [
                                f"Client {other_id} does not exist or is not yours to see."
                            ]
                        }
                    },
                )
            others.append(other)
        if survivor.version != data["version"]:
            abort(409, message="The surviving client was changed meanwhile; reload and retry.")
        try:
            return merge.merge(survivor, others, data["fields_from"])
        except ValidationFailed as exc:
            if exc.status == 409:  # a part of the merge failed; nothing was merged
                db.session.rollback()
                message = " ".join(m for msgs in exc.errors.values() for m in msgs)
                abort(409, message=message, errors={"json": exc.errors})
            refuse_invalid(exc)


@blp.route("/<int:client_id>/purge")
class ClientPurge(MethodView):
    @requires("clients.trash")
    @blp.response(204)
    def post(self, client_id):
        """Delete a trashed client for good, with its contact persons and history."""
        try:
            services.purge(_visible(client_id, include_trash=True))
        except ValidationFailed as exc:
            abort(409, message=" ".join(m for msgs in exc.errors.values() for m in msgs))


@blp.route("/<int:client_id>/contacts")
class Contacts(MethodView):
    @requires("clients.view")
    @blp.response(200, ContactOutSchema(many=True))
    def get(self, client_id):
        """The client's contact persons."""
        return _visible(client_id).contacts

    @requires("clients.edit")
    @blp.arguments(ContactInSchema)
    @blp.response(201, ContactOutSchema)
    def post(self, data, client_id):
        """Add a contact person to a company."""
        client = _visible(client_id)
        try:
            return services.save_contact(client, data)
        except ValidationFailed as exc:
            refuse_invalid(exc)


def _contact(client_id: int, contact_id: int) -> ContactPerson:
    client = _visible(client_id)
    contact = db.session.get(ContactPerson, contact_id)
    if contact is None or contact.client_id != client.id:
        abort(404, message=f"Contact person {contact_id} does not exist at this client.")
    return contact


class ContactPatchSchema(ContactInSchema):
    version = fields.Integer(required=True)


@blp.route("/<int:client_id>/contacts/<int:contact_id>")
class ContactItem(MethodView):
    @requires("clients.view")
    @blp.response(200, ContactOutSchema)
    def get(self, client_id, contact_id):
        """One contact person."""
        return _contact(client_id, contact_id)

    @requires("clients.edit")
    @blp.arguments(ContactPatchSchema)
    @blp.response(200, ContactOutSchema)
    def patch(self, data, client_id, contact_id):
        """Change a contact person; send the ``version`` you read."""
        contact = _contact(client_id, contact_id)
        if contact.version != data.pop("version"):
            abort(409, message="This contact person was changed by someone else meanwhile.")
        try:
            return services.save_contact(contact.client, data, contact)
        except ValidationFailed as exc:
            refuse_invalid(exc)

    @requires("clients.edit")
    @blp.response(204)
    def delete(self, client_id, contact_id):
        """Remove a contact person."""
        services.delete_contact(_contact(client_id, contact_id))


@blp.route("/<int:client_id>/contacts/<int:contact_id>/move")
class ContactMoveView(MethodView):
    @requires("clients.edit")
    @blp.arguments(ContactMoveSchema)
    @blp.response(200, ContactOutSchema)
    def post(self, data, client_id, contact_id):
        """Move a person to another company; where they worked before is kept."""
        contact = _contact(client_id, contact_id)
        target = queries.get_visible(data["to_client_id"], current_principal())
        if target is None:
            abort(
                422,
                message="Invalid input.",
                errors={"json": {"to_client_id": ["No such client you may see."]}},
            )
        try:
            user_id = current_principal().id
            return services.move_contact(contact, target, data.get("position"), user_id)
        except ValidationFailed as exc:
            refuse_invalid(exc)


class RelationOutSchema(Schema):
    id = fields.Integer()
    client_id = fields.Integer()
    other_id = fields.Integer()
    kind = fields.String()


@blp.route("/<int:client_id>/relations")
class Relations(MethodView):
    @requires("clients.view")
    @blp.response(200, RelationOutSchema(many=True))
    def get(self, client_id):
        """Relations from and to this client."""
        client = _visible(client_id)
        return (
            db.session.execute(
                sa.select(ClientRelation)
                .where(
                    sa.or_(
                        ClientRelation.client_id == client.id, ClientRelation.other_id == client.id
                    )
                )
                .order_by(ClientRelation.id)
            )
            .scalars()
            .all()
        )

    @requires("clients.edit")
    @blp.arguments(RelationInSchema)
    @blp.response(201, RelationOutSchema)
    def post(self, data, client_id):
        """Relate this client to another (both must be visible to the caller)."""
        client = _visible(client_id)
        other = queries.get_visible(data["other_id"], current_principal())
        if other is None:
            abort(
                422,
                message="Invalid input.",
                errors={"json": {"other_id": ["No such client you may see."]}},
            )
        try:
            return services.add_relation(client, other, data["kind"])
        except ValidationFailed as exc:
            refuse_invalid(exc)


class SearchQuerySchema(Schema):
    q = fields.String(required=True, validate=validate.Length(min=1, max=200))
    limit = fields.Integer(load_default=8, validate=validate.Range(min=1, max=50))


class SearchResultSchema(Schema):
    kind = fields.String()
    title = fields.String()
    subtitle = fields.String()
    url = fields.String()


@search_blp.route("")
class GlobalSearch(MethodView):
    @login_required_only
    @search_blp.arguments(SearchQuerySchema, location="query")
    @search_blp.response(200, SearchResultSchema(many=True))
    def get(self, args):
        """Search everything the caller may see: clients, and what plugins add."""
        from core.clients.global_search import run

        return run(current_app, current_principal(), args["q"].strip(), args["limit"])
