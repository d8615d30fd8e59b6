"""JSON API under /api/v1/sales: invoices (list with filters and a cursor, one invoice),
issuing an invoice for a deal, payments and cancelling. Invoices follow the deal's scope:
a caller who may not see the deal gets 404."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from core.api import ApiBlueprint, refuse_invalid
from core.clients.models import ContactPerson
from core.db import db
from core.documents.models import DocumentTemplate
from core.security import current_actor, current_principal, requires
from core.users.services import ValidationFailed
from plugins.sales.invoices import services
from plugins.sales.invoices.models import STATUSES, Invoice

api = ApiBlueprint(
    "sales_invoices_api", __name__, url_prefix="/api/v1/sales", description="Sales invoices"
)
ID = validate.Range(min=1, max=2**63 - 1)


class InvoiceOutSchema(Schema):
    id = fields.Integer()
    number = fields.String()
    deal_id = fields.Integer()
    client_id = fields.Integer()
    document_id = fields.Integer(allow_none=True)
    issued_on = fields.Date()
    due_on = fields.Date(allow_none=True)
    currency = fields.String()
    net_amount = fields.Decimal(as_string=True)
    vat_amount = fields.Decimal(as_string=True)
    total_amount = fields.Decimal(as_string=True)
    paid_amount = fields.Decimal(as_string=True)
    paid_on = fields.Date(allow_none=True)
    status = fields.String(metadata={"enum": list(STATUSES)})
    created_at = fields.DateTime()
    version = fields.Integer()


class InvoiceListQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    client_id = fields.Integer(validate=ID)
    deal_id = fields.Integer(validate=ID)
    issued_from = fields.Date()
    issued_to = fields.Date()
    cursor = fields.Integer(
        validate=ID, metadata={"description": "``next_cursor`` of the previous page."}
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class InvoicePageSchema(Schema):
    items = fields.List(fields.Nested(InvoiceOutSchema))
    next_cursor = fields.Integer(allow_none=True)


class InvoiceIssueSchema(Schema):
    template_id = fields.Integer(
        validate=ID,
        metadata={"description": "An invoice template; by default the first one in your language."},
    )
    contact_id = fields.Integer(validate=ID)
    due_on = fields.Date(metadata={"description": "Due date; 14 days after today by default."})


class InvoicePaymentSchema(Schema):
    amount = fields.Decimal(required=True, as_string=True)
    paid_on = fields.Date(metadata={"description": "Today by default; not in the future."})


def _invoice(invoice_id: int) -> Invoice:
    invoice = services.visible_invoice(invoice_id, current_principal())
    if invoice is None:
        abort(404, message=f"Invoice {invoice_id} does not exist or is not yours to see.")
    return invoice


@api.route("/invoices")
class Invoices(MethodView):
    @requires("sales.view")
    @api.arguments(InvoiceListQuerySchema, location="query")
    @api.response(200, InvoicePageSchema)
    def get(self, args):
        """Invoices of the deals the caller may see, newest first, ``limit`` at a time;
        pass ``next_cursor`` as ``cursor`` for the next page. Filters: status, client,
        deal, issue dates."""
        limit = args.pop("limit")
        cursor = args.pop("cursor", None)
        query = services.filtered(services.visible_invoices(current_principal()), **args)
        if cursor:
            query = query.where(Invoice.id < cursor)
        rows = list(
            db.session.execute(query.order_by(Invoice.id.desc()).limit(limit + 1)).scalars()
        )
        next_cursor = rows[limit - 1].id if len(rows) > limit else None
        return {"items": rows[:limit], "next_cursor": next_cursor}


@api.route("/invoices/<int:invoice_id>")
class InvoiceItem(MethodView):
    @requires("sales.view")
    @api.response(200, InvoiceOutSchema)
    def get(self, invoice_id: int):
        """One invoice (404 unless the caller may see its deal)."""
        return _invoice(invoice_id)


@api.route("/deals/<int:deal_id>/invoices")
class DealInvoices(MethodView):
    @requires("sales.invoices")
    @api.arguments(InvoiceIssueSchema)
    @api.response(201, InvoiceOutSchema)
    def post(self, data, deal_id: int):
        """Issue an invoice for the deal: a numbered PDF (INV-<year>-<n>) from an invoice
        template with the deal's lines, totals, amount in words and payment details,
        linked to the deal and the client."""
        deal = services.visible_deal(deal_id, current_principal())
        if deal is None:
            abort(404, message=f"Deal {deal_id} does not exist or is not yours to see.")
        template = None
        if data.get("template_id"):
            template = db.session.get(DocumentTemplate, data["template_id"])
            if template is None:
                abort(
                    422,
                    message="Invalid input.",
                    errors={"json": {"template_id": ["No such template."]}},
                )
        contact = None
        if data.get("contact_id"):
            contact = db.session.get(ContactPerson, data["contact_id"])
            if contact is None or contact.client_id != deal.client_id:
                abort(
                    422,
                    message="Invalid input.",
                    errors={
                        "json": {"contact_id": ["This person is not a contact of the client."]}
                    },
                )
        try:
            return services.issue_invoice(
                deal, template, current_actor(), data.get("due_on"), contact
            )
        except ValidationFailed as exc:
            refuse_invalid(exc)


@api.route("/invoices/<int:invoice_id>/payments")
class InvoicePayments(MethodView):
    @requires("sales.invoices")
    @api.arguments(InvoicePaymentSchema)
    @api.response(201, InvoiceOutSchema)
    def post(self, data, invoice_id: int):
        """Register a payment: the invoice becomes partly paid or paid. A zero, negative or
        over-payment, or a payment on a cancelled or paid invoice, is refused (422)."""
        invoice = _invoice(invoice_id)
        try:
            return services.register_payment(
                invoice, data["amount"], data.get("paid_on"), current_actor()
            )
        except ValidationFailed as exc:
            refuse_invalid(exc)


@api.route("/invoices/<int:invoice_id>/cancel")
class InvoiceCancel(MethodView):
    @requires("sales.invoices")
    @api.response(200, InvoiceOutSchema)
    def post(self, invoice_id: int):
        """Cancel an invoice that has no payments (409 when it has)."""
        invoice = _invoice(invoice_id)
        try:
            return services.cancel_invoice(invoice, current_actor())
        except ValidationFailed as exc:
            refuse_invalid(exc)
