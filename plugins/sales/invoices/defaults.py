# ruff: noqa: E501 - the table rows of the template bodies are one line each
"""Default commercial proposal and invoice templates (English and Russian), created when
the sales plugin is enabled unless a template of the same name exists. Admins edit them
under Administration -> Document templates like any other."""

from __future__ import annotations

import sqlalchemy as sa

from core.db import db
from core.documents.models import DocumentTemplate

INVOICE_EN = """# Invoice {{ document.number }} of {{ today }}

**Supplier:** {{ company.name }}, tax ID {{ company.tax_id }}
{{ company.address }}
**Customer:** {{ client.legal_name }}{% if client.tax_id %}, tax ID {{ client.tax_id }}{% endif %}
{{ client.address }}
**Deal:** {{ deal.number }}, {{ deal.title }}

| # | Item | Qty | Unit | Price | Discount, % | VAT, % | Net | VAT | Total |
|---|---|---|---|---|---|---|---|---|---|
{% for line in lines -%}
| {{ line.n }} | {{ line.name }} | {{ line.quantity }} | {{ line.unit }} | {{ line.price }} | {{ line.discount }} | {{ line.vat_rate }} | {{ line.net }} | {{ line.vat }} | {{ line.total }} |
{% endfor %}
Net: {{ totals.net }} {{ totals.currency }}
{% for rate in totals.by_vat -%}
VAT {{ rate.rate }} %: {{ rate.vat }} {{ totals.currency }}
{% endfor -%}
**Total due: {{ totals.total }} {{ totals.currency }}**
In words: {{ amount_in_words }}

## Payment details
Recipient: {{ payment_details.recipient }}, tax ID {{ payment_details.tax_id }}
Bank: {{ payment_details.bank_name }}, code {{ payment_details.bank_code }}
Account: {{ payment_details.bank_account }}
Please pay by {{ payment_details.due_date }}, quoting {{ document.number }}.

{{ user.name }}, {{ company.name }}
"""

INVOICE_RU = """# Счёт на оплату № {{ document.number }} от {{ today }}

**Поставщик:** {{ company.name }}, ИНН {{ company.tax_id }}
{{ company.address }}
**Покупатель:** {{ client.legal_name }}{% if client.tax_id %}, ИНН {{ client.tax_id }}{% endif %}
{{ client.address }}
**Основание:** сделка № {{ deal.number }} «{{ deal.title }}»

| № | Наименование | Кол-во | Ед. | Цена | Скидка, % | НДС, % | Без НДС | НДС | Всего |
|---|---|---|---|---|---|---|---|---|---|
{% for line in lines -%}
| {{ line.n }} | {{ line.name }} | {{ line.quantity }} | {{ line.unit }} | {{ line.price }} | {{ line.discount }} | {{ line.vat_rate }} | {{ line.net }} | {{ line.vat }} | {{ line.total }} |
{% endfor %}
Итого без НДС: {{ totals.net }} {{ totals.currency }}
{% for rate in totals.by_vat -%}
НДС {{ rate.rate }} %: {{ rate.vat }} {{ totals.currency }}
{% endfor -%}
**Всего к оплате: {{ totals.total }} {{ totals.currency }}**
Сумма прописью: {{ amount_in_words }}

## Реквизиты для оплаты
Получатель: {{ payment_details.recipient }}, ИНН {{ payment_details.tax_id }}
Банк: {{ payment_details.bank_name }}, код {{ payment_details.bank_code }}
Счёт: {{ payment_details.bank_account }}
Оплатить до {{ payment_details.due_date }}, в назначении платежа укажите № {{ document.number }}.

{{ user.name }}, {{ company.name }}
"""

PROPOSAL_EN = """# Commercial proposal {{ document.number }}

{{ client.legal_name }}
{{ client.address }}
{{ today }}

{{ contact.salutation }},

thank you for your interest. We are pleased to offer you **{{ deal.title }}**:

| # | Item | Qty | Unit | Price | Discount, % | VAT, % | Total |
|---|---|---|---|---|---|---|---|
{% for line in lines -%}
| {{ line.n }} | {{ line.name }} | {{ line.quantity }} | {{ line.unit }} | {{ line.price }} | {{ line.discount }} | {{ line.vat_rate }} | {{ line.total }} |
{% endfor %}
Net {{ totals.net }}, VAT {{ totals.vat }}, **total {{ totals.total }} {{ totals.currency }}**
({{ amount_in_words }}).

We will be glad to answer your questions.

Kind regards,
{{ user.name }}, {{ user.email }} {{ user.phone }}
{{ company.name }}
"""

PROPOSAL_RU = """# Коммерческое предложение № {{ document.number }}

{{ client.legal_name }}
{{ client.address }}
{{ today }}

{{ contact.salutation }}!

Благодарим за интерес к нашей компании. Предлагаем вам: **{{ deal.title }}**.

| № | Наименование | Кол-во | Ед. | Цена | Скидка, % | НДС, % | Всего |
|---|---|---|---|---|---|---|---|
{% for line in lines -%}
| {{ line.n }} | {{ line.name }} | {{ line.quantity }} | {{ line.unit }} | {{ line.price }} | {{ line.discount }} | {{ line.vat_rate }} | {{ line.total }} |
{% endfor %}
Без НДС {{ totals.net }}, НДС {{ totals.vat }}, **итого {{ totals.total }} {{ totals.currency }}**
({{ amount_in_words }}).

Будем рады ответить на ваши вопросы.

С уважением,
{{ user.name }}, {{ user.email }} {{ user.phone }}
{{ company.name }}
"""

# (type, name, language, body)
DEFAULTS = (
    ("invoice", "Invoice (sales)", "en", INVOICE_EN),
    ("invoice", "Счёт на оплату (продажи)", "ru", INVOICE_RU),
    ("proposal", "Commercial proposal (sales)", "en", PROPOSAL_EN),
    ("proposal", "Коммерческое предложение (продажи)", "ru", PROPOSAL_RU),
)


def ensure_default_templates() -> list[DocumentTemplate]:
    """Create the default templates that are missing (by name); returns the new ones."""
    from core.documents.services import save_template

    existing = set(db.session.execute(sa.select(DocumentTemplate.name)).scalars())
    created = []
    for template_type, name, language, body in DEFAULTS:
        if name in existing:
            continue
        created.append(
            save_template({"type": template_type, "name": name, "language": language, "body": body})
        )
    return created
