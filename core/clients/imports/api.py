"""JSON API for client imports: upload, map and preview, run, follow, and the problem report."""

from __future__ import annotations

import sqlalchemy as sa
from flask import request
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from core.api import ApiBlueprint, refuse_invalid
from core.clients.imports import mapping, reader, report, services
from core.clients.imports.models import ON_DUPLICATE, ClientImport, ClientImportIssue
from core.db import db
from core.security import current_actor, requires
from core.users.services import ValidationFailed

blp = ApiBlueprint(
    "api_client_imports",
    __name__,
    url_prefix="/api/v1/clients/imports",
    description="Importing clients from CSV and XLSX files",
)


class ImportSchema(Schema):
    id = fields.Integer()
    filename = fields.String()
    size = fields.Integer(metadata={"description": "bytes"})
    file_kind = fields.String(metadata={"description": "csv or xlsx"})
    encoding = fields.String(allow_none=True)
    delimiter = fields.String(allow_none=True)
    header = fields.List(fields.String(), metadata={"description": "the file's column titles"})
    total_rows = fields.Integer()
    mapping = fields.List(
        fields.String(allow_none=True),
        metadata={"description": "the field each column goes to (null: left out)"},
    )
    on_duplicate = fields.String()
    default_owner_id = fields.Integer(allow_none=True)
    dry_run = fields.Boolean()
    status = fields.String(metadata={"description": "uploaded, queued, running, done or failed"})
    processed = fields.Integer()
    created_count = fields.Integer()
    updated_count = fields.Integer()
    skipped_count = fields.Integer()
    failed_count = fields.Integer()
    message = fields.String()
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    created_by_id = fields.Integer(allow_none=True)


class UploadedSchema(ImportSchema):
    sample = fields.List(fields.List(fields.String()), metadata={"description": "first rows"})
    earlier_imports = fields.List(
        fields.Integer(), metadata={"description": "finished imports of the same file"}
    )


class ImportPageSchema(Schema):
    items = fields.List(fields.Nested(ImportSchema))
    next_cursor = fields.String(allow_none=True)


class UploadSchema(Schema):
    """The multipart body: the file, and optionally its encoding and delimiter (read from
    the form part of the body; listed here so the OpenAPI document shows them)."""

    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})
    encoding = fields.String(
        metadata={"description": "leave out to detect it", "enum": list(reader.ENCODINGS)}
    )
    delimiter = fields.String(
        metadata={
            "description": "CSV only; leave out to detect it",
            "enum": list(reader.DELIMITERS),
        }
    )


class SettingsSchema(Schema):
    mapping = fields.List(
        fields.String(allow_none=True),
        metadata={"description": "one field code (see /fields) or null per column"},
    )
    on_duplicate = fields.String(validate=validate.OneOf(ON_DUPLICATE))
    default_owner_id = fields.Integer(allow_none=True, strict=True)


class StartSchema(SettingsSchema):
    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "check every row, create nothing"}
    )


class PreviewRowSchema(Schema):
    row = fields.Integer(metadata={"description": "line in the file"})
    action = fields.String(metadata={"description": "create, update, skip or error"})
    name = fields.String()
    client_id = fields.Integer(allow_none=True)
    matches = fields.List(fields.Integer())
    reason = fields.String()
    errors = fields.List(fields.Dict())
    similar = fields.List(
        fields.Dict(), metadata={"description": "clients with a similar name (id, name, reasons)"}
    )


class PreviewSchema(Schema):
    rows = fields.List(fields.Nested(PreviewRowSchema))


class FieldSchema(Schema):
    code = fields.String()
    label = fields.String()


class IssueSchema(Schema):
    row = fields.Integer()
    column = fields.String()
    value = fields.String()
    message = fields.String()
    kind = fields.String(metadata={"description": "error or skipped"})


class IssuePageSchema(Schema):
    items = fields.List(fields.Nested(IssueSchema))
    next_cursor = fields.String(allow_none=True)


class PageQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(load_default=None)


class ReportQuerySchema(Schema):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


def visible_import(import_id: int) -> ClientImport:
    """An import the caller may see, or 404."""
    job = services.visible_import(import_id, current_actor())
    if job is None:
        abort(404, message=f"Import {import_id} does not exist or is not yours.")
    return job


