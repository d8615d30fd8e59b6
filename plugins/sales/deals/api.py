"""JSON API for pipelines and deals (``/api/v1/sales/...``), within the "sales.deals" scope."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import abort

from core.api import ApiBlueprint, refuse_invalid, refuse_stale
from core.db import db
from core.security import current_actor, current_principal, requires
from core.users.services import ValidationFailed
from plugins.sales.deals import pipelines, queries, services
from plugins.sales.deals.schemas import (
    DealCreateSchema,
    DealListQuerySchema,
    DealMoveSchema,
    DealOutSchema,
    DealPageSchema,
    DealPatchSchema,
    PipelineInSchema,
    PipelineOutSchema,
)
from plugins.sales.models import Deal, Pipeline

blp = ApiBlueprint(
    "sales_deals_api",
    __name__,
    url_prefix="/api/v1/sales",
    description="Sales pipelines (funnels) with their stages, and deals",
)


def _visible(deal_id: int) -> Deal:
    deal = services.visible(deal_id, current_principal())
    if deal is None:
        abort(404, message=f"Deal {deal_id} does not exist or is not yours to see.")
    return deal


@blp.route("/pipelines")
class Pipelines(MethodView):
    @requires("sales.view")
    @blp.response(200, PipelineOutSchema(many=True))
    def get(self):
        """Every pipeline with its stages in order (removed stages left out)."""
        return pipelines.pipelines()

    @requires("sales.admin")
    @blp.arguments(PipelineInSchema)
    @blp.response(201, PipelineOutSchema)
    def post(self, data):
        """Create a pipeline with its stages."""
        try:
            pipeline = pipelines.create_pipeline(data)
        except ValidationFailed as exc:
            refuse_invalid(exc)
        db.session.expire(pipeline)
        return db.session.get(Pipeline, pipeline.id)


@blp.route("/deals")
class Deals(MethodView):
    @requires("sales.view")
    @blp.arguments(DealListQuerySchema, location="query")
    @blp.response(200, DealPageSchema)
    def get(self, args):
        """Deals the caller may see, newest first, ``limit`` at a time; pass ``next_cursor``
        as ``cursor``. Filters: pipeline, stage, owner, client, source, status, title
        prefix, created and expected-close dates."""
        cursor, limit = args.pop("cursor", None), args.pop("limit")
        flt = queries.DealFilter(**args)
        items, next_cursor = queries.page(flt, current_principal(), cursor, limit)
        return {"items": items, "next_cursor": next_cursor}

    @requires("sales.deals.edit")
    @blp.arguments(DealCreateSchema)
    @blp.response(201, DealOutSchema)
    def post(self, data):
        """Create a deal in ``stage_id`` (default: the first stage of ``pipeline_id``, or of
        the first pipeline), owned by the caller unless ``owner_id`` says otherwise."""
        try:
            return services.create_deal(data, current_actor())
        except ValidationFailed as exc:
            refuse_invalid(exc)


@blp.route("/deals/<int:deal_id>")
class DealItem(MethodView):
    @requires("sales.view")
    @blp.response(200, DealOutSchema)
    def get(self, deal_id):
        """One deal with its lines (404 when it is outside the caller's scope)."""
        return _visible(deal_id)

    @requires("sales.deals.edit")
    @blp.arguments(DealPatchSchema)
    @blp.response(200, DealOutSchema)
    def patch(self, data, deal_id):
        """Change a deal (not its stage: use ``/move``); send the ``version`` you read
        (409 if it changed since). ``lines`` replaces every line."""
        deal = _visible(deal_id)
        refuse_stale(deal, data.pop("version"), "deal")
        try:
            return services.update_deal(deal, data, current_actor())
        except ValidationFailed as exc:
            refuse_invalid(exc)

    @requires("sales.deals.delete")
    @blp.response(204)
    def delete(self, deal_id):
        """Delete a deal with its lines and stage history (409 while it has invoices)."""
        try:
            services.delete_deal(_visible(deal_id))
        except ValidationFailed as exc:
            refuse_invalid(exc)


@blp.route("/deals/<int:deal_id>/move")
class DealMove(MethodView):
    @requires("sales.deals.edit")
    @blp.arguments(DealMoveSchema)
    @blp.response(200, DealOutSchema)
    def post(self, data, deal_id):
        """Move a deal to another stage of its pipeline; a lost stage needs
        ``lost_reason_id``. The move is recorded with who and when."""
        deal = _visible(deal_id)
        try:
            services.move_deal(
                deal,
                data["stage_id"],
                current_actor(),
                lost_reason_id=data.get("lost_reason_id"),
                note=data.get("note", ""),
                version=data.get("version"),
            )
        except ValidationFailed as exc:
            refuse_invalid(exc)
        return deal
