"""Pages: the client list, the card, the client and contact forms, trash and configuration."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from marshmallow import ValidationError

from core.api import _flatten
from core.clients import bulk, duplicates, export, merge, queries, services
from core.clients.api import LIST_QUERY, list_params
from core.clients.custom_fields import KINDS as FIELD_KINDS
from core.clients.custom_fields import active_fields, save_field
from core.clients.models import (
    Client,
    ClientOption,
    ClientRelation,
    ContactMove,
    ContactPerson,
    CustomField,
    SavedFilter,
    full_name,
)
from core.clients.schemas import (
    ADDRESS_KINDS,
    EMAIL_KINDS,
    PHONE_KINDS,
    ClientCreateSchema,
    ClientListQuerySchema,
    ClientPatchSchema,
    ContactInSchema,
)
from core.db import db, utcnow
from core.ids import parse_id
from core.notifications import unread_read
from core.plugin_system.registry import Deferred
from core.plugin_system.types import CardPanel, PanelSource
from core.reads import Read, read_together
from core.security import current_actor, current_principal, requires, scoped
from core.users.services import UserChoice, ValidationFailed, active_users

bp = Blueprint("clients", __name__, url_prefix="/clients")

# How a relation reads on each side's card: the stored row says "client is <kind> of other".
DUPLICATE_REASONS = {
    "e-mail": _l("same e-mail"),
    "phone": _l("same phone"),
    "tax id": _l("same tax id"),
    "similar name": _l("similar name"),
}
RELATION_CHOICES = {
    "subsidiary_of": _l("is a subsidiary of"),
    "partner": _l("is a partner of"),
    "competitor": _l("is a competitor of"),
    "supplier": _l("is a supplier of"),
}
RELATION_OTHER_SIDE = {  # what "other" is to this client
    "subsidiary_of": _l("Parent company"),
    "partner": _l("Partner"),
    "competitor": _l("Competitor"),
    "supplier": _l("Customer"),
}
RELATION_THIS_SIDE = {  # what "client" is to "other", seen from other's card
    "subsidiary_of": _l("Subsidiary"),
    "partner": _l("Partner"),
    "competitor": _l("Competitor"),
    "supplier": _l("Supplier"),
}


def _users() -> tuple[UserChoice, ...]:
    """Active users for owner choices (core.users.services keeps them cached)."""
    return active_users()


def _choices() -> dict[str, Any]:
    return {
        "statuses": services.options("status"),
        "sources": services.options("source"),
        "users": _users(),
        "custom_fields": active_fields(),
        "phone_kinds": PHONE_KINDS,
        "email_kinds": EMAIL_KINDS,
        "address_kinds": ADDRESS_KINDS,
    }


# --- list ---------------------------------------------------------------------------------


def _list_query() -> queries.ClientQuery:
    """The list's filters from the query string; ValidationError/ValidationFailed if bad."""
    args = {k: v for k, v in request.args.items() if v != ""}
    for name in ("status", "source", "owner_id", "tags"):
        values = [v for v in request.args.getlist(name) if v]
        if values:
            args[name] = values
    return list_params(LIST_QUERY.load(args))


@bp.route("/pick")
@requires("clients.view")
def pick():
    """Suggestions for a client field of a form (core/web/static/picker.js): up to ten live
    clients the user may see matching what was typed, as the list's search finds them
    (name, phone, e-mail, tax id, a word). Each is labelled as ``queries.picked`` takes it
    back: "Name (#123)"."""
    q = request.args.get("q", "").strip()[:200]
    items: list[dict[str, Any]] = []
    if len(q) >= 2:
        try:
            rows, _next = queries.page(queries.ClientQuery(q=q, limit=10), current_principal())
        except (ValidationFailed, queries.BadCursor):
            rows = []
        for row in rows:
            detail = (
                row.phones[0].e164 if row.phones else (row.emails[0].email if row.emails else "")
            )
            items.append({"id": row.id, "label": queries.pick_label(row), "detail": detail})
    return jsonify(items=items)


