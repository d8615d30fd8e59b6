"""JSON API: a client's interactions and timeline, one interaction, and comments."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import abort

from core.api import ApiBlueprint, refuse_invalid, refuse_stale
from core.clients import queries
from core.db import db
from core.interactions import comments, services, timeline
from core.interactions.models import Interaction
from core.interactions.schemas import (
    CommentInSchema,
    CommentOutSchema,
    CommentPageSchema,
    CommentQuerySchema,
    InteractionInSchema,
    InteractionListQuerySchema,
    InteractionOutSchema,
    InteractionPageSchema,
    InteractionPatchSchema,
    TimelinePageSchema,
    TimelineQuerySchema,
)
from core.plugin_system.registry import Deferred
from core.plugin_system.types import BadCursor, TimelineCursor
from core.security import current_actor, current_principal, login_required_only, requires
from core.users.services import ValidationFailed

blp = ApiBlueprint(
    "api_interactions",
    __name__,
    url_prefix="/api/v1",
    description="Interactions with clients, the client timeline and comments",
)


def _client(client_id: int):
    client = queries.get_visible(client_id, current_principal())
    if client is None:
        abort(404, message=f"Client {client_id} does not exist or is not yours to see.")
    return client


def _interaction(interaction_id: int) -> Interaction:
    interaction = db.session.get(Interaction, interaction_id)
    if (
        interaction is None
        or queries.get_visible(interaction.client_id, current_principal()) is None
    ):
        abort(404, message=f"Interaction {interaction_id} does not exist or is not yours to see.")
    return interaction


def _cursor(text: str | None) -> TimelineCursor | None:
    if not text:
        return None
    try:
        return TimelineCursor.decode(text)
    except BadCursor as exc:
        abort(422, message=str(exc), errors={"query": {"cursor": [str(exc)]}})


@blp.route("/clients/<int:client_id>/interactions")
class ClientInteractions(MethodView):
    @requires("interactions.view")
    @blp.arguments(InteractionListQuerySchema, location="query")
    @blp.response(200, InteractionPageSchema)
    def get(self, args, client_id):
        """The client's interactions, newest first; pass ``next_cursor`` as ``cursor``."""
        client = _client(client_id)
        cursor = _cursor(args.get("cursor"))
        query = (
            db.select(Interaction)
            .where(Interaction.client_id == client.id)
            .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
            .limit(args["limit"] + 1)
        )
        if args["kind"]:
            query = query.where(Interaction.kind.in_(args["kind"]))
        if cursor is not None:
            query = query.where(cursor.older(Interaction.occurred_at, Interaction.id, ""))
        rows = db.session.execute(query).scalars().all()
        more = len(rows) > args["limit"]
        rows = rows[: args["limit"]]
        last = rows[-1] if more else None
        return {
            "items": rows,
            "next_cursor": TimelineCursor(last.occurred_at, "", last.id).encode() if last else None,
        }

    @requires("interactions.edit")
    @blp.arguments(InteractionInSchema)
    @blp.response(201, InteractionOutSchema)
    def post(self, data, client_id):
        """Record an interaction; ``occurred_at`` without an offset is in your timezone."""
        client = _client(client_id)
        try:
            return services.create_interaction(client, data, current_principal())
        except ValidationFailed as exc:
            refuse_invalid(exc)


@blp.route("/interactions/<int:interaction_id>")
class InteractionItem(MethodView):
    @requires("interactions.view")
    @blp.response(200, InteractionOutSchema)
    def get(self, interaction_id):
        """One interaction."""
        return _interaction(interaction_id)

    @requires("interactions.edit")
    @blp.arguments(InteractionPatchSchema)
    @blp.response(200, InteractionOutSchema)
    def patch(self, data, interaction_id):
        """Change an interaction; send the ``version`` you read (409 when it is stale)."""
        interaction = _interaction(interaction_id)
        refuse_stale(interaction, data.pop("version"), "interaction")
        try:
            return services.update_interaction(interaction, data, current_principal())
        except ValidationFailed as exc:
            refuse_invalid(exc)

    @requires("interactions.edit")
    @blp.response(204)
    def delete(self, interaction_id):
        """Delete an interaction (the audit log keeps what it said)."""
        services.delete_interaction(_interaction(interaction_id))


@blp.route("/clients/<int:client_id>/timeline")
class ClientTimeline(MethodView):
    @requires("clients.view")
    @blp.arguments(TimelineQuerySchema, location="query")
    @blp.response(200, TimelinePageSchema)
    def get(self, args, client_id):
        """Interactions, comments, history and what plugins add, newest first.

        Kinds: ``call``, ``meeting``, ``email``, ``letter``, ``visit``, ``message``, ``note``,
        ``comment``, ``history``, ``next_contact`` and those of plugins (``task``, ...).
        Pass ``next_cursor`` as ``cursor`` for the next page.
        """
        client = _client(client_id)
        user = current_principal()
        items, cursor = timeline.page(
            client,
            Deferred(current_actor, for_core=user),
            frozenset(args["kinds"]) or None,
            _cursor(args.get("cursor")),
            args["limit"],
        )
        return {"items": items, "next_cursor": cursor.encode() if cursor else None}


@blp.route("/comments")
class Comments(MethodView):
    @login_required_only
    @blp.arguments(CommentQuerySchema, location="query")
    @blp.response(200, CommentPageSchema)
    def get(self, args):
        """Comments on a record you may see, newest first; ``next_cursor`` as ``before``."""
        from core.records import visible

        if visible(args["record_kind"], args["record_id"], current_principal()) is None:
            abort(404, message="The record does not exist or is not yours to see.")
        rows, cursor = comments.page(
            args["record_kind"], args["record_id"], args.get("before"), args["limit"]
        )
        return {"items": rows, "next_cursor": cursor}

    @requires("comments.write")
    @blp.arguments(CommentInSchema)
    @blp.response(201, CommentOutSchema)
    def post(self, data):
        """Comment on a record you may see; ``@e-mail`` and ``@Full Name`` mention users,
        who are notified."""
        try:
            comment = comments.add_comment(
                data["record_kind"], data["record_id"], data["body"], current_principal()
            )
        except comments.RecordNotVisible:
            abort(404, message="The record does not exist or is not yours to see.")
        except ValidationFailed as exc:
            refuse_invalid(exc)
        comment.mentions = [u.id for u in comments.mentions_of([comment.id]).get(comment.id, [])]
        return comment
