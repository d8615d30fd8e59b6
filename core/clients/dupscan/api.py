"""JSON API of the duplicate finder: start a scan, follow it, review and dismiss pairs."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from core.api import ApiBlueprint
from core.clients.dupscan import services
from core.clients.dupscan.models import PAIR_STATUSES, REASONS, SCAN_STAGES, SCAN_STATUSES
from core.security import current_actor, requires
from core.users.services import ValidationFailed

blp = ApiBlueprint(
    "api_client_duplicates",
    __name__,
    url_prefix="/api/v1/clients",
    description="The duplicate finder over the whole client registry",
)


class SkippedGroupSchema(Schema):
    reason = fields.String(validate=validate.OneOf(REASONS))
    value = fields.String(metadata={"description": "The shared phone, e-mail, tax id or name"})
    clients = fields.Integer(metadata={"description": "How many live clients share it"})


class ScanSchema(Schema):
    id = fields.Integer()
    status = fields.String(validate=validate.OneOf(SCAN_STATUSES))
    stage = fields.String(
        validate=validate.OneOf(SCAN_STAGES),
        metadata={"description": "While running: exact (values), names, saving"},
    )
    done = fields.Integer(
        attribute="progress_done", metadata={"description": "Clients whose names were read"}
    )
    total = fields.Integer(
        attribute="progress_total", metadata={"description": "Live clients to read"}
    )
    pairs_found = fields.Integer(metadata={"description": "Open pairs after the scan"})
    pairs_decided = fields.Integer(
        metadata={"description": "Pairs found again that were dismissed before (left alone)"}
    )
    groups_skipped = fields.Integer(
        metadata={"description": "Values or names shared by too many clients to be listed as pairs"}
    )
    skipped = fields.List(
        fields.Nested(SkippedGroupSchema),
        metadata={"description": "The largest skipped groups (only for scope 'all')"},
    )
    truncated = fields.Boolean(metadata={"description": "More pairs were found than are kept"})
    message = fields.String()
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)


class FactSchema(Schema):
    number = fields.String(attribute="e164")
    contact_person = fields.Boolean(attribute="contact")


class EmailFactSchema(Schema):
    email = fields.String()
    contact_person = fields.Boolean(attribute="contact")


class PairClientSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    tax_id = fields.String(allow_none=True)
    status = fields.String(attribute="client_status")
    owner_id = fields.Integer(allow_none=True)
    owner_name = fields.Function(lambda c: c.owner.name if c.owner else None, allow_none=True)
    phones = fields.List(fields.Nested(FactSchema))
    emails = fields.List(fields.Nested(EmailFactSchema))


class PairSchema(Schema):
    id = fields.Integer()
    client_a = fields.Nested(PairClientSchema)
    client_b = fields.Nested(PairClientSchema)
    reasons = fields.List(
        fields.String(validate=validate.OneOf(REASONS)),
        metadata={"description": "e-mail, phone, tax id and/or similar name"},
    )
    score = fields.Integer(metadata={"description": "100 for the same value or name"})
    status = fields.String(validate=validate.OneOf(PAIR_STATUSES))
    found_by_id = fields.Integer(allow_none=True)


class PairPageSchema(Schema):
    items = fields.List(fields.Nested(PairSchema))
    next_cursor = fields.String(allow_none=True)


class PairQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(validate=validate.Length(max=500))


def _scan_out(scan, status: int = 200):
    """The scan as ScanSchema documents it; skipped values only for those who see them all."""
    data: dict[str, Any] = ScanSchema().dump(scan)
    data["skipped"] = services.skipped_for(scan, current_actor())
    response = jsonify(data)
    response.status_code = status
    return response


@blp.route("/duplicate-scans")
class Scans(MethodView):
    @requires("clients.merge")
    @blp.response(202, ScanSchema)
    def post(self):
        """Scan the whole registry for duplicates in the background; follow it by its id.

        409 while another scan is queued or running.
        """
        try:
            scan = services.start(current_actor())
        except services.ScanRunning as exc:
            abort(
                409,
                message=f"Scan {exc.scan.id} is {exc.scan.status}; wait for it to finish.",
            )
        return _scan_out(scan, 202)


@blp.route("/duplicate-scans/<int:scan_id>")
class ScanItem(MethodView):
    @requires("clients.merge")
    @blp.response(200, ScanSchema)
    def get(self, scan_id):
        """A scan's status and progress (``done`` of ``total`` clients) and what it found."""
        scan = services.get_scan(scan_id)
        if scan is None:
            abort(404, message=f"Duplicate scan {scan_id} does not exist.")
        return _scan_out(scan)


@blp.route("/duplicate-pairs")
class Pairs(MethodView):
    @requires("clients.merge")
    @blp.arguments(PairQuerySchema, location="query")
    @blp.response(200, PairPageSchema)
    def get(self, args):
        """Open pairs of likely duplicates, best first, both of whose clients the caller may
        see; pass ``next_cursor`` as ``cursor`` for the next page."""
        try:
            items, cursor = services.page(current_actor(), args["limit"], args.get("cursor"))
        except services.BadCursor as exc:
            abort(422, message=str(exc), errors={"query": {"cursor": [str(exc)]}})
        return {"items": items, "next_cursor": cursor}


@blp.route("/duplicate-pairs/<int:pair_id>/dismiss")
class PairDismiss(MethodView):
    @requires("clients.merge")
    @blp.response(200, PairSchema)
    def post(self, pair_id):
        """Mark the two clients as not duplicates: later scans do not list them again."""
        pair = services.get_pair(pair_id, current_actor())
        if pair is None:
            abort(404, message=f"Pair {pair_id} does not exist or is not yours to see.")
        try:
            return services.dismiss(pair, current_actor())
        except ValidationFailed as exc:
            abort(exc.status, message=" ".join(m for msgs in exc.errors.values() for m in msgs))
