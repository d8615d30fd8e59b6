"""Pages: the kanban board, the deal list and its export, the deal card and forms."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
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

from core import spreadsheets
from core.clients import queries as client_queries
from core.clients.models import ContactPerson
from core.db import db, utcnow
from core.ids import parse_id
from core.plugin_system.types import PanelSource
from core.reads import Read
from core.security import current_actor, current_principal, requires
from core.users.models import User
from core.users.services import ValidationFailed, active_users
from plugins.sales.deals import pipelines, queries, services
from plugins.sales.models import Deal, Stage

bp = Blueprint(
    "sales_deals",
    __name__,
    url_prefix="/sales",
    template_folder="../templates",
    static_folder="../static",
    static_url_path="/static",
)

PER_COLUMN = 20
KIND_LABELS = {"open": _l("Open"), "won": _l("Won"), "lost": _l("Lost")}
EXPORT_LIMIT = 100_000


def _visible_or_404(deal_id: int) -> Deal:
    deal = services.visible(deal_id, current_principal())
    if deal is None:
        abort(404)
    return deal


def _users() -> tuple[Any, ...]:
    return active_users()


def _sources() -> list[str]:
    """Sources in use, for the filter (read from the index-free distinct is bounded)."""
    return [
        s
        for s in db.session.execute(
            sa.select(Deal.source).where(Deal.source.is_not(None)).distinct().limit(50)
        ).scalars()
    ]


# --- the board ---------------------------------------------------------------------------


@bp.route("/deals/board")
@requires("sales.view")
def board():
    user = current_principal()
    all_pipelines = pipelines.pipelines(active_only=True)
    if not all_pipelines:
        return render_template("sales/board.html", pipeline=None, pipelines=[], columns=[])
    chosen = parse_id(request.args.get("pipeline_id"))
    pipeline = next((p for p in all_pipelines if p.id == chosen), all_pipelines[0])
    flt = queries.DealFilter.from_args(request.args)
    flt.pipeline_id, flt.stage_id = pipeline.id, None
    stages = pipelines.live_stages(pipeline.id)
    columns = queries.board(stages, flt, user, PER_COLUMN, utcnow())
    return render_template(
        "sales/board.html",
        pipeline=pipeline,
        pipelines=all_pipelines,
        columns=columns,
        stages=stages,
        flt=flt,
        users=_users(),
        reasons=pipelines.lost_reasons(),
    )


@bp.route("/deals/<int:deal_id>/move", methods=["POST"])
@requires("sales.deals.edit")
def move(deal_id: int):
    """From the board (fetch, answers JSON) or a form (redirects back)."""
    deal = _visible_or_404(deal_id)
    wants_json = request.accept_mimetypes.best == "application/json"
    try:
        services.move_deal(
            deal,
            request.form.get("stage_id"),
            current_actor(),
            lost_reason_id=request.form.get("lost_reason_id"),
            note=request.form.get("note", ""),
            version=parse_id(request.form.get("version")),
        )
    except ValidationFailed as exc:
        db.session.rollback()
        if wants_json:
            return jsonify({"ok": False, "errors": exc.errors}), exc.status
        for messages in exc.errors.values():
            flash(" ".join(messages), "error")
        if "lost_reason_id" in exc.errors:
            target = request.form.get("stage_id", "")
            return redirect(url_for(".card", deal_id=deal.id, lose=target) + "#lost")
        return redirect(_back(deal))
    if wants_json:
        return jsonify({"ok": True, "stage_id": deal.stage_id, "version": deal.version})
    flash(_("Moved to %(stage)s.", stage=deal.stage.name), "success")
    return redirect(_back(deal))


def _back(deal: Deal) -> str:
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return target
    return url_for(".card", deal_id=deal.id)


# --- the list and its export ----------------------------------------------------------------


@bp.route("/deals")
@requires("sales.view")
def index():
    flt = queries.DealFilter.from_args(request.args)
    rows, cursor = queries.rows_with_names(
        flt, current_principal(), parse_id(request.args.get("cursor")), 50
    )
    all_pipelines = pipelines.pipelines()
    stages = db.session.execute(
        sa.select(Stage)
        .where(Stage.removed_at.is_(None))
        .order_by(Stage.pipeline_id, Stage.position)
    ).scalars()
    return render_template(
        "sales/list.html",
        rows=rows,
        next_cursor=cursor,
        flt=flt,
        pipelines=all_pipelines,
        stages=list(stages),
        users=_users(),
        sources=_sources(),
        kind_labels=KIND_LABELS,
    )


EXPORT_COLUMNS = (
    _l("Id"),
    _l("Title"),
    _l("Client"),
    _l("Stage"),
    _l("Owner"),
    _l("Amount"),
    _l("Currency"),
    _l("Expected close"),
    _l("Source"),
    _l("Created"),
    _l("Closed"),
)


def _export_rows(flt: queries.DealFilter, user: Any):
    yield [str(c) for c in EXPORT_COLUMNS]
    cursor = None
    sent = 0
    while sent < EXPORT_LIMIT:
        rows, cursor = queries.rows_with_names(flt, user, cursor, 1000)
        for row in rows:
            deal = row.Deal
            yield [
                deal.id,
                deal.title,
                row.client_name,
                row.stage_name,
                row.owner_name or "",
                float(deal.amount),
                deal.currency,
                deal.expected_close_on.isoformat() if deal.expected_close_on else "",
                deal.source or "",
                f"{deal.created_at:%Y-%m-%d %H:%M}",
                f"{deal.closed_at:%Y-%m-%d %H:%M}" if deal.closed_at else "",
            ]
        sent += len(rows)
        if cursor is None:
            break


@bp.route("/deals/export.<fmt>")
@requires("sales.deals.export")
def export(fmt: str):
    flt = queries.DealFilter.from_args(request.args)
    user = current_principal()
    stamp = f"{date.today():%Y-%m-%d}"
    if fmt == "csv":
        body = stream_with_context(spreadsheets.csv_chunks(_export_rows(flt, user)))
        response = Response(body, mimetype="text/csv")
        response.headers["Content-Disposition"] = f'attachment; filename="deals-{stamp}.csv"'
        return response
    if fmt == "xlsx":
        handle = spreadsheets.xlsx_file(
            _export_rows(flt, user), str(_("Deals")), [None] * 5 + ["0.00"]
        )
        return send_file(
            handle,
            mimetype=spreadsheets.XLSX_MIMETYPE,
            as_attachment=True,
            download_name=f"deals-{stamp}.xlsx",
        )
    abort(404)


# --- the card and forms ---------------------------------------------------------------------


@bp.route("/deals/<int:deal_id>")
@requires("sales.view")
def card(deal_id: int):
    from core.documents import attachments
    from core.interactions import comments
    from core.tasks import services as task_services
    from core.tasks.models import Task

    user = current_principal()
    deal = _visible_or_404(deal_id)
    stages = pipelines.live_stages(deal.pipeline_id)
    tasks = []
    if user.has_permission("tasks.view"):
        tasks = list(
            db.session.execute(
                task_services.scoped(sa.select(Task), user)
                .where(Task.record_kind == "sales.deal", Task.record_id == deal.id)
                .order_by(Task.id.desc())
                .limit(20)
            ).scalars()
        )
    notes, _cursor = comments.page("sales.deal", deal.id, limit=50)
    authors = _user_names({c.author_id for c in notes})
    return render_template(
        "sales/card.html",
        deal=deal,
        stages=stages,
        history=services.history(deal),
        totals=services.totals(deal),
        reasons=pipelines.lost_reasons(),
        lose=parse_id(request.args.get("lose")),
        tasks=tasks,
        comments=notes,
        authors=authors,
        kind_labels=KIND_LABELS,
        **attachments.panel("sales.deal", deal.id, user),
    )


def _user_names(ids: set[int]) -> dict[int, str]:
    ids.discard(None)
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(User.id, User.name).where(User.id.in_(ids))).all())


FIELDS = (
    "title",
    "client_id",
    "contact_person_id",
    "owner_id",
    "amount",
    "currency",
    "expected_close_on",
    "source",
    "campaign",
    "notes",
)


def _form_data(
    creating: bool, client_id: int | None = None
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The form's fields for the deal service, and the error of the client field when what
    was typed there names no single client the user may see (the field then goes to the
    service empty, so the service reports the other fields too). ``client_id``: the
    edited deal's client, which the form may show as a bare number (one the user may not
    see) and which stays as it is when that comes back."""
    form = request.form
    data: dict[str, Any] = {k: form.get(k, "") for k in FIELDS if k in form}
    if creating:
        for key in ("pipeline_id", "stage_id"):
            if form.get(key):
                data[key] = form.get(key)
    errors: dict[str, list[str]] = {}
    if client_id is not None and client_queries.picked_number(data.get("client_id")) == client_id:
        data.pop("client_id")  # unchanged
    if "client_id" in data:
        try:
            data["client_id"] = client_queries.picked(data["client_id"], current_principal()).id
        except client_queries.NotPicked as exc:
            errors["client_id"] = [str(exc)]
            data["client_id"] = ""
    return data, errors


