"""Normalising what people type: phones to E.164, e-mails, tax ids and names for search."""

from __future__ import annotations

import functools
import re
import unicodedata

import phonenumbers
from marshmallow import ValidationError
from marshmallow.validate import Email

_email = Email(error="Not a valid e-mail address.")
_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")
_SPACES = re.compile(r"\s+")
_DIGITS = re.compile(r"\D")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")

# Legal forms stripped before comparing company names (duplicates, matching).
LEGAL_FORMS = frozenset(
    "llc ltd inc corp co plc lp llp srl sa ii sc gmbh ag kg ohg ug ev mbh ooo oao zao pao ao ip "
    "ооо оао зао пао ао ип чп тов пп".split()
)


def name_key(name: str) -> str:
    """Case- and accent-insensitive form of a name, for prefix search and sorting.

    "Chișinău" -> "chisinau", "Müller" -> "muller", "Ёлка" -> "елка".
    """
    stripped = _COMBINING.sub("", unicodedata.normalize("NFKD", name.casefold()))
    return _SPACES.sub(" ", unicodedata.normalize("NFC", stripped)).strip()


def core_name(name: str) -> str:
    """A company name without legal forms and punctuation ("OOO «Romashka»" -> "romashka")."""
    words = re.findall(r"\w+", name_key(name))
    return " ".join(w for w in words if w not in LEGAL_FORMS)


def email(value: str) -> str:
    """Validated, lower-cased e-mail; ValueError with a message for the user."""
    cleaned = (value or "").strip().lower()
    if len(cleaned) > 254:
        raise ValueError("Use at most 254 characters.")
    try:
        _email(cleaned)
    except ValidationError:
        raise ValueError("Not a valid e-mail address.") from None
    return cleaned


def phone(value: str, region: str) -> str:
    """E.164 for a phone typed in any usual format; ValueError when it is not a phone number."""
    raw = (value or "").strip()
    if not raw or len(raw) > 40:
        raise ValueError("Not a valid phone number.")
    try:
        parsed = phonenumbers.parse(raw, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        raise ValueError("Not a valid phone number.") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError("Not a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=4096)
def display_phone(e164: str) -> str:
    """ "+37322123456" -> "+373 22 123 456", for people to read; E.164 stays the stored form.

    Parsing costs tens of microseconds and a list shows fifty numbers: the last few
    thousand are remembered (a few hundred kilobytes per worker).
    """
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def phone_or_none(value: str, region: str) -> str | None:
    try:
        return phone(value, region)
    except ValueError:
        return None


def digits(value: str) -> str:
    return _DIGITS.sub("", value or "")


def reversed_digits(value: str) -> str:
    """Digits reversed, so "ends with these digits" becomes an indexable prefix search."""
    return digits(value)[::-1]


def tax_id(value: str) -> str:
    """Tax ids compared without spaces, dashes and case ("RO 123-45" == "ro12345")."""
    return _NON_ALNUM.sub("", value or "").upper()


def looks_like_phone(query: str) -> bool:
    d = digits(query)
    return len(d) >= 5 and len(d) >= len(query.replace(" ", "")) * 0.6