def _cursor(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        abort(422, message="Invalid cursor.", errors={"query": {"cursor": ["Invalid cursor."]}})
    return int(value)


@blp.route("")
class Imports(MethodView):
    @requires("clients.import")
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, ImportPageSchema)
    def get(self, args):
        """The caller's imports, newest first (an administrator sees everyone's)."""
        user = current_actor()
        query = sa.select(ClientImport).order_by(ClientImport.id.desc()).limit(args["limit"])
        if not user.is_admin:
            query = query.where(ClientImport.created_by_id == user.id)
        before = _cursor(args["cursor"])
        if before is not None:
            query = query.where(ClientImport.id < before)
        items = db.session.execute(query).scalars().all()
        more = len(items) == args["limit"]
        return {"items": items, "next_cursor": str(items[-1].id) if more else None}

    @requires("clients.import")
    @blp.arguments(UploadSchema, location="files")
    @blp.response(201, UploadedSchema)
    def post(self, files):
        """Upload a CSV or XLSX file; the answer holds its columns, a guessed mapping and the
        first rows. Nothing is imported until ``start``."""
        try:
            job = services.upload_file(
                files["file"],
                current_actor(),
                request.form.get("encoding") or None,
                request.form.get("delimiter") or None,
            )
        except ValidationFailed as exc:
            refuse_invalid(exc)
        return _uploaded(job)


def _uploaded(job: ClientImport) -> dict:
    out = {name: getattr(job, name) for name in ImportSchema().fields}
    out["sample"] = [cells for _, cells in services.sample(job)]
    out["earlier_imports"] = [j.id for j in services.earlier_runs(job)]
    return out


@blp.route("/fields")
class Fields(MethodView):
    @requires("clients.import")
    @blp.response(200, FieldSchema(many=True))
    def get(self):
        """Every field a column can be imported into, custom fields included."""
        return [{"code": code, "label": label} for code, label in mapping.targets()]


@blp.route("/<int:import_id>")
class ImportItem(MethodView):
    @requires("clients.import")
    @blp.response(200, ImportSchema)
    def get(self, import_id):
        """An import and its progress."""
        return visible_import(import_id)


@blp.route("/<int:import_id>/preview")
class Preview(MethodView):
    @requires("clients.import")
    @blp.arguments(SettingsSchema)
    @blp.response(200, PreviewSchema)
    def post(self, data, import_id):
        """What the first rows would do with this mapping; nothing is saved."""
        job = visible_import(import_id)
        try:
            return {"rows": services.preview(job, data, current_actor())}
        except ValidationFailed as exc:
            refuse_invalid(exc)


@blp.route("/<int:import_id>/start")
class Start(MethodView):
    @requires("clients.import")
    @blp.arguments(StartSchema)
    @blp.response(202, ImportSchema)
    def post(self, data, import_id):
        """Run the import in the background with this mapping; follow it with GET."""
        job = visible_import(import_id)
        try:
            return services.start(job, data)
        except ValidationFailed as exc:
            refuse_invalid(exc)


@blp.route("/<int:import_id>/resume")
class Resume(MethodView):
    @requires("clients.import")
    @blp.response(202, ImportSchema)
    def post(self, import_id):
        """Go on with an import that stopped, from the first row it had not handled."""
        try:
            return services.resume(visible_import(import_id))
        except ValidationFailed as exc:
            refuse_invalid(exc)


@blp.route("/<int:import_id>/issues")
class Issues(MethodView):
    @requires("clients.import")
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, IssuePageSchema)
    def get(self, args, import_id):
        """Rows that failed or were skipped, by line, with the column and the reason."""
        job = visible_import(import_id)
        query = (
            sa.select(ClientImportIssue)
            .where(ClientImportIssue.import_id == job.id)
            .order_by(ClientImportIssue.id)
            .limit(args["limit"])
        )
        after = _cursor(args["cursor"])
        if after is not None:
            query = query.where(ClientImportIssue.id > after)
        items = db.session.execute(query).scalars().all()
        more = len(items) == args["limit"]
        return {"items": items, "next_cursor": str(items[-1].id) if more else None}


@blp.route("/<int:import_id>/report")
class Report(MethodView):
    @requires("clients.import")
    @blp.arguments(ReportQuerySchema, location="query")
    @blp.response(200, description="CSV (UTF-8 with BOM) or XLSX: line, column, value, reason.")
    def get(self, args, import_id):
        """The problem report as a file, for fixing the rows and importing them again."""
        return report.response(visible_import(import_id), args["format"])
