"""The fields a column can be imported into, and the guess of a mapping from the header.

Headers are recognised in English, Russian, German and Romanian and as the CRM's own export
writes them, so an exported list imports back without mapping by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from core.clients.custom_fields import active_fields
from core.clients.normalise import name_key

# Columns that may be mapped more than once (each adds values).
REPEATABLE = {"phone", "email", "tags", "contact.phone", "contact.email"}
# The export's bookkeeping columns: recognised, and left out.
IGNORED_HEADERS = {"created_at", "updated_at", "created", "updated"}


@dataclass(frozen=True)
class Target:
    code: str
    label: object
    synonyms: tuple[str, ...] = ()


TARGETS: tuple[Target, ...] = (
    Target("id", _l("Client id in this CRM"), ("id", "client id", "client_id", "crm id")),
    Target("kind", _l("Kind (company or person)"), ("kind", "type", "тип", "typ", "tip")),
    Target(
        "name",
        _l("Name"),
        (
            "name",
            "company",
            "company name",
            "client",
            "client name",
            "organisation",
            "organization",
            "название",
            "наименование",
            "компания",
            "организация",
            "клиент",
            "firma",
            "firmenname",
            "unternehmen",
            "kunde",
            "denumire",
            "denumirea",
            "companie",
            "compania",
            "nume client",
        ),
    ),
    Target(
        "legal_name",
        _l("Legal name"),
        (
            "legal name",
            "legal_name",
            "полное наименование",
            "юридическое наименование",
            "юридическое название",
            "rechtlicher name",
            "firmierung",
            "denumire juridica",
            "denumire completa",
        ),
    ),
    Target(
        "tax_id",
        _l("Tax id"),
        (
            "tax id",
            "tax_id",
            "vat",
            "vat id",
            "vat number",
            "inn",
            "инн",
            "idno",
            "cui",
            "cif",
            "cod fiscal",
            "ust-idnr",
            "ust idnr",
            "steuernummer",
            "steuer-id",
        ),
    ),
    Target("industry", _l("Industry"), ("industry", "отрасль", "branche", "industrie", "domeniu")),
    Target("status", _l("Status"), ("status", "статус", "stare", "stadiu")),
    Target(
        "category",
        _l("Category"),
        ("category", "segment", "категория", "сегмент", "kategorie", "categorie"),
    ),
    Target(
        "source",
        _l("Source"),
        ("source", "lead source", "источник", "quelle", "herkunft", "sursa", "sursă"),
    ),
    Target(
        "owner",
        _l("Owner (user's e-mail or name)"),
        (
            "owner",
            "responsible",
            "manager",
            "account manager",
            "ответственный",
            "менеджер",
            "verantwortlich",
            "betreuer",
            "responsabil",
        ),
    ),
    Target("tags", _l("Tags"), ("tags", "tag", "теги", "метки", "schlagworte", "etichete")),
    Target(
        "notes",
        _l("Notes"),
        (
            "notes",
            "note",
            "comment",
            "comments",
            "примечание",
            "комментарий",
            "заметки",
            "notizen",
            "bemerkung",
            "bemerkungen",
            "comentariu",
            "observatii",
        ),
    ),
    Target(
        "next_contact_on",
        _l("Next contact (date)"),
        ("next contact", "next_contact_on", "следующий контакт", "nachster kontakt"),
    ),
    Target("website", _l("Website"), ("website", "site", "web", "url", "сайт", "webseite")),
    Target(
        "phone",
        _l("Phone"),
        (
            "phone",
            "phones",
            "telephone",
            "tel",
            "mobile",
            "телефон",
            "телефоны",
            "тел",
            "мобильный",
            "telefon",
            "telefonnummer",
            "handy",
            "mobil",
        ),
    ),
    Target(
        "email",
        _l("E-mail"),
        (
            "email",
            "e-mail",
            "emails",
            "e-mails",
            "mail",
            "почта",
            "эл почта",
            "электронная почта",
            "e-mail-adresse",
            "adresa de email",
        ),
    ),
    Target(
        "address.street",
        _l("Address: street"),
        ("street", "address", "улица", "адрес", "strasse", "straße", "adresse", "adresa", "strada"),
    ),
    Target("address.city", _l("Address: city"), ("city", "город", "stadt", "ort", "oras", "oraș")),
    Target(
        "address.region",
        _l("Address: region"),
        ("region", "state", "область", "регион", "bundesland", "judet", "județ", "raion"),
    ),
    Target(
        "address.postcode",
        _l("Address: postcode"),
        ("postcode", "zip", "postal code", "индекс", "plz", "cod postal"),
    ),
    Target("address.country", _l("Address: country"), ("country", "страна", "land", "tara")),
    Target(
        "contact.full_name",
        _l("Contact person: full name"),
        (
            "contact",
            "contact person",
            "контактное лицо",
            "контакт",
            "ansprechpartner",
            "persoana de contact",
        ),
    ),
    Target(
        "contact.first_name",
        _l("Contact person: first name"),
        ("first name", "first_name", "имя", "vorname", "prenume"),
    ),
    Target(
        "contact.middle_name",
        _l("Contact person: middle name or patronymic"),
        ("middle name", "middle_name", "patronymic", "отчество"),
    ),
    Target(
        "contact.last_name",
        _l("Contact person: last name"),
        ("last name", "last_name", "surname", "фамилия", "nachname", "nume de familie"),
    ),
    Target(
        "contact.position",
        _l("Contact person: position"),
        ("position", "job title", "должность", "funktion", "functie", "funcția"),
    ),
    Target(
        "contact.phone",
        _l("Contact person: phone"),
        ("contact phone", "телефон контакта", "telefon ansprechpartner"),
    ),
    Target(
        "contact.email",
        _l("Contact person: e-mail"),
        ("contact email", "contact e-mail", "почта контакта", "e-mail ansprechpartner"),
    ),
)
TARGETS_BY_CODE = {t.code: t for t in TARGETS}


def _fold(header: str) -> str:
    return re.sub(r"[\s_.:]+", " ", name_key(header)).strip()


def targets() -> list[tuple[str, str]]:
    """(code, label) of every field a column can go to, custom fields included."""
    out = [(t.code, str(t.label)) for t in TARGETS]
    out += [(f"custom:{f.key}", f"{f.label} ({f.key})") for f in active_fields()]
    return out


def known_codes() -> set[str]:
    return {t.code for t in TARGETS} | {f"custom:{f.key}" for f in active_fields()}


def guess(header: list[str]) -> list[str | None]:
    """A target per column from its header; None where nothing fits or it is taken."""
    # A field's own code first, then the admin's custom fields, then the synonyms.
    lookup: dict[str, str] = {_fold(t.code): t.code for t in TARGETS}
    for field in active_fields():
        for synonym in (field.key, f"custom:{field.key}", f"custom {field.key}", field.label):
            lookup.setdefault(_fold(synonym), f"custom:{field.key}")
    for target in TARGETS:
        for synonym in target.synonyms:
            lookup.setdefault(_fold(synonym), target.code)
    mapping: list[str | None] = []
    taken: set[str] = set()
    for title in header:
        folded = _fold(title or "")
        code = lookup.get(folded)
        if folded in IGNORED_HEADERS or code is None or (code in taken and code not in REPEATABLE):
            mapping.append(None)
            continue
        taken.add(code)
        mapping.append(code)
    return mapping


def check(mapping: list, columns: int) -> dict[str, list[str]]:
    """Problems with a mapping chosen for a file of ``columns`` columns."""
    errors: dict[str, list[str]] = {}
    if len(mapping) != columns:
        given = len(mapping)
        return {"mapping": [f"Give one entry per column: {columns} expected, {given} given."]}
    codes = known_codes()
    seen: dict[str, int] = {}
    for index, code in enumerate(mapping):
        if code in (None, ""):
            continue
        if not isinstance(code, str) or code not in codes:
            errors[f"mapping.{index}"] = [f"Unknown field {code!r}."]
            continue
        if code in seen and code not in REPEATABLE:
            errors[f"mapping.{index}"] = [f"{code} is already taken by column {seen[code] + 1}."]
            continue
        seen.setdefault(code, index)
    if not errors and "name" not in seen and "id" not in seen:
        errors["mapping"] = ["Choose the column that holds the client's name."]
    return errors
