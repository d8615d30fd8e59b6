"""Pages: the invoice list (filters, CSV/XLSX export), an invoice with its payment form,
issuing a proposal or an invoice for a deal, e-mailing them, and the panels for the
client card and the deal card."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.clients.models import Client, ContactPerson
from core.db import db
from core.documents import services as documents
from core.documents.models import Document, DocumentTemplate
from core.ids import parse_id
from core.plugin_system.types import PanelSource
from core.reads import Read
from core.security import current_actor, current_principal, requires
from core.spreadsheets import XLSX_MIMETYPE, csv_chunks, xlsx_file
from core.users.services import ValidationFailed
from plugins.sales.invoices import services
from plugins.sales.invoices.models import STATUSES, Invoice
from plugins.sales.models import Deal

bp = Blueprint("sales_invoices", __name__, url_prefix="/sales", template_folder="templates")

PAGE = 50
STATUS_LABELS = {
    "issued": _l("issued"),
    "partly_paid": _l("partly paid"),
    "paid": _l("paid"),
    "cancelled": _l("cancelled"),
}


def _date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat((raw or "").strip()) if raw and raw.strip() else None
    except ValueError:
        return None


def _flash_errors(errors: dict[str, list[str]]) -> None:
    flash("; ".join(" ".join(v) for v in errors.values()), "error")


def _back(default: str):
    target = request.form.get("next") or ""
    # Only a path of this site: never an open redirect.
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(default)


def _filters() -> dict[str, Any]:
    status = request.args.get("status") or None
    return {
        "status": status if status in STATUSES else None,
        "client_id": parse_id(request.args.get("client_id")),
        "issued_from": _date(request.args.get("issued_from")),
        "issued_to": _date(request.args.get("issued_to")),
    }


# --- panels ---------------------------------------------------------------------------------


def render_client_panel(client: Client, user: Any) -> PanelSource:
    """The "Invoices" panel of the client card: the client's invoices the user may see
    (read with the card's other panels)."""
    query = (
        services.visible_invoices(user)
        .with_only_columns(
            Invoice.id,
            Invoice.number,
            Invoice.issued_on,
            Invoice.total_amount,
            Invoice.currency,
            Invoice.status,
        )
        .where(Invoice.client_id == client.id)
    )

    def render(rows) -> str:
        return render_template(
            "sales/invoices/panel_client.html",
            invoices=rows["invoices"],
            client=client,
            labels=STATUS_LABELS,
        )

    return PanelSource({"invoices": Read(query, (Invoice.id.desc(),), limit=20)}, render)


def render_deal_documents_panel(deal: Deal, user: Any) -> str:
    """HTML for the deal card (owned by the deals part): the deal's documents and invoices,
    a form to issue a proposal or an invoice from a template, and e-mail buttons."""
    invoices = services.deal_invoices(deal.id)
    docs = services.deal_documents(deal.id)
    may_issue = user.has_permission("sales.invoices")
    return render_template(
        "sales/invoices/panel_deal.html",
        deal=deal,
        invoices=invoices,
        documents=docs,
        sendings=documents.client_sendings([d.id for d in docs]),
        templates=services.active_templates() if may_issue else [],
        contacts=deal.client.contacts if may_issue else [],
        may_issue=may_issue,
        labels=STATUS_LABELS,
        back=request.path if request else "",
    )


# --- list and export ------------------------------------------------------------------------


def _list_query(user: Any, filters: dict[str, Any]) -> sa.Select:
    return services.filtered(services.visible_invoices(user), **filters).order_by(Invoice.id.desc())


@bp.route("/invoices")
@requires("sales.view")
def index():
    filters = _filters()
    query = _list_query(current_principal(), filters)
    before = parse_id(request.args.get("before"))
    if before:
        query = query.where(Invoice.id < before)
    rows = list(db.session.execute(query.limit(PAGE + 1)).scalars())
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    names = _names(rows)
    args = {k: v for k, v in request.args.items() if k != "before"}
    return render_template(
        "sales/invoices/index.html",
        invoices=rows,
        names=names,
        filters=filters,
        statuses=STATUSES,
        labels=STATUS_LABELS,
        next_url=url_for(".index", **args, before=rows[-1].id) if more else None,
        export_args=args,
    )


def _names(rows: list[Invoice]) -> dict[str, dict[int, str]]:
    """Client and deal names of a page in two queries."""
    client_ids = {r.client_id for r in rows}
    deal_ids = {r.deal_id for r in rows}
    clients = dict(
        db.session.execute(sa.select(Client.id, Client.name).where(Client.id.in_(client_ids))).all()
    )
    deals = dict(
        db.session.execute(sa.select(Deal.id, Deal.title).where(Deal.id.in_(deal_ids))).all()
    )
    return {"clients": clients, "deals": deals}


EXPORT_HEADER = (
    "number",
    "issued_on",
    "due_on",
    "client",
    "deal",
    "currency",
    "net",
    "vat",
    "total",
    "paid",
    "status",
    "paid_on",
)


def _export_rows(user: Any, filters: dict[str, Any], numbers: bool = False):
    """The header and one row per invoice; amounts as numbers for XLSX, text ("1020.50")
    for CSV."""
    query = (
        sa.select(
            Invoice.number,
            Invoice.issued_on,
            Invoice.due_on,
            Client.name,
            Deal.title,
            Invoice.currency,
            Invoice.net_amount,
            Invoice.vat_amount,
            Invoice.total_amount,
            Invoice.paid_amount,
            Invoice.status,
            Invoice.paid_on,
        )
        .join(Deal, Deal.id == Invoice.deal_id)
        .join(Client, Client.id == Invoice.client_id)
        .order_by(Invoice.id.desc())
    )
    query = services.filtered(query, **filters)
    from core.security import scoped

    query = scoped(query, user, "sales.deals", Deal.owner_id)
    yield EXPORT_HEADER
    for row in db.session.execute(query.execution_options(yield_per=1000)):
        yield [
            v.isoformat()
            if isinstance(v, date)
            else ((float(v) if numbers else f"{v:.2f}") if 6 <= k <= 9 else v)
            for k, v in enumerate(row)
        ]


@bp.route("/invoices/export.<fmt>")
@requires("sales.view")
def export(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    user, filters = current_principal(), _filters()
    if fmt == "csv":
        return Response(
            stream_with_context(csv_chunks(_export_rows(user, filters))),
            mimetype="text/csv; charset=utf-8",
            headers={"Content-Disposition": "attachment; filename=invoices.csv"},
        )
    handle = xlsx_file(
        _export_rows(user, filters, numbers=True), "Invoices", (None,) * 6 + ("0.00",) * 4
    )
    return send_file(
        handle, mimetype=XLSX_MIMETYPE, as_attachment=True, download_name="invoices.xlsx"
    )


# --- one invoice ---------------------------------------------------------------------------


def _invoice(invoice_id: int) -> Invoice:
    return services.visible_invoice(invoice_id, current_principal()) or abort(404)


@bp.route("/invoices/<int:invoice_id>")
@requires("sales.view")
def show(invoice_id: int):
    invoice = _invoice(invoice_id)
    sendings = (
        documents.client_sendings([invoice.document_id]).get(invoice.document_id, [])
        if invoice.document_id
        else []
    )
    return render_template(
        "sales/invoices/show.html",
        invoice=invoice,
        sendings=sendings,
        labels=STATUS_LABELS,
        today=date.today().isoformat(),
    )


@bp.route("/invoices/<int:invoice_id>/payments", methods=["POST"])
@requires("sales.invoices")
def payment(invoice_id: int):
    invoice = _invoice(invoice_id)
    try:
        services.register_payment(
            invoice,
            request.form.get("amount", ""),
            _date(request.form.get("paid_on")),
            current_actor(),
        )
        flash(_("The payment is registered."), "success")
    except ValidationFailed as exc:
        db.session.rollback()
        _flash_errors(exc.errors)
    return redirect(url_for(".show", invoice_id=invoice.id))


@bp.route("/invoices/<int:invoice_id>/cancel", methods=["POST"])
@requires("sales.invoices")
def cancel(invoice_id: int):
    invoice = _invoice(invoice_id)
    try:
        services.cancel_invoice(invoice, current_actor())
        flash(_("The invoice is cancelled."), "success")
    except ValidationFailed as exc:
        db.session.rollback()
        _flash_errors(exc.errors)
    return redirect(url_for(".show", invoice_id=invoice.id))


# --- issuing and e-mailing for a deal ------------------------------------------------------


def _contact(client_id: int, raw: str | None) -> ContactPerson | None:
    contact_id = parse_id(raw)
    contact = db.session.get(ContactPerson, contact_id) if contact_id else None
    return contact if contact is not None and contact.client_id == client_id else None


@bp.route("/deals/<int:deal_id>/invoices", methods=["POST"])
@requires("sales.invoices")
def issue(deal_id: int):
    """Issue an invoice (an invoice template) or another document (a proposal) for a deal."""
    deal = services.visible_deal(deal_id, current_principal()) or abort(404)
    template_id = parse_id(request.form.get("template_id"))
    template = db.session.get(DocumentTemplate, template_id) if template_id else None
    contact = _contact(deal.client_id, request.form.get("contact_id"))
    default = url_for(".index")
    try:
        if template is None or template.type == "invoice":
            invoice = services.issue_invoice(
                deal, template, current_actor(), _date(request.form.get("due_on")), contact
            )
            flash(_("Invoice %(number)s is issued.", number=invoice.number), "success")
            default = url_for(".show", invoice_id=invoice.id)
        else:
            document = services.issue_document(deal, template, current_actor(), contact)
            flash(_("Document %(number)s is ready.", number=document.number), "success")
    except ValidationFailed as exc:
        db.session.rollback()
        _flash_errors(exc.errors)
    return _back(default)


@bp.route("/documents/<int:document_id>/send", methods=["POST"])
@requires("sales.invoices")
def send(document_id: int):
    """E-mail a document of a deal (through core's retried sending job)."""
    document = db.session.get(Document, document_id)
    if document is None or document.record_kind != services.DEAL_KIND:
        abort(404)
    deal = services.visible_deal(document.record_id, current_principal()) or abort(404)
    try:
        sending = documents.queue_sending(
            document,
            current_actor(),
            _contact(deal.client_id, request.form.get("contact_id")),
            request.form.get("email"),
        )
        db.session.refresh(sending)
        if sending.status == "sent":
            flash(_("Sent to %(email)s.", email=sending.to_email), "success")
        else:
            flash(_("The e-mail to %(email)s is queued.", email=sending.to_email), "info")
    except ValidationFailed as exc:
        db.session.rollback()
        _flash_errors(exc.errors)
    return _back(url_for(".index"))
