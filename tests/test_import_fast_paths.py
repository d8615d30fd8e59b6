"""Fast paths of the client import must answer exactly as the slow ones: normalise.phone
answers numbers typed with their country code without phonenumbers' parser when the answer
is certain (it must give exactly what phonenumbers gives: the same E.164, the same refusals,
for every kind of input, in every country), and the history entries of new clients are
written without the JSON encoder.

CRM_PHONE_SAMPLE=1000000 runs a larger sample (the default keeps the test to a few seconds).
"""

from __future__ import annotations

import os
import random

import phonenumbers
import pytest

from core.clients import normalise

SEPARATORS = [" ", "-", ".", "  ", " - ", "", "(", ")", "/", " x", "#", ",", ";", "\u00a0"]


def by_phonenumbers(value: str, region: str) -> str | None:
    """What normalise.phone answered before it had a fast path (None: ValueError)."""
    raw = (value or "").strip()
    if not raw or len(raw) > 40:
        return None
    try:
        parsed = phonenumbers.parse(raw, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def ours(value: str, region: str) -> str | None:
    try:
        return normalise.phone(value, region)
    except ValueError:
        return None


def national_digits(rng: random.Random, code: int) -> str:
    region = phonenumbers.region_code_for_country_code(code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    lengths = list(metadata.general_desc.possible_length) if metadata else [8]
    length = rng.choice(lengths) if rng.random() < 0.7 else rng.randrange(0, 19)
    digits = "".join(rng.choice("0123456789") for _ in range(max(length, 0)))
    roll = rng.random()
    if roll < 0.1 and metadata is not None and metadata.national_prefix:
        digits = metadata.national_prefix + digits  # "+49 030 ...": a national prefix kept
    elif roll < 0.2:
        digits = "0" + digits[1:]  # a leading zero (Italy keeps it)
    elif roll < 0.25 and metadata is not None:
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        if example is not None:
            digits = str(example.national_number)
    return digits


def typed(rng: random.Random, digits: str) -> str:
    """The digits as people type them: grouped with separators, some in brackets."""
    out, index = [], 0
    while index < len(digits):
        size = rng.randrange(1, 5)
        group = digits[index : index + size]
        if rng.random() < 0.1:
            group = f"({group})"
        out.append(group)
        index += size
    if rng.random() < 0.5:
        return rng.choice([" ", "-", "."]).join(out)
    return "".join(g + rng.choice(SEPARATORS) for g in out)


def sample(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    unknown = [c for c in range(1, 1000) if c not in phonenumbers.COUNTRY_CODE_TO_REGION_CODE]
    out = []
    for _ in range(count):
        roll = rng.random()
        code = rng.choice(codes) if roll < 0.9 else rng.choice(unknown)
        national = national_digits(rng, code) if roll < 0.9 else str(rng.randrange(10**7))
        number = (
            typed(rng, f"{code}{national}")
            if rng.random() < 0.5
            else (f"{code} " + typed(rng, national))
        )
        roll = rng.random()
        if roll < 0.85:
            number = "+" + number
        elif roll < 0.9:
            number = "++" + number
        elif roll < 0.93:
            number = "+0" + number
        elif roll < 0.96:
            number = "+" + number + rng.choice([" ext 12", " x5", "#", ";ext=7", "a", " доб. 3"])
        elif roll < 0.98:
            number = "+" + number.replace("1", "١")  # a non-ASCII digit
        else:
            number = " +" + number + " "
        out.append(number)
    return out


@pytest.mark.parametrize("region", ["", "MD", "RU", "IT", "US"])
def test_same_answer_as_phonenumbers(region: str) -> None:
    count = int(os.environ.get("CRM_PHONE_SAMPLE", "8000"))
    numbers = sample(count, seed=len(region) * 7919 + 1)
    fast = 0
    for number in numbers:
        expected = by_phonenumbers(number, region)
        assert ours(number, region) == expected, (number, region, expected)
        fast += normalise._plus_number(number.strip()) is not None
    # Most numbers take the fast path, so the comparison is about it, not the fallback.
    assert fast > count * 0.2


def test_common_numbers() -> None:
    assert normalise.phone("+373 22 123 456", "") == "+37322123456"
    assert normalise.phone("+49 (30) 1234567", "MD") == "+49301234567"
    assert normalise.phone("+7 495 123-45-67", "") == "+74951234567"
    assert normalise.phone("+39 06 1234 5678", "") == "+390612345678"  # through phonenumbers
    assert normalise.phone("+49 030 1234567", "") == "+49301234567"  # national prefix dropped
    for bad in ("+373 22", "+999 123 456 789", "+0 22 123 456", "+"):
        with pytest.raises(ValueError):
            normalise.phone(bad, "")


def test_history_as_json_writes_it() -> None:
    """The import writes a new client's history entries without the JSON encoder; they must
    read back exactly as json.dumps would have written them."""
    import json

    from core.clients.imports.rows import Context, Creating, Row, new_rows

    ctx = Context("", "", {}, [], "lead", {}, [], {}, {})
    for name in ('Ромашка "Север" \\ SRL', "Tab\there \x01 ü 😀", ""):
        row = Row(7, client={"name": name}, contact={"first_name": name, "position": "dir"})
        new = new_rows(row, ctx, Creating(1, '#3 "a".csv'))
        assert new.history == json.dumps(
            {"name": [None, name], "import": [None, '#3 "a".csv, line 7']}
        )
        changes = {k: [None, v] for k, v in row.contact.items() if v}
        assert json.loads(new.contact_history + "12]}") == {**changes, "client_id": [None, 12]}
        assert new.contact_history + "12]}" == json.dumps({**changes, "client_id": [None, 12]})
        assert new.client[-1] == "{}"
