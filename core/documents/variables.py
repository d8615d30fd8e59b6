"""The values a template body is rendered with: client, contact, user, company, today,
document, and what plugins add through the ``document_variables`` hook."""

from __future__ import annotations

from datetime import date
from typing import Any

from babel.dates import format_date
from flask import current_app

from core.clients.models import Client, ContactPerson
from core.documents.salutation import salutation

GENERIC_SALUTATION = {
    "en": "Dear Sir or Madam",
    "ru": "Уважаемые господа",
    "ro": "Stimate doamne și domni",
    "de": "Sehr geehrte Damen und Herren",
}
COMPANY_SETTINGS = {
    "name": "core.company_name",
    "address": "core.company_address",
    "tax_id": "core.company_tax_id",
    "phone": "core.company_phone",
    "email": "core.company_email",
    "bank_name": "core.company_bank_name",
    "bank_account": "core.company_bank_account",
    "bank_code": "core.company_bank_code",
}


def long_date(day: date, language: str) -> str:
    return format_date(day, format="long", locale=language)


def client_values(client: Client) -> dict[str, Any]:
    addresses = [a.one_line() for a in client.addresses]
    legal = next((a.one_line() for a in client.addresses if a.kind == "legal"), None)
    phones = [p.e164 for p in client.phones]
    emails = [e.email for e in client.emails]
    return {
        "id": client.id,
        "name": client.name,
        "legal_name": client.legal_name or client.name,
        "kind": client.kind,
        "tax_id": client.tax_id or "",
        "address": legal or (addresses[0] if addresses else ""),
        "addresses": addresses,
        "phone": phones[0] if phones else "",
        "phones": phones,
        "email": emails[0] if emails else "",
        "emails": emails,
        "website": client.website or "",
        # Every active custom field, empty when the client has no value for it.
        "custom": {**dict.fromkeys(_custom_keys(), ""), **(client.custom or {})},
    }


def _custom_keys() -> list[str]:
    from core.clients.custom_fields import active_fields

    return [f.key for f in active_fields()]


def contact_values(contact: ContactPerson | None, language: str) -> dict[str, Any]:
    if contact is None:
        empty = dict.fromkeys(("first_name", "middle_name", "last_name", "full_name"), "")
        return {
            **empty,
            "position": "",
            "salutation": GENERIC_SALUTATION.get(language, GENERIC_SALUTATION["en"]),
            "email": "",
            "phone": "",
        }
    return {
        "first_name": contact.first_name,
        "middle_name": contact.middle_name,
        "last_name": contact.last_name,
        "full_name": contact.full_name,
        "position": contact.position,
        "salutation": salutation(
            contact.first_name, contact.middle_name, contact.last_name, language
        )
        or GENERIC_SALUTATION.get(language, GENERIC_SALUTATION["en"]),
        "email": contact.emails[0].email if contact.emails else "",
        "phone": contact.phones[0].e164 if contact.phones else "",
    }


def user_values(user: Any) -> dict[str, Any]:
    return {
        "name": getattr(user, "name", "") or "",
        "email": getattr(user, "email", "") or "",
        "phone": getattr(user, "phone", "") or "",
    }


def company_values() -> dict[str, Any]:
    from core.settings.services import get

    return {name: get(key) or "" for name, key in COMPANY_SETTINGS.items()}


def plugin_values(
    template_type: str, record: Any, user: Any, language: str = "en"
) -> dict[str, Any]:
    """What active plugins add; core's own names win over a plugin's."""
    registry = current_app.extensions["crm_plugins"]
    out: dict[str, Any] = {}
    for _, values in registry.call_each(
        "document_variables",
        app=current_app,
        template_type=template_type,
        record=record,
        user=user,
        language=language,
    ):
        if isinstance(values, dict):
            out.update({str(k): v for k, v in values.items() if str(k).isidentifier()})
    return out


def sample_context(template_type: str, language: str) -> dict[str, Any]:
    """Values to try a body with before it is saved."""
    sample_client = {
        "id": 1,
        "name": "Sample Ltd",
        "legal_name": "Sample Ltd",
        "kind": "company",
        "tax_id": "1234567890",
        "address": "1 Main Street",
        "addresses": ["1 Main Street"],
        "phone": "+37322000000",
        "phones": ["+37322000000"],
        "email": "info@example.com",
        "emails": ["info@example.com"],
        "website": "",
        "custom": {key: key for key in _custom_keys()},
    }
    sample_contact = {
        "first_name": "Ivan",
        "middle_name": "Petrovich",
        "last_name": "Sidorov",
        "full_name": "Ivan Petrovich Sidorov",
        "position": "Director",
        "salutation": salutation("Ivan", "Petrovich", "Sidorov", language),
        "email": "ivan@example.com",
        "phone": "",
    }
    today = long_date(date.today(), language)
    return {
        "client": sample_client,
        "contact": sample_contact,
        "user": {"name": "Manager", "email": "manager@example.com", "phone": ""},
        "company": dict.fromkeys(COMPANY_SETTINGS, "—"),
        "document": {"number": "DOC-2026-0001", "type": template_type, "title": "", "date": today},
        "today": today,
    }