def _refused(exc: ValidationFailed, picking: dict[str, list[str]]) -> dict[str, list[str]]:
    return {**exc.errors, **picking}


def _form_page(deal: Deal | None, values: dict[str, Any], errors: dict, status: int = 422):
    client = None
    client_id = parse_id(str(values.get("client_id") or ""))
    if client_id and not errors.get("client_id"):
        client = client_queries.get_visible(client_id, current_principal())
    contacts = []
    if client is not None:
        contacts = db.session.execute(
            sa.select(ContactPerson).where(ContactPerson.client_id == client.id).limit(100)
        ).scalars()
    all_pipelines = pipelines.pipelines(active_only=True)
    stages = db.session.execute(
        sa.select(Stage)
        .where(Stage.removed_at.is_(None), Stage.kind == "open")
        .order_by(Stage.pipeline_id, Stage.position)
    ).scalars()
    return render_template(
        "sales/form.html",
        deal=deal,
        values=values,
        errors=errors,
        client=client,
        contacts=list(contacts),
        users=_users(),
        pipelines=all_pipelines,
        stages=list(stages),
    ), (status if errors else 200)


@bp.route("/deals/new", methods=["GET", "POST"])
@requires("sales.deals.edit")
def new():
    if request.method == "POST":
        data, picking = _form_data(creating=True)
        try:
            deal = services.create_deal(data, current_actor())
        except ValidationFailed as exc:
            db.session.rollback()
            typed = {**data, "client_id": request.form.get("client_id", "")} if picking else data
            return _form_page(None, typed, _refused(exc, picking))
        flash(_("The deal is saved."), "success")
        return redirect(url_for(".card", deal_id=deal.id))
    values = {
        "client_id": parse_id(request.args.get("client_id")),
        "owner_id": current_principal().id,
        "currency": services.default_currency(),
        "pipeline_id": parse_id(request.args.get("pipeline_id")),
        "stage_id": parse_id(request.args.get("stage_id")),
    }
    return _form_page(None, values, {})