@bp.route("/")
@requires("clients.view")
def index():
    errors: dict[str, list[str]] = {}
    clients: list = []
    cursor = None
    try:
        clients, cursor = queries.page(_list_query(), current_principal())
    except ValidationError as exc:
        errors = _flatten(exc.messages)
    except ValidationFailed as exc:
        errors = exc.errors
    except queries.BadCursor as exc:
        errors = {"cursor": [str(exc)]}
    next_args = request.args.to_dict(flat=False)
    next_args["cursor"] = [cursor] if cursor else []
    export_args = {k: v for k, v in request.args.to_dict(flat=False).items() if k != "cursor"}
    more_filters_used = any(
        value
        and (
            key in ("industry", "created_from", "created_to", "updated_from", "updated_to")
            or key.startswith("cf_")
        )
        for key, value in request.args.items()
    )
    return render_template(
        "clients/index.html",
        more_filters_used=more_filters_used,
        clients=clients,
        cursor=cursor,
        errors=errors,
        next_url=url_for(".index", **next_args) if cursor else None,
        export_args=export_args,
        query_string=urlencode(
            [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"]
        ),
        saved_filters=db.session.execute(
            sa.select(SavedFilter.id, SavedFilter.name, SavedFilter.params)
            .filter_by(user_id=current_principal().id)
            .order_by(SavedFilter.name)
        ).all(),
        status_labels={o.code: o.label for o in services.options("status")},
        # Each row links to its card: the URL is built once, not fifty times.
        card_prefix=url_for(".card", client_id=1)[:-1],
        **_choices(),
    ), (422 if errors else 200)


@bp.route("/bulk", methods=["POST"])
@requires("clients.edit")
def bulk_change():
    """The list's bulk form: the ticked clients, or everything the current filter matches."""
    user = current_principal()
    action = request.form.get("action", "")
    back = url_for(".index") + (
        "?" + request.form.get("query", "") if request.form.get("query") else ""
    )
    needed = bulk.ACTIONS.get(action)
    if needed and not user.has_permission(needed):
        abort(403)
    raw = request.form.get("value", "").strip()
    value: Any = raw
    if action == "assign_owner":
        value = parse_id(raw)
    elif action in ("add_tags", "remove_tags"):
        value = [t for t in raw.split(",") if t.strip()]
    try:
        if request.form.get("scope") == "filter":
            from urllib.parse import parse_qsl

            from werkzeug.datastructures import MultiDict

            args = MultiDict(parse_qsl(request.form.get("query", "")))
            loaded = {k: v for k, v in args.items() if v and k != "cursor"}
            for name in ("status", "source", "owner_id", "tags"):
                if args.getlist(name):
                    loaded[name] = [v for v in args.getlist(name) if v]
            params = list_params(ClientListQuerySchema().load(loaded))
            ids = bulk.target_ids(user, None, params)
        else:
            ids = bulk.target_ids(
                user, [i for i in map(parse_id, request.form.getlist("ids")) if i], None
            )
        changed = bulk.apply(user, action, value, ids)
        flash(_("%(count)s clients changed.", count=changed), "success")
    except ValidationError as exc:
        _flash_errors(_flatten(exc.messages))
    except ValidationFailed as exc:
        db.session.rollback()
        _flash_errors(exc.errors)
    return redirect(back)


@bp.route("/filters", methods=["POST"])
@requires("clients.view")
def filter_save():
    name = request.form.get("name", "").strip()[:100]
    query = request.form.get("query", "")[:2000]
    if not name:
        flash(_("Give the filter a name."), "error")
    else:
        saved = db.session.execute(
            sa.select(SavedFilter).filter_by(user_id=current_principal().id, name=name)
        ).scalar_one_or_none()
        if saved is None:
            db.session.add(
                SavedFilter(user_id=current_principal().id, name=name, params={"query": query})
            )
        else:
            saved.params = {"query": query}
        db.session.commit()
        flash(_("Filter %(name)s is saved.", name=name), "success")
    return redirect(url_for(".index") + ("?" + query if query else ""))


@bp.route("/filters/<int:filter_id>/delete", methods=["POST"])
@requires("clients.view")
def filter_delete(filter_id: int):
    saved = db.session.get(SavedFilter, filter_id)
    if saved is None or saved.user_id != current_principal().id:
        abort(404)
    db.session.delete(saved)
    db.session.commit()
    return redirect(url_for(".index"))


@bp.route("/export.<any(csv, xlsx):fmt>")
@requires("clients.export")
def export_list(fmt: str):
    """The filtered list as a file: the user's scope applies as on the screen."""
    try:
        params = replace(_list_query(), cursor=None)
    except (ValidationError, ValidationFailed) as exc:
        messages = _flatten(exc.messages) if isinstance(exc, ValidationError) else exc.errors
        flash("; ".join(f"{k}: {' '.join(v)}" for k, v in messages.items()), "error")
        return redirect(url_for(".index"))
    return export_response(params, fmt)


def export_response(params: queries.ClientQuery, fmt: str):
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    user = current_principal()
    if fmt == "csv":
        body = stream_with_context(export.csv_chunks(params, user))
        return Response(
            body,
            mimetype="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="clients-{stamp}.csv"'},
        )
    return send_file(
        export.xlsx_file(params, user),
        download_name=f"clients-{stamp}.xlsx",
        as_attachment=True,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


# --- card ---------------------------------------------------------------------------------


@bp.route("/<int:client_id>")
@requires("clients.view")
def card(client_id: int):
    user = current_principal()
    client = queries.card(client_id, user) or abort(404)
    registry = current_app.extensions["crm_plugins"]
    # Plugins get the User (loaded only if one asks); core's panels read only its scope.
    deferred = Deferred(current_actor, for_core=user)
    contributed = registry.collect(
        "client_card_panels", app=current_app, client=client, user=deferred
    )
    # First every panel's render: HTML, or a PanelSource whose reads run below, together
    # with every other panel's and the bell's in one statement.
    rendered: list[tuple[str, CardPanel, Any]] = []
    reads: dict[tuple[int, str], Any] = {}
    for plugin, panel in sorted(contributed, key=lambda pp: (pp[1].weight, pp[1].name)):
        if panel.permission and not user.has_permission(panel.permission):
            continue
        try:
            html = panel.render(client, deferred.get(plugin))
        except Exception:
            if plugin == "core":
                raise
            current_app.logger.exception("plugin %s: panel %s failed", plugin, panel.name)
            continue
        if isinstance(html, PanelSource):
            n = len(rendered)
            reads.update({(n, name): read for name, read in html.reads.items()})
        rendered.append((plugin, panel, html))
    if g.get("crm_bell") is None:  # a panel that rendered a template may have read it
        reads[(-1, "bell")] = unread_read(user.id)
    rows = read_together(reads, skip_failed=True)
    if (-1, "bell") in rows:
        g.crm_bell = rows[(-1, "bell")][0].unread
    panels = []
    for n, (plugin, panel, html) in enumerate(rendered):
        if isinstance(html, PanelSource):
            mine = {name: rows[(n, name)] for name in html.reads if (n, name) in rows}
            if plugin != "core" and len(mine) < len(html.reads):
                continue  # a read failed (read_together logged it): the panel is left out
            try:
                # Core's timeline panel reads for plugins too, and leaves out what failed.
                html = html.render(mine)
            except Exception:
                if plugin == "core":
                    raise
                current_app.logger.exception("plugin %s: panel %s failed", plugin, panel.name)
                continue
        panels.append({"name": panel.name, "title": panel.title, "html": Markup(html)})
    return render_template(
        "clients/card.html",
        client=client,
        panels=panels,
        options={o.code: o.label for o in services.options("status")},
        custom_fields=active_fields(),
    )


def render_contacts_panel(client: Client, user: Any) -> PanelSource:
    """The contact persons (loaded with the client) and the last 20 who left."""
    moves = (
        sa.select(
            ContactPerson.first_name,
            ContactPerson.middle_name,
            ContactPerson.last_name,
            ContactMove.old_position,
            ContactMove.at,
        )
        .join(ContactPerson, ContactPerson.id == ContactMove.contact_person_id)
        .where(ContactMove.from_client_id == client.id)
    )

    def render(rows) -> str:
        return render_template(
            "clients/panel_contacts.html",
            client=client,
            moves=[
                (full_name(r.first_name, r.middle_name, r.last_name), r.old_position, r.at)
                for r in rows["moves"]
            ],
            phone_kinds=PHONE_KINDS,
            email_kinds=EMAIL_KINDS,
        )

    return PanelSource({"moves": Read(moves, (ContactMove.at.desc(),), limit=20)}, render)


_OTHER = sa.orm.aliased(Client, name="other")


def render_relations_panel(client: Client, user: Any) -> PanelSource:
    relations = (
        sa.select(
            ClientRelation.id,
            ClientRelation.client_id,
            ClientRelation.other_id,
            ClientRelation.kind,
            Client.name.label("client_name"),
            _OTHER.name.label("other_name"),
        )
        .join(Client, Client.id == ClientRelation.client_id)
        .join(_OTHER, _OTHER.id == ClientRelation.other_id)
        .where(sa.or_(ClientRelation.client_id == client.id, ClientRelation.other_id == client.id))
    )
    # The other side may be outside the viewer's scope: then it shows as "a client you
    # cannot see", never by name.
    linked = sa.union(
        sa.select(ClientRelation.other_id).where(ClientRelation.client_id == client.id),
        sa.select(ClientRelation.client_id).where(ClientRelation.other_id == client.id),
    )
    visible = scoped(
        sa.select(Client.id).where(Client.id.in_(linked), Client.deleted_at.is_(None)),
        user,
        "clients",
        Client.owner_id,
    )

    def render(rows) -> str:
        return render_template(
            "clients/panel_relations.html",
            client=client,
            relations=rows["relations"],
            visible={r.id for r in rows["visible"]},
            choices=RELATION_CHOICES,
            other_side=RELATION_OTHER_SIDE,
            this_side=RELATION_THIS_SIDE,
        )

    reads = {
        "relations": Read(relations, (ClientRelation.id,)),
        "visible": Read(visible),
    }
    return PanelSource(reads, render)


# --- forms --------------------------------------------------------------------------------


def _entries(prefix: str, value_key: str) -> list[dict[str, str]]:
    values = request.form.getlist(f"{prefix}_value")
    kinds = request.form.getlist(f"{prefix}_kind")
    return [
        {value_key: v.strip(), "kind": (kinds[i] if i < len(kinds) else "work") or "work"}
        for i, v in enumerate(values)
        if v.strip()
    ]


def client_form_data() -> dict[str, Any]:
    """The submitted client form in the API's shape, so one schema validates both."""
    form = request.form
    data: dict[str, Any] = {}
    for field in (
        "kind",
        "name",
        "legal_name",
        "tax_id",
        "industry",
        "status",
        "category",
        "source",
        "notes",
        "website",
        "next_contact_on",
    ):
        if field in form:
            value = form.get(field, "").strip()
            data[field] = value if value or field in ("name", "notes") else None
    if "owner_id" in form:
        data["owner_id"] = form.get("owner_id") or None
    if "tags" in form:
        data["tags"] = [t.strip() for t in form.get("tags", "").split(",") if t.strip()]
    data["phones"] = _entries("phone", "number")
    data["emails"] = _entries("email", "email")
    address = {
        k: form.get(f"address_{k}", "").strip()
        for k in ("kind", "country", "region", "city", "postcode", "street")
    }
    data["addresses"] = [address] if any(v for k, v in address.items() if k != "kind") else []
    custom = {}
    for field in active_fields():
        name = f"cf_{field.key}"
        if field.kind == "multi":
            custom[field.key] = form.getlist(name)
        elif field.kind == "bool":
            custom[field.key] = name in form
        else:
            custom[field.key] = form.get(name, "")
    data["custom"] = custom
    return data


def _save_client(client: Client | None):
    data = client_form_data()
    if client is not None:
        data["version"] = request.form.get("version", "")
    schema = ClientPatchSchema() if client else ClientCreateSchema()
    try:
        loaded = schema.load(data)
    except ValidationError as exc:
        return None, _flatten(exc.messages)
    if client is not None:
        if loaded.pop("version") != client.version:
            return None, {
                "version": [
                    _(
                        "Someone else changed this client meanwhile. "
                        "Reload the page and apply your change again."
                    )
                ]
            }
        try:
            return services.update_client(client, loaded), {}
        except ValidationFailed as exc:
            db.session.rollback()
            return None, exc.errors
    loaded.setdefault("owner_id", current_principal().id)
    try:
        return services.create_client(loaded), {}
    except ValidationFailed as exc:
        return None, exc.errors


def _entry_values(client: Client | None) -> dict[str, list[tuple[str, str]]]:
    """Phone and e-mail rows to show: what was submitted, else what is stored."""
    if request.method == "POST":
        pairs = {}
        for prefix in ("phone", "email"):
            values, kinds = (
                request.form.getlist(f"{prefix}_value"),
                request.form.getlist(f"{prefix}_kind"),
            )
            pairs[f"{prefix}_values"] = [
                (v, kinds[i] if i < len(kinds) else "work")
                for i, v in enumerate(values)
                if v.strip()
            ]
        return pairs
    return {
        "phone_values": [(p.e164, p.kind) for p in client.phones] if client else [],
        "email_values": [(e.email, e.kind) for e in client.emails] if client else [],
    }


@bp.route("/new", methods=["GET", "POST"])
@requires("clients.create")
def new():
    errors: dict[str, list[str]] = {}
    similar: list = []
    if request.method == "POST":
        # Before saving, look for the same client under another spelling; the user decides.
        if "confirm_duplicates" not in request.form:
            try:
                loaded = ClientCreateSchema().load(client_form_data())
                similar = duplicates.find(
                    loaded, current_principal(), region=services.phone_region()
                )
            except ValidationError:
                similar = []  # the save below reports the errors
        if not similar:
            client, errors = _save_client(None)
            if client is not None:
                flash(_("Client %(name)s is created.", name=client.name), "success")
                return redirect(url_for(".card", client_id=client.id))
    return render_template(
        "clients/form.html",
        client=None,
        errors=errors,
        duplicates=similar,
        reasons=DUPLICATE_REASONS,
        form=request.form if request.method == "POST" else None,
        **_entry_values(None),
        **_choices(),
    ), (422 if errors else 200)


@bp.route("/<int:client_id>/edit", methods=["GET", "POST"])
@requires("clients.edit")
def edit(client_id: int):
    client = queries.card(client_id, current_principal()) or abort(404)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        saved, errors = _save_client(client)
        if saved is not None:
            flash(_("Client %(name)s is saved.", name=saved.name), "success")
            return redirect(url_for(".card", client_id=saved.id))
        client = queries.card(client_id, current_principal()) or abort(404)
    return render_template(
        "clients/form.html",
        client=client,
        errors=errors,
        form=request.form if request.method == "POST" else None,
        **_entry_values(client),
        **_choices(),
    ), (422 if errors else 200)


@bp.route("/<int:client_id>/delete", methods=["POST"])
@requires("clients.delete")
def delete(client_id: int):
    client = queries.get_visible(client_id, current_principal()) or abort(404)
    services.trash(client, current_principal().id)
    flash(
        _("Client %(name)s is in the trash; an administrator can restore it.", name=client.name),
        "success",
    )
    return redirect(url_for(".index"))


# --- contact persons ----------------------------------------------------------------------


def _contact_form() -> dict[str, Any]:
    data = {
        k: request.form.get(k, "").strip()
        for k in ("first_name", "middle_name", "last_name", "position", "notes")
    }
    data["birthday"] = request.form.get("birthday", "").strip() or None
    data["phones"] = _entries("phone", "number")
    data["emails"] = _entries("email", "email")
    return data


def _flash_errors(errors: dict[str, list[str]]) -> None:
    flash("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()), "error")


@bp.route("/<int:client_id>/contacts", methods=["POST"])
@requires("clients.edit")
def contact_add(client_id: int):
    client = queries.get_visible(client_id, current_principal()) or abort(404)
    try:
        services.save_contact(client, ContactInSchema().load(_contact_form()))
        flash(_("Contact person is added."), "success")
    except ValidationError as exc:
        _flash_errors(_flatten(exc.messages))
    except ValidationFailed as exc:
        db.session.rollback()
        _flash_errors(exc.errors)
    return redirect(url_for(".card", client_id=client_id) + "#panel-core-contacts")


def _visible_contact(client_id: int, contact_id: int) -> ContactPerson:
    client = queries.get_visible(client_id, current_principal()) or abort(404)
    contact = db.session.get(ContactPerson, contact_id)
    if contact is None or contact.client_id != client.id:
        abort(404)
    return contact


@bp.route("/<int:client_id>/contacts/<int:contact_id>", methods=["GET", "POST"])
@requires("clients.edit")
def contact_edit(client_id: int, contact_id: int):
    contact = _visible_contact(client_id, contact_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if request.form.get("version") != str(contact.version):
            errors = {
                "version": [_("Someone else changed this person meanwhile. Reload the page.")]
            }
        else:
            try:
                services.save_contact(
                    contact.client, ContactInSchema().load(_contact_form()), contact
                )
                flash(_("Contact person is saved."), "success")
                return redirect(url_for(".card", client_id=client_id) + "#panel-core-contacts")
            except ValidationError as exc:
                errors = _flatten(exc.messages)
            except ValidationFailed as exc:
                db.session.rollback()
                errors = exc.errors
    return render_template(
        "clients/contact_form.html",
        contact=contact,
        errors=errors,
        form=request.form if errors else None,
        phone_kinds=PHONE_KINDS,
        email_kinds=EMAIL_KINDS,
        phone_values=[(p.e164, p.kind) for p in contact.phones],
        email_values=[(e.email, e.kind) for e in contact.emails],
    ), (422 if errors else 200)


@bp.route("/<int:client_id>/contacts/<int:contact_id>/delete", methods=["POST"])
@requires("clients.edit")
def contact_delete(client_id: int, contact_id: int):
    services.delete_contact(_visible_contact(client_id, contact_id))
    flash(_("Contact person is removed."), "success")
    return redirect(url_for(".card", client_id=client_id) + "#panel-core-contacts")


@bp.route("/<int:client_id>/contacts/<int:contact_id>/move", methods=["POST"])
@requires("clients.edit")
def contact_move(client_id: int, contact_id: int):
    contact = _visible_contact(client_id, contact_id)
    target_id = request.form.get("to_client_id", "")
    user = current_principal()
    target = queries.get_visible(parse_id(target_id), user) if parse_id(target_id) else None
    if target is None:
        flash(_("Choose a company you may see."), "error")
        return redirect(url_for(".contact_edit", client_id=client_id, contact_id=contact_id))
    try:
        services.move_contact(contact, target, request.form.get("position"), current_principal().id)
    except ValidationFailed as exc:
        _flash_errors(exc.errors)
        return redirect(url_for(".contact_edit", client_id=client_id, contact_id=contact_id))
    flash(
        _("%(name)s now works at %(company)s.", name=contact.full_name, company=target.name),
        "success",
    )
    return redirect(url_for(".card", client_id=target.id) + "#panel-core-contacts")


@bp.route("/<int:client_id>/relations", methods=["POST"])
@requires("clients.edit")
def relation_add(client_id: int):
    client = queries.get_visible(client_id, current_principal()) or abort(404)
    try:
        other = queries.picked(request.form.get("other_id", ""), current_principal())
    except queries.NotPicked as exc:
        flash(str(exc), "error")
    else:
        try:
            services.add_relation(client, other, request.form.get("kind", ""))
            flash(_("Relation is added."), "success")
        except ValidationFailed as exc:
            _flash_errors(exc.errors)
    return redirect(url_for(".card", client_id=client_id) + "#panel-core-relations")


# --- trash --------------------------------------------------------------------------------


@bp.route("/trash")
@requires("clients.trash")
def trash():
    params = queries.ClientQuery(trash=True, sort="-updated", cursor=request.args.get("cursor"))
    try:
        clients, cursor = queries.page(params, current_principal())
    except queries.BadCursor:
        clients, cursor = queries.page(
            queries.ClientQuery(trash=True, sort="-updated"), current_principal()
        )
    return render_template("clients/trash.html", clients=clients, cursor=cursor)


@bp.route("/<int:client_id>/restore", methods=["POST"])
@requires("clients.trash")
def restore(client_id: int):
    client = queries.get_visible(client_id, current_principal(), include_trash=True) or abort(404)
    if client.deleted_at is not None:
        try:
            services.restore(client)
            flash(_("Client %(name)s is restored.", name=client.name), "success")
        except ValidationFailed as exc:
            _flash_errors(exc.errors)
            return redirect(url_for(".trash"))
    return redirect(url_for(".card", client_id=client.id))


@bp.route("/<int:client_id>/purge", methods=["POST"])
@requires("clients.trash")
def purge(client_id: int):
    client = queries.get_visible(client_id, current_principal(), include_trash=True) or abort(404)
    try:
        services.purge(client)
        flash(_("Client %(name)s is deleted for good.", name=client.name), "success")
    except ValidationFailed as exc:
        _flash_errors(exc.errors)
    return redirect(url_for(".trash"))


# --- configuration ------------------------------------------------------------------------


@bp.route("/configure", methods=["GET"])
@requires("clients.configure")
def configure():
    options = (
        db.session.execute(
            sa.select(ClientOption).order_by(ClientOption.list, ClientOption.position)
        )
        .scalars()
        .all()
    )
    fields = (
        db.session.execute(sa.select(CustomField).order_by(CustomField.position, CustomField.id))
        .scalars()
        .all()
    )
    return render_template(
        "clients/configure.html", options=options, fields=fields, field_kinds=FIELD_KINDS, errors={}
    )


@bp.route("/configure/options", methods=["POST"])
@requires("clients.configure")
def option_add():
    list_name = request.form.get("list", "")
    code = request.form.get("code", "").strip().lower()
    label = request.form.get("label", "").strip()
    if (
        list_name not in ("status", "source")
        or not code
        or not label
        or len(code) > 40
        or len(label) > 120
        or not code.replace("_", "").isalnum()
    ):
        flash(_("Give a list, a code (letters, digits, _) and a label."), "error")
    elif db.session.execute(
        sa.select(ClientOption.id).filter_by(list=list_name, code=code)
    ).first():
        flash(_("This code exists already in that list."), "error")
    else:
        position = len(services.options(list_name))
        db.session.add(ClientOption(list=list_name, code=code, label=label, position=position))
        db.session.commit()
        flash(_("Option is added."), "success")
    return redirect(url_for(".configure"))


@bp.route("/configure/fields", methods=["POST"])
@requires("clients.configure")
def field_add():
    data = {
        "key": request.form.get("key", "").strip(),
        "label": request.form.get("label", "").strip()[:120],
        "kind": request.form.get("kind", ""),
        "choices": [c for c in request.form.get("choices", "").split(";")],
        "required": "required" in request.form,
    }
    try:
        save_field(CustomField(), data)
        flash(_("Custom field is added."), "success")
    except ValidationFailed as exc:
        _flash_errors(exc.errors)
    return redirect(url_for(".configure"))


@bp.route("/configure/fields/<int:field_id>", methods=["POST"])
@requires("clients.configure")
def field_edit(field_id: int):
    field = db.session.get(CustomField, field_id) or abort(404)
    data = {
        "label": request.form.get("label", "").strip()[:120],
        "choices": [c for c in request.form.get("choices", "").split(";")],
        "required": "required" in request.form,
        "active": "active" in request.form,
    }
    try:
        save_field(field, data)
        flash(_("Custom field is saved."), "success")
    except ValidationFailed as exc:
        db.session.rollback()
        _flash_errors(exc.errors)
    return redirect(url_for(".configure"))


# --- merge --------------------------------------------------------------------------------


def _merge_candidates(raw: str) -> list[Client]:
    ids = list(dict.fromkeys(i for i in map(parse_id, raw.replace(" ", "").split(",")) if i))[:10]
    clients = [queries.card(i, current_principal()) for i in ids]
    return [c for c in clients if c is not None]


@bp.route("/merge", methods=["GET", "POST"])
@requires("clients.merge")
def merge_page():
    # ?ids=1,2 or ?ids=1&ids=2 (the card's form sends its own id and the one typed).
    raw = ",".join(request.values.getlist("ids"))
    clients = _merge_candidates(raw)
    if len(clients) < 2:
        flash(
            _("Choose at least two clients you may see to merge (their numbers, comma-separated)."),
            "error",
        )
        first = clients[0].id if clients else None
        return redirect(url_for(".card", client_id=first) if first else url_for(".index"))
    if request.method == "POST":
        survivor_id = request.form.get("survivor_id", "")
        survivor = next((c for c in clients if str(c.id) == survivor_id), None)
        if survivor is None:
            flash(_("Choose the client that remains."), "error")
        elif request.form.get(f"version_{survivor.id}") != str(survivor.version):
            flash(_("One of the clients was changed meanwhile; check the values again."), "error")
        else:
            choose = {}
            for field in merge.CHOOSABLE:
                value = request.form.get(f"field_{field}", "")
                if parse_id(value):
                    choose[field] = parse_id(value)
            try:
                merge.merge(survivor, [c for c in clients if c.id != survivor.id], choose)
                flash(_("The clients are merged into %(name)s.", name=survivor.name), "success")
                if request.values.get("back") == "duplicates":
                    return redirect(url_for("client_duplicates.review"))
                return redirect(url_for(".card", client_id=survivor.id))
            except ValidationFailed as exc:
                db.session.rollback()
                if exc.status == 409:  # a part of the merge failed; nothing was merged
                    flash(" ".join(m for msgs in exc.errors.values() for m in msgs), "error")
                else:
                    _flash_errors(exc.errors)
        clients = _merge_candidates(raw)
    return render_template(
        "clients/merge.html",
        clients=clients,
        fields=merge.CHOOSABLE,
        ids=",".join(str(c.id) for c in clients),
        back="duplicates" if request.values.get("back") == "duplicates" else "",
    )
