"""Issuing documents and invoices for deals, payments and cancelling, and what accounting
sync calls. No Flask request here: views, the API, jobs and tests call the same functions.

Invoices follow the deal's scope (area "sales.deals", by the deal's owner): whoever may
see the deal may see its invoices; everyone else gets 404.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from core.clients.models import ContactPerson
from core.db import db
from core.documents import services as documents
from core.documents.models import Document, DocumentTemplate
from core.records import Linked
from core.security import scoped
from core.users.services import ValidationFailed
from plugins.sales.invoices import events
from plugins.sales.invoices.models import Invoice
from plugins.sales.invoices.variables import DUE_DAYS, deal_totals, due_date_override
from plugins.sales.models import Deal

DEAL_KIND = "sales.deal"
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1e12")  # what Numeric(14, 2) holds


# --- visibility ----------------------------------------------------------------------------


def visible_deals(user: Any) -> sa.Select:
    return scoped(sa.select(Deal), user, "sales.deals", Deal.owner_id)


def visible_deal(deal_id: int, user: Any) -> Deal | None:
    return db.session.execute(visible_deals(user).where(Deal.id == deal_id)).scalar_one_or_none()


def visible_invoices(user: Any) -> sa.Select:
    """Invoices of the deals ``user`` may see (the "sales.deals" scope)."""
    return scoped(
        sa.select(Invoice).join(Deal, Deal.id == Invoice.deal_id),
        user,
        "sales.deals",
        Deal.owner_id,
    )


def visible_invoice(invoice_id: int, user: Any) -> Invoice | None:
    return db.session.execute(
        visible_invoices(user).where(Invoice.id == invoice_id)
    ).scalar_one_or_none()


def filtered(
    query: sa.Select,
    status: str | None = None,
    client_id: int | None = None,
    deal_id: int | None = None,
    issued_from: date | None = None,
    issued_to: date | None = None,
) -> sa.Select:
    if status:
        query = query.where(Invoice.status == status)
    if client_id:
        query = query.where(Invoice.client_id == client_id)
    if deal_id:
        query = query.where(Invoice.deal_id == deal_id)
    if issued_from:
        query = query.where(Invoice.issued_on >= issued_from)
    if issued_to:
        query = query.where(Invoice.issued_on <= issued_to)
    return query


def deal_invoices(deal_id: int) -> list[Invoice]:
    return list(
        db.session.execute(
            sa.select(Invoice).where(Invoice.deal_id == deal_id).order_by(Invoice.id.desc())
        ).scalars()
    )


def deal_documents(deal_id: int, limit: int = 50) -> list[Document]:
    """Documents generated for the deal (proposals, invoices, ...), newest first."""
    return list(
        db.session.execute(
            sa.select(Document)
            .where(Document.record_kind == DEAL_KIND, Document.record_id == deal_id)
            .order_by(Document.id.desc())
            .limit(limit)
        ).scalars()
    )


# --- templates -----------------------------------------------------------------------------


def active_templates(types: tuple[str, ...] = ("proposal", "invoice")) -> list[DocumentTemplate]:
    return list(
        db.session.execute(
            sa.select(DocumentTemplate)
            .where(DocumentTemplate.active.is_(True), DocumentTemplate.type.in_(types))
            .order_by(DocumentTemplate.type, DocumentTemplate.name, DocumentTemplate.id)
        ).scalars()
    )


def default_template(template_type: str, language: str = "en") -> DocumentTemplate | None:
    """The first active template of the type in ``language``, else in English, else any."""
    candidates = active_templates((template_type,))
    for wanted in (language, "en"):
        for template in candidates:
            if template.language == wanted:
                return template
    return candidates[0] if candidates else None


# --- issuing -------------------------------------------------------------------------------


def issue_document(
    deal: Deal,
    template: DocumentTemplate,
    actor: Any,
    contact: ContactPerson | None = None,
    commit: bool = True,
) -> Document:
    """A numbered PDF from ``template`` for the deal's client, linked to the deal (kept on
    both cards). Raises ValidationFailed; nothing is saved then. ``commit=False``: the
    caller commits (see core's ``generate``)."""
    if template.type not in ("proposal", "invoice", "contract", "act", "letter"):
        raise ValidationFailed({"template_id": ["Choose a document template."]})
    return documents.generate(
        template,
        deal.client,
        actor,
        contact or deal.contact_person,
        Linked(DEAL_KIND, deal.id, deal.title, ""),
        commit=commit,
    )


def issue_invoice(
    deal: Deal,
    template: DocumentTemplate | None = None,
    actor: Any = None,
    due_on: date | None = None,
    contact: ContactPerson | None = None,
) -> Invoice:
    """Generate the invoice PDF for ``deal`` (numbered INV-<year>-<n> by core's documents,
    linked to the deal) and record the invoice with the deal's totals, both in one
    transaction."""
    language = (getattr(actor, "locale", None) or "en")[:2]
    template = template or default_template("invoice", language)
    if template is None:
        raise ValidationFailed(
            {"template_id": ["There is no active invoice template: add one first."]}
        )
    if template.type != "invoice":
        raise ValidationFailed(
            {"template_id": ["This is not an invoice template: choose one of type invoice."]}
        )
    issued_on = date.today()
    due_on = due_on or issued_on + timedelta(days=DUE_DAYS)
    if due_on < issued_on:
        raise ValidationFailed({"due_on": ["The due date cannot be before the issue date."]})
    sums = deal_totals(deal)
    if sums["total"] <= 0:
        raise ValidationFailed({"deal_id": ["The deal has nothing to invoice: its total is zero."]})
    token = due_date_override.set(due_on)
    try:
        document = issue_document(deal, template, actor, contact, commit=False)
    finally:
        due_date_override.reset(token)
    invoice = Invoice(
        deal_id=deal.id,
        client_id=deal.client_id,
        document_id=document.id,
        number=document.number,
        issued_on=issued_on,
        due_on=due_on,
        currency=deal.currency,
        net_amount=sums["net"],
        vat_amount=sums["vat"],
        total_amount=sums["total"],
        status="issued",
        paid_amount=Decimal(0),
        created_by_id=getattr(actor, "id", None),
    )
    db.session.add(invoice)
    db.session.commit()
    return invoice


# --- payments ------------------------------------------------------------------------------


def _amount(raw: Any, field: str = "amount") -> Decimal:
    try:
        value = Decimal(str(raw).strip().replace(",", "."))
        if not value.is_finite() or abs(value) >= MAX_AMOUNT:
            raise ValueError(raw)
        rounded = value.quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise ValidationFailed({field: ["Give the amount as a number, e.g. 1200.50."]}) from None
    if value != rounded:
        raise ValidationFailed({field: ["Give the amount in whole cents (two decimals)."]})
    return rounded


def _settle(invoice: Invoice, paid: Decimal, on: date | None) -> bool:
    """Set the paid amount and status; True when the invoice just became paid in full."""
    was_paid = invoice.status == "paid"
    invoice.paid_amount = paid
    invoice.paid_on = on if paid > 0 else None
    if paid >= invoice.total_amount:
        invoice.status = "paid"
    elif paid > 0:
        invoice.status = "partly_paid"
    else:
        invoice.status = "issued"
    return invoice.status == "paid" and not was_paid


def register_payment(invoice: Invoice, amount: Any, on: date | None, actor: Any) -> Invoice:
    """Add a payment of ``amount`` received ``on`` (today if None): the invoice becomes
    partly paid or paid. A negative, zero or over-payment, a payment on a cancelled or paid
    invoice, or a date in the future is refused with ValidationFailed; nothing changes."""
    value = _amount(amount)
    on = on or date.today()
    errors: dict[str, list[str]] = {}
    if invoice.status == "cancelled":
        errors["status"] = ["The invoice is cancelled: it takes no payments."]
    elif invoice.status == "paid":
        errors["status"] = ["The invoice is already paid in full."]
    elif value <= 0:
        errors["amount"] = ["A payment must be more than zero."]
    elif invoice.paid_amount + value > invoice.total_amount:
        errors["amount"] = [
            f"The payment is more than what is outstanding "
            f"({invoice.outstanding:.2f} {invoice.currency})."
        ]
    if on > date.today():
        errors["paid_on"] = ["A payment cannot be dated in the future."]
    if errors:
        raise ValidationFailed(errors)
    became_paid = _settle(invoice, invoice.paid_amount + value, on)
    db.session.commit()
    if became_paid:
        events.invoice_paid(invoice, actor)
    return invoice


def cancel_invoice(invoice: Invoice, actor: Any) -> Invoice:
    """Cancel an invoice with no payment yet (its document and number stay)."""
    if invoice.status == "cancelled":
        return invoice
    if invoice.paid_amount > 0:
        raise ValidationFailed(
            {"status": ["The invoice has payments: it cannot be cancelled."]}, status=409
        )
    invoice.status = "cancelled"
    db.session.commit()
    return invoice


def mark_paid_from_accounting(number: str, amount: Any, on: date | None = None) -> Invoice:
    """For the accounting sync plugin: accounting says invoice ``number`` ("INV-2026-0042")
    has been paid ``amount`` *in total* so far, the last time ``on``.

    Idempotent: the same figures again change nothing, so a sync may repeat itself. The
    status follows the amount (issued, partly paid, paid); ``invoice_paid`` listeners are
    told when it becomes paid in full. Raises ValidationFailed (status 404 for an unknown
    number; 422 for a cancelled invoice, a negative amount or one above the total).
    """
    invoice = db.session.execute(
        sa.select(Invoice).where(Invoice.number == (number or "").strip())
    ).scalar_one_or_none()
    if invoice is None:
        raise ValidationFailed({"number": [f"There is no invoice {number}."]}, status=404)
    value = _amount(amount)
    if invoice.status == "cancelled":
        raise ValidationFailed({"status": ["The invoice is cancelled."]})
    if value < 0 or value > invoice.total_amount:
        raise ValidationFailed(
            {"amount": [f"The paid amount must be between 0 and {invoice.total_amount:.2f}."]}
        )
    if value == invoice.paid_amount:
        return invoice
    became_paid = _settle(invoice, value, on or date.today())
    db.session.commit()
    if became_paid:
        events.invoice_paid(invoice, None)
    return invoice
