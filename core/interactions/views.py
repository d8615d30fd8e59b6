"""Pages: the timeline panel of the client card and its full page, recording and editing
interactions, and writing comments."""

from __future__ import annotations

import re
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from marshmallow import ValidationError

from core.api import _flatten
from core.clients import queries
from core.db import db, utcnow
from core.ids import parse_id
from core.interactions import comments, services, timeline
from core.interactions.models import DIRECTIONS, KINDS, Interaction
from core.interactions.schemas import InteractionInSchema, InteractionPatchSchema, form_data
from core.notifications import unread_read
from core.plugin_system.registry import Deferred
from core.plugin_system.types import BadCursor, PanelSource, TimelineCursor
from core.reads import read_together
from core.security import current_actor, current_principal, requires
from core.users.services import ValidationFailed

bp = Blueprint("interactions", __name__)

PAGE_SIZE = 20
KIND_NAME = re.compile(r"^[a-z0-9_.]{1,40}$")
# Kinds offered in the filter even before an item of theirs is on the page.
FILTER_KINDS = (*KINDS, "comment", "next_contact", "task", "document", "history")


def _kinds_arg() -> frozenset[str] | None:
    kinds = frozenset(k for k in request.args.getlist("kind") if KIND_NAME.match(k))
    return kinds or None


def _pending(client, user, cursor: TimelineCursor | None) -> timeline.PendingPage:
    deferred = Deferred(current_actor, for_core=user)
    return timeline.prepare(client, deferred, _kinds_arg(), cursor, PAGE_SIZE)


def _timeline_context(client, user, cursor: TimelineCursor | None) -> dict[str, Any]:
    """The timeline's page, read in one statement with the bell's count of the layout."""
    pending = _pending(client, user, cursor)
    reads: dict[Any, Any] = dict(pending.reads)
    if g.get("crm_bell") is None:
        reads["bell"] = unread_read(user.id)
    rows = read_together(reads, skip_failed=True)
    if "bell" in rows:
        g.crm_bell = rows["bell"][0].unread
    return _page_context(client, pending, rows)


def _page_context(client, pending: timeline.PendingPage, rows) -> dict[str, Any]:
    kinds = pending.kinds
    items, next_cursor = pending.finish(rows)
    filter_kinds = {
        k: (timeline.KIND_WEIGHTS[k], str(timeline.KIND_LABELS[k])) for k in FILTER_KINDS
    }
    for item in items:
        filter_kinds.setdefault(item.kind, (item.weight, item.label or item.kind))
    more_url = (
        url_for(
            "interactions.client_timeline",
            client_id=client.id,
            kind=sorted(kinds or ()),
            cursor=next_cursor.encode(),
        )
        if next_cursor
        else None
    )
    return {
        "client": client,
        "items": items,
        "kinds": kinds or frozenset(),
        "filter_kinds": sorted(filter_kinds.items(), key=lambda kv: (kv[1][0], kv[0])),
        "more_url": more_url,
    }


def _now_local(user) -> str:
    return services.to_local(utcnow(), user.timezone).strftime("%Y-%m-%dT%H:%M")


def render_timeline_panel(client, user) -> PanelSource:
    """The client card's timeline: quick-add and comment forms, the kind filter, page one
    (its reads go with the card's other panels')."""
    pending = _pending(client, user, None)

    def render(rows) -> str:
        state = g.get("interaction_form") or {}
        return render_template(
            "interactions/panel_timeline.html",
            form=state.get("values") or {"occurred_at": _now_local(user), "kind": "call"},
            errors=state.get("errors") or {},
            kind_choices=[(k, timeline.KIND_LABELS[k]) for k in KINDS],
            directions=DIRECTIONS,
            **_page_context(client, pending, rows),
        )

    return PanelSource(pending.reads, render)


@bp.route("/clients/<int:client_id>/timeline")
@requires("clients.view")
def client_timeline(client_id: int):
    """The timeline on its own page (and, with ``fragment=1``, the next items only)."""
    user = current_principal()
    client = queries.card(client_id, user) or abort(404)
    cursor = None
    if request.args.get("cursor"):
        try:
            cursor = TimelineCursor.decode(request.args["cursor"])
        except BadCursor:
            abort(400, description=_("This link to the timeline is broken; start again."))
    context = _timeline_context(client, user, cursor)
    if request.args.get("fragment"):
        return render_template("interactions/_timeline_items.html", **context)
    return render_template("interactions/timeline.html", **context)


