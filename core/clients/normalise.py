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


# A number typed with its country code: "+", digits, and spaces, dashes, dots or brackets
# between them. For these, ``phone`` gives phonenumbers' answer without running its parser
# whenever that answer is certain (see ``_plus_number``).
_PLUS_NUMBER = re.compile(r"\+[1-9][0-9 ().-]*")
_NOT_DIGIT = re.compile(r"[^0-9]")


@functools.cache
def _calling_code(code: int) -> tuple[re.Pattern | None, frozenset[int]] | None:
    """What phonenumbers' parser looks at for a number with this country calling code: the
    pattern of its national prefix and the lengths of national number it takes as possible
    (``is_possible_number`` looks at the length only); None for a code without metadata."""
    region = phonenumbers.region_code_for_country_code(code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    if metadata is None:
        return None
    prefix = metadata.national_prefix_for_parsing
    lengths = frozenset(
        length
        for length in range(2, 18)
        if phonenumbers.is_possible_number(
            phonenumbers.PhoneNumber(country_code=code, national_number=10 ** (length - 1))
        )
    )
    return (re.compile(prefix) if prefix else None), lengths


def _plus_number(raw: str) -> str | None:
    """E.164 for "+<country code> <national number>" when phonenumbers would certainly take
    it as a possible number, else None (then phonenumbers decides).

    phonenumbers' parser, for such input: keeps the digits, takes the country code as the
    first one to three digits that are one, strips a national prefix from the rest only
    when its pattern matches there, and keeps a leading zero apart (Italy); the number is
    possible when the national number's length is one of the country's possible lengths.
    Here a national prefix or a leading zero sends the number to phonenumbers, and so does
    an impossible length (which phonenumbers then refuses with its own reasons).
    tests/test_import_fast_paths.py compares both over many generated numbers.
    """
    if _PLUS_NUMBER.fullmatch(raw) is None:
        return None
    digits = _NOT_DIGIT.sub("", raw)
    if not 4 <= len(digits) <= 20:
        return None
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[size:]
    known = _calling_code(code)
    if known is None or national[:1] == "0" or len(national) not in known[1]:
        return None
    prefix = known[0]
    if prefix is not None and prefix.match(national):
        return None
    return "+" + digits


def phone(value: str, region: str) -> str:
    """E.164 for a phone typed in any usual format; ValueError when it is not a phone number."""
    raw = (value or "").strip()
    if not raw or len(raw) > 40:
        raise ValueError("Not a valid phone number.")
    if raw[0] == "+":
        fast = _plus_number(raw)
        if fast is not None:
            return fast
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
