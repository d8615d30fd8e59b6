"""What document templates get from a deal: ``deal``, ``lines``, ``totals``,
``amount_in_words`` and ``payment_details`` (see docs/sales-documents.md).

Amounts are strings formatted for the template's language ("1 200,50" in Russian,
"1,200.50" in English); each value also has a plain form (``net_value``: "1200.50").
"""

from __future__ import annotations

import contextvars
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any

from babel import Locale
from babel.numbers import NumberPattern, parse_pattern

from core.db import db
from core.documents.variables import company_values, long_date
from plugins.sales.invoices.words import amount_in_words
from plugins.sales.models import Deal, DealLine

CENT = Decimal("0.01")
DUE_DAYS = 14  # an invoice is due two weeks after it is issued unless told otherwise
# The due date of the invoice being issued, for ``payment_details.due_date``.
due_date_override: contextvars.ContextVar[date | None] = contextvars.ContextVar(
    "sales_invoice_due_on", default=None
)


@cache
def _format(pattern: str, language: str) -> tuple[NumberPattern, Locale]:
    """What babel's format_decimal parses on every call, parsed once (an invoice formats
    some 25 amounts)."""
    return parse_pattern(pattern), Locale.parse(language)


def _formatted(value: Decimal, pattern: str, language: str) -> str:
    number_pattern, locale = _format(pattern, language)
    return number_pattern.apply(value, locale)


def money(value: Decimal, language: str) -> str:
    return _formatted(value, "#,##0.00", language)


def plain(value: Decimal) -> str:
    return str(Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP))


def number(value: Decimal, language: str) -> str:
    return _formatted(value, "#,##0.###", language)


def line_amounts(line: DealLine) -> tuple[Decimal, Decimal, Decimal]:
    """Net, VAT and total of a line: the stored amounts, or computed the same way (price
    without VAT, less the discount, VAT on top) for a line saved without them."""
    if line.net_amount or line.total_amount:
        return Decimal(line.net_amount), Decimal(line.vat_amount), Decimal(line.total_amount)
    gross = Decimal(line.quantity) * Decimal(line.price)
    net = (gross * (100 - Decimal(line.discount_percent)) / 100).quantize(CENT, ROUND_HALF_UP)
    vat = (net * Decimal(line.vat_rate) / 100).quantize(CENT, ROUND_HALF_UP)
    return net, vat, net + vat


def deal_totals(deal: Deal) -> dict[str, Any]:
    """Net, VAT and total overall and per VAT rate, as Decimals; a deal without lines is
    its amount, without VAT."""
    by_rate: dict[Decimal, list[Decimal]] = {}
    for line in deal.lines:
        net, vat, total = line_amounts(line)
        sums = by_rate.setdefault(Decimal(line.vat_rate).normalize(), [Decimal(0)] * 3)
        sums[0] += net
        sums[1] += vat
        sums[2] += total
    if not deal.lines:
        amount = Decimal(deal.amount or 0)
        return {"net": amount, "vat": Decimal(0), "total": amount, "by_rate": {}}
    return {
        "net": sum((s[0] for s in by_rate.values()), Decimal(0)),
        "vat": sum((s[1] for s in by_rate.values()), Decimal(0)),
        "total": sum((s[2] for s in by_rate.values()), Decimal(0)),
        "by_rate": by_rate,
    }


def _person(user: Any) -> dict[str, str]:
    return {
        "name": getattr(user, "name", "") or "",
        "email": getattr(user, "email", "") or "",
        "phone": getattr(user, "phone", "") or "",
    }


def payment_details(language: str, today: date | None = None) -> dict[str, Any]:
    company = company_values()
    due = due_date_override.get() or (today or date.today()) + timedelta(days=DUE_DAYS)
    return {
        "recipient": company["name"],
        "tax_id": company["tax_id"],
        "address": company["address"],
        "bank_name": company["bank_name"],
        "bank_account": company["bank_account"],
        "bank_code": company["bank_code"],
        "due_date": long_date(due, language),
    }


def deal_values(deal: Deal, language: str) -> dict[str, Any]:
    currency = deal.currency
    lines = []
    for position, line in enumerate(deal.lines, start=1):
        net, vat, total = line_amounts(line)
        lines.append(
            {
                "n": position,
                "name": line.name,
                "unit": line.unit,
                "quantity": number(line.quantity, language),
                "price": money(line.price, language),
                "discount": number(line.discount_percent, language),
                "vat_rate": number(line.vat_rate, language),
                "net": money(net, language),
                "vat": money(vat, language),
                "total": money(total, language),
                "net_value": plain(net),
                "vat_value": plain(vat),
                "total_value": plain(total),
            }
        )
    sums = deal_totals(deal)
    totals = {
        "net": money(sums["net"], language),
        "vat": money(sums["vat"], language),
        "total": money(sums["total"], language),
        "net_value": plain(sums["net"]),
        "vat_value": plain(sums["vat"]),
        "total_value": plain(sums["total"]),
        "currency": currency,
        "by_vat": [
            {
                "rate": number(rate, language),
                "net": money(s[0], language),
                "vat": money(s[1], language),
                "total": money(s[2], language),
            }
            for rate, s in sorted(sums["by_rate"].items())
        ],
    }
    return {
        "deal": {
            "id": deal.id,
            "number": str(deal.id),
            "title": deal.title,
            "amount": money(Decimal(deal.amount or 0), language),
            "amount_value": plain(Decimal(deal.amount or 0)),
            "currency": currency,
            "expected_close": long_date(deal.expected_close_on, language)
            if deal.expected_close_on
            else "",
            "owner": _person(deal.owner),
            "lines": lines,
            "total": totals["total"],
        },
        "lines": lines,
        "totals": totals,
        "amount_in_words": amount_in_words(sums["total"], currency, language),
        "payment_details": payment_details(language),
    }


def sample_values(language: str) -> dict[str, Any]:
    """The same names with sample values, to check a template before it is saved."""
    deal = Deal(
        id=1,
        title="Windows for the office",
        amount=Decimal("1200.50"),
        currency="EUR",
        expected_close_on=date(2026, 12, 31),
    )
    deal.lines = [
        DealLine(
            name="Window",
            unit="pcs",
            quantity=Decimal(2),
            price=Decimal("500"),
            discount_percent=Decimal(10),
            vat_rate=Decimal(20),
        ),
        DealLine(
            name="Installation",
            unit="h",
            quantity=Decimal(3),
            price=Decimal("50.50"),
            discount_percent=Decimal(0),
            vat_rate=Decimal(0),
        ),
    ]
    values = deal_values(deal, language)
    values["deal"]["owner"] = {"name": "Manager", "email": "manager@example.com", "phone": ""}
    values["payment_details"] = {
        **dict.fromkeys(
            ("recipient", "tax_id", "address", "bank_name", "bank_account", "bank_code"), "—"
        ),
        "due_date": long_date(date.today() + timedelta(days=DUE_DAYS), language),
    }
    return values


def document_variables(template_type: str, record: Any, user: Any, language: str) -> dict:
    """The ``document_variables`` hook: values for a deal, samples while checking."""
    if record is None:
        return sample_values(language)
    if record.kind != "sales.deal":
        return {}
    deal = db.session.get(Deal, record.id)
    if deal is None:
        return {}
    return deal_values(deal, language)
