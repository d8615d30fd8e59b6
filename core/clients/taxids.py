"""Tax id checks per country (python-stdnum), chosen by the ``core.tax_id_country`` setting."""

from __future__ import annotations

import re

from stdnum.de import stnr as de_stnr
from stdnum.de import vat as de_vat
from stdnum.eu import vat as eu_vat
from stdnum.md import idno as md_idno
from stdnum.ro import cf as ro_cf
from stdnum.ru import inn as ru_inn

COUNTRIES = {
    "RU": ("INN (10 or 12 digits)", (ru_inn,)),
    "MD": ("IDNO (13 digits)", (md_idno,)),
    "RO": ("CUI/CIF (2-10 digits, optionally RO in front) or CNP", (ro_cf,)),
    "DE": ("USt-IdNr (DE + 9 digits) or Steuernummer", (de_vat, de_stnr)),
}
_GENERIC = re.compile(r"^[0-9A-Za-z][0-9A-Za-z ./-]{2,38}$")


def validate_tax_id(value: str, country: str) -> str | None:
    """None when ``value`` is a valid tax id for ``country``; otherwise the reason."""
    value = value.strip()
    if len(value) > 40:
        return "Use at most 40 characters."
    if country in COUNTRIES:
        label, modules = COUNTRIES[country]
        for module in modules:
            if module.is_valid(value):
                return None
        if re.match(r"^[A-Za-z]{2}", value) and eu_vat.is_valid(value):
            return None  # a VAT number of another EU country is a valid id too
        return f"Not a valid {label}."
    if not _GENERIC.match(value) or not any(c.isdigit() for c in value):
        return "A tax id has 3 to 40 letters and digits."
    return None