def _values_of(deal: Deal) -> dict[str, Any]:
    values = {k: getattr(deal, k) for k in FIELDS}
    values["version"] = deal.version
    return values


@bp.route("/deals/<int:deal_id>/edit", methods=["GET", "POST"])
@requires("sales.deals.edit")
def edit(deal_id: int):
    deal = _visible_or_404(deal_id)
    if request.method == "POST":
        data, picking = _form_data(creating=False, client_id=deal.client_id)
        data["version"] = parse_id(request.form.get("version"))
        try:
            services.update_deal(deal, data, current_actor())
        except ValidationFailed as exc:
            db.session.rollback()
            values = {**data, "version": deal.version if exc.status == 409 else data["version"]}
            if picking:
                values["client_id"] = request.form.get("client_id", "")
            values.setdefault("client_id", deal.client_id)
            return _form_page(deal, values, _refused(exc, picking), exc.status)
        flash(_("The deal is saved."), "success")
        return redirect(url_for(".card", deal_id=deal.id))
    return _form_page(deal, _values_of(deal), {})


LINE_FIELDS = ("product_id", "name", "unit", "quantity", "price", "discount_percent", "vat_rate")


@bp.route("/deals/<int:deal_id>/lines", methods=["GET", "POST"])
@requires("sales.deals.edit")
def lines(deal_id: int):
    """The lines editor: every row of the table at once; empty rows are skipped."""
    from plugins.sales.models import Product

    deal = _visible_or_404(deal_id)
    errors: dict = {}
    if request.method == "POST":
        form = request.form
        # The page's own row count: anything but a whole number is a forged form, and taking
        # it for 0 would save the deal without its lines.
        count = form.get("rows", "").strip()
        if not count.isascii() or not count.isdigit() or len(count) > 6:
            abort(400, description=f"rows: {_('Enter a number.')}")
        rows = []
        for index in range(min(int(count), services.MAX_LINES)):
            line = {f: form.get(f"{f}-{index}", "").strip() for f in LINE_FIELDS}
            if not any(line[f] for f in ("product_id", "name", "price")):
                continue
            rows.append({k: v for k, v in line.items() if v != ""})
        try:
            services.update_deal(
                deal,
                {"lines": rows, "version": parse_id(form.get("version"))},
                current_actor(),
            )
        except ValidationFailed as exc:
            db.session.rollback()
            errors = exc.errors
        else:
            flash(_("The lines are saved."), "success")
            return redirect(url_for(".card", deal_id=deal.id) + "#lines")
        values = rows
    else:
        values = [{f: getattr(line, f) for f in LINE_FIELDS} for line in deal.lines]
    products = db.session.execute(
        sa.select(Product.id, Product.name, Product.price, Product.currency)
        .where(Product.active.is_(True))
        .order_by(Product.name)
        .limit(500)
    ).all()
    return render_template(
        "sales/lines.html",
        deal=deal,
        rows=values + [{}] * 3,
        errors=errors,
        products=products,
    ), (422 if errors else 200)


