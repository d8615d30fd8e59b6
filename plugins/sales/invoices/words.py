"""Amounts in words for invoices: "Одна тысяча двести рублей 50 копеек".

``num2words`` writes the whole units out in English, Russian, Romanian and German; the
currency words, their plural forms and grammatical gender are ours, because num2words knows
only some currencies per language (no MDL at all, no RON in Russian or German). The minor
units stay in two digits, as accountants write them ("50 копеек", "and 05 cents").
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

LANGUAGES = ("en", "ru", "ro", "de")

# language -> currency -> ((major forms), (minor forms), gender of the major unit).
# Forms: en, ro and de (one, other); ru (one, few, many).
CURRENCIES: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...], str]]] = {
    "en": {
        "MDL": (("leu", "lei"), ("ban", "bani"), "m"),
        "RON": (("leu", "lei"), ("ban", "bani"), "m"),
        "EUR": (("euro", "euros"), ("cent", "cents"), "m"),
        "USD": (("dollar", "dollars"), ("cent", "cents"), "m"),
        "RUB": (("rouble", "roubles"), ("kopeck", "kopecks"), "m"),
        "UAH": (("hryvnia", "hryvnias"), ("kopiyka", "kopiykas"), "f"),
        "GBP": (("pound", "pounds"), ("penny", "pence"), "m"),
    },
    "ru": {
        "MDL": (("лей", "лея", "леев"), ("бан", "бана", "банов"), "m"),
        "RON": (("лей", "лея", "леев"), ("бан", "бана", "банов"), "m"),
        "EUR": (("евро", "евро", "евро"), ("цент", "цента", "центов"), "m"),
        "USD": (("доллар", "доллара", "долларов"), ("цент", "цента", "центов"), "m"),
        "RUB": (("рубль", "рубля", "рублей"), ("копейка", "копейки", "копеек"), "m"),
        "UAH": (("гривна", "гривны", "гривен"), ("копейка", "копейки", "копеек"), "f"),
        "GBP": (("фунт", "фунта", "фунтов"), ("пенс", "пенса", "пенсов"), "m"),
    },
    "ro": {
        "MDL": (("leu", "lei"), ("ban", "bani"), "m"),
        "RON": (("leu", "lei"), ("ban", "bani"), "m"),
        "EUR": (("euro", "euro"), ("cent", "cenți"), "n"),
        "USD": (("dolar", "dolari"), ("cent", "cenți"), "m"),
        "RUB": (("rublă", "ruble"), ("copeică", "copeici"), "f"),
        "UAH": (("grivnă", "grivne"), ("copeică", "copeici"), "f"),
        "GBP": (("liră", "lire"), ("penny", "pence"), "f"),
    },
    "de": {
        "MDL": (("Leu", "Lei"), ("Ban", "Bani"), "m"),
        "RON": (("Leu", "Lei"), ("Ban", "Bani"), "m"),
        "EUR": (("Euro", "Euro"), ("Cent", "Cent"), "m"),
        "USD": (("US-Dollar", "US-Dollar"), ("Cent", "Cent"), "m"),
        "RUB": (("Rubel", "Rubel"), ("Kopeke", "Kopeken"), "m"),
        "UAH": (("Hrywnja", "Hrywnja"), ("Kopeke", "Kopeken"), "f"),
        "GBP": (("Pfund", "Pfund"), ("Penny", "Pence"), "n"),
    },
}
MINUS = {"en": "minus", "ru": "минус", "ro": "minus", "de": "minus"}


def _ru_form(number: int) -> int:
    """0 for 1, 21, 101 ...; 1 for 2-4, 22-24 ...; 2 for the rest (5-20, 25-30 ...)."""
    if number % 10 == 1 and number % 100 != 11:
        return 0
    if 2 <= number % 10 <= 4 and not 12 <= number % 100 <= 14:
        return 1
    return 2


def _ro_de(number: int) -> str:
    """Romanian puts "de" between a number ending in 00 or 20-99 and its noun."""
    return "de " if number % 100 >= 20 or (number and number % 100 == 0) else ""


def _ro_feminine(words: str, number: int) -> str:
    if number == 1:
        return "o"
    parts = words.split(" ")
    last = {"unu": "una", "doi": "două", "doisprezece": "douăsprezece"}.get(parts[-1])
    if last:
        parts[-1] = last
    return " ".join(parts)


def _words(number: int, language: str, gender: str) -> str:
    from num2words import num2words  # loaded by the first document, not by every web worker

    if language == "ru":
        return num2words(number, lang="ru", gender="f" if gender == "f" else "m")
    if language == "ro":
        words = num2words(number, lang="ro")
        if gender == "f":
            return _ro_feminine(words, number)
        return "un" if number == 1 else words
    if language == "de":
        words = num2words(number, lang="de")
        if number == 1:
            return "eine" if gender == "f" else "ein"
        return words
    return num2words(number, lang="en").replace(",", "")


def amount_in_words(amount: Decimal | int | float | str, currency: str, language: str) -> str:
    """``amount`` of ``currency`` written out in ``language`` (en, ru, ro, de; others get
    English), with a capital first letter. A currency we have no words for keeps its code:
    "One thousand GBP 00"."""
    language = language if language in LANGUAGES else "en"
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    negative = value < 0
    value = abs(value)
    units = int(value)
    cents = int((value - units) * 100)
    known = CURRENCIES[language].get((currency or "").upper())
    if known is None:
        major_word, minor_word, gender = currency.upper(), "", "m"
    else:
        majors, minors, gender = known
        if language == "ru":
            major_word, minor_word = majors[_ru_form(units)], minors[_ru_form(cents)]
        else:
            major_word = majors[0] if units == 1 else majors[1]
            minor_word = minors[0] if cents == 1 else minors[1]
    words = _words(units, language, gender)
    cents_text = f"{cents:02d}"
    if known is None:
        text = f"{words} {major_word} {cents_text}"
    elif language == "ru":
        text = f"{words} {major_word} {cents_text} {minor_word}"
    elif language == "ro":
        text = f"{words} {_ro_de(units)}{major_word} și {cents_text} {_ro_de(cents)}{minor_word}"
    elif language == "de":
        text = f"{words} {major_word} und {cents_text} {minor_word}"
    else:
        text = f"{words} {major_word} and {cents_text} {minor_word}"
    if negative:
        text = f"{MINUS[language]} {text}"
    return text[:1].upper() + text[1:]
