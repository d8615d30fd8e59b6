"""The salutation of a letter ("Dear Ivan Petrovich", "Уважаемый Иван Петрович") from a
contact person's name parts, in the document's language.

Contact persons carry no gender; it is guessed from a Russian patronymic (-ич / -вна) or a
first name's ending, and when the guess is not safe a neutral form is used.
"""

from __future__ import annotations

LANGUAGES = ("en", "ru", "ro", "de")


def _gender(first: str, middle: str) -> str | None:
    middle_l, first_l = middle.lower(), first.lower()
    if middle_l.endswith(("ич", "оглы", "ich", "ovich", "evich")):
        return "m"
    if middle_l.endswith(("вна", "чна", "кызы", "ovna", "evna", "ichna")):
        return "f"
    if first_l.endswith(("а", "я", "a")):
        return "f"
    if first_l and first_l[-1].isalpha() and first_l[-1] in "бвгджзйклмнпрстфхцчшщ":
        return "m"
    return None


def salutation(first: str, middle: str, last: str, language: str = "en") -> str:
    """A formal greeting without the closing punctuation; empty when there is no name."""
    first, middle, last = first.strip(), middle.strip(), last.strip()
    if not (first or last):
        return ""
    gender = _gender(first, middle)
    if language == "ru":
        name = " ".join(p for p in (first, middle) if p) if first else last
        return f"{'Уважаемая' if gender == 'f' else 'Уважаемый'} {name}"
    if language == "ro":
        if last and gender == "f":
            return f"Stimată doamnă {last}"
        if last and gender == "m":
            return f"Stimate domnule {last}"
        return "Bună ziua " + " ".join(p for p in (first, last) if p)
    if language == "de":
        if last and gender == "f":
            return f"Sehr geehrte Frau {last}"
        if last and gender == "m":
            return f"Sehr geehrter Herr {last}"
        return "Guten Tag " + " ".join(p for p in (first, last) if p)
    # English: with a patronymic, first name and patronymic (the Russian courtesy form).
    if first and middle:
        return f"Dear {first} {middle}"
    return "Dear " + " ".join(p for p in (first, last) if p)