@bp.route("/clients/<int:client_id>/interactions", methods=["POST"])
@requires("interactions.edit")
def record(client_id: int):
    from core.clients.views import card

    user = current_principal()
    client = queries.get_visible(client_id, user) or abort(404)
    errors: dict[str, list[str]] = {}
    try:
        loaded = InteractionInSchema().load(form_data(request.form))
        services.create_interaction(client, loaded, user)
    except ValidationError as exc:
        errors = _flatten(exc.messages)
    except ValidationFailed as exc:
        db.session.rollback()
        errors = exc.errors
    if errors:
        g.interaction_form = {"values": request.form, "errors": errors}
        return card(client_id), 422
    flash(_("Recorded."), "success")
    return redirect(url_for("clients.card", client_id=client_id) + "#panel-core-timeline")


def _editable(interaction_id: int) -> Interaction:
    interaction = db.session.get(Interaction, interaction_id) or abort(404)
    queries.get_visible(interaction.client_id, current_principal()) or abort(404)
    return interaction


@bp.route("/interactions/<int:interaction_id>/edit", methods=["GET", "POST"])
@requires("interactions.edit")
def edit(interaction_id: int):
    user = current_principal()
    interaction = _editable(interaction_id)
    client = queries.card(interaction.client_id, user) or abort(404)
    errors: dict[str, list[str]] = {}
    values: Any = {
        "kind": interaction.kind,
        "direction": interaction.direction or "",
        "channel": interaction.channel,
        "subject": interaction.subject,
        "text": interaction.text,
        "outcome": interaction.outcome,
        "duration_minutes": interaction.duration_minutes or "",
        "contact_person_id": interaction.contact_person_id or "",
        "occurred_at": services.to_local(interaction.occurred_at, user.timezone).strftime(
            "%Y-%m-%dT%H:%M"
        ),
        "version": interaction.version,
    }
    if request.method == "POST":
        values = request.form
        try:
            loaded = InteractionPatchSchema().load(
                {**form_data(request.form), "version": request.form.get("version", "")}
            )
            if loaded.pop("version") != interaction.version:
                raise ValidationFailed(
                    {
                        "version": [
                            _(
                                "Someone else changed this meanwhile. "
                                "Reload the page and apply your change again."
                            )
                        ]
                    }
                )
            services.update_interaction(interaction, loaded, user)
        except ValidationError as exc:
            errors = _flatten(exc.messages)
        except ValidationFailed as exc:
            db.session.rollback()
            errors = exc.errors
        if not errors:
            flash(_("Saved."), "success")
            return redirect(url_for("clients.card", client_id=client.id) + "#panel-core-timeline")
    return (
        render_template(
            "interactions/form.html",
            interaction=interaction,
            client=client,
            form=values,
            errors=errors,
            kind_choices=[(k, timeline.KIND_LABELS[k]) for k in KINDS],
            directions=DIRECTIONS,
        ),
        422 if errors else 200,
    )


@bp.route("/interactions/<int:interaction_id>/delete", methods=["POST"])
@requires("interactions.edit")
def delete(interaction_id: int):
    interaction = _editable(interaction_id)
    client_id = interaction.client_id
    services.delete_interaction(interaction)
    flash(_("Deleted."), "success")
    return redirect(url_for("clients.card", client_id=client_id) + "#panel-core-timeline")


@bp.route("/comments", methods=["POST"])
@requires("comments.write")
def comment():
    user = current_principal()
    kind = request.form.get("record_kind", "")
    record_id = parse_id(request.form.get("record_id"))
    if not KIND_NAME.match(kind) or record_id is None:
        abort(404)
    from core.records import visible

    linked = visible(kind, record_id, user) or abort(404)
    body = request.form.get("body", "")
    if len(body) > 10_000:
        flash(_("A comment can be at most 10,000 characters long."), "error")
    else:
        try:
            comments.add_comment(kind, record_id, body, user)
            flash(_("Comment added."), "success")
        except ValidationFailed:
            db.session.rollback()
            flash(_("Write something to comment."), "error")
    return redirect(linked.url + "#panel-core-timeline")