@bp.route("/deals/<int:deal_id>/delete", methods=["POST"])
@requires("sales.deals.delete")
def delete(deal_id: int):
    deal = _visible_or_404(deal_id)
    try:
        services.delete_deal(deal)
    except ValidationFailed as exc:
        for messages in exc.errors.values():
            for message in messages:
                flash(message, "error")
        return redirect(url_for(".card", deal_id=deal.id))
    flash(_("The deal is deleted."), "success")
    return redirect(url_for(".index"))


# --- the client card -----------------------------------------------------------------------


CLIENT_PANEL_DEALS = 20


def render_client_deals_panel(client: Any, user: Any) -> PanelSource:
    """The client's newest deals the user may see, read with the card's other panels."""
    query = sa.select(
        Deal.id,
        Deal.title,
        Deal.amount,
        Deal.currency,
        Stage.name.label("stage_name"),
        User.name.label("owner_name"),
    )
    query = query.join(Stage, Stage.id == Deal.stage_id).outerjoin(User, User.id == Deal.owner_id)
    query = services.scoped(queries.DealFilter(client_id=client.id).apply(query), user)
    limit = CLIENT_PANEL_DEALS

    def render(found) -> str:
        rows = found["deals"]
        more = rows[limit - 1].id if len(rows) > limit else None
        return render_template(
            "sales/panel_client.html",
            client=client,
            rows=rows[:limit],
            more=more,
            kind_labels=KIND_LABELS,
        )

    return PanelSource({"deals": Read(query, (Deal.id.desc(),), limit=limit + 1)}, render)
