"""The PDF layer on its own (core.documents.pdf): what a worker keeps between documents
(the parsed fonts and their embedded subsets) gives every document its own letters, in
embedded fonts, and the same file as reportlab's own subsetting made afresh."""

from __future__ import annotations

import io

import pypdf
import pytest
from reportlab import rl_config
from reportlab.pdfbase.ttfonts import TTFont, TTFontFace

from core.documents import pdf

# Each text with what its PDF must show (the markup gone); together they use every script
# of the shared alphabet, none of it, and letters outside it (Ukrainian, Polish, Greek).
TEXTS = {
    "ru": (
        "# Счёт № INV-2026-0001\n\n**Покупатель:** ООО «Ромашка», ИНН 7707083893\n\n"
        "| № | Наименование | Всего |\n|---|---|---|\n| 1 | Окно ПВХ 1200×1400 | 1 054,80 |",
        ["Счёт № INV-2026-0001", "ООО «Ромашка», ИНН 7707083893", "Окно ПВХ", "1 054,80"],
    ),
    "de": (
        "# Rechnung\n\n**Müller GmbH**, Hauptstraße 5\n\nGrüße aus Köln: ä ö ü ß Ä Ö Ü — 12 €",
        ["Rechnung", "Müller GmbH, Hauptstraße 5", "Grüße aus Köln: ä ö ü ß Ä Ö Ü — 12 €"],
    ),
    "ro": (
        "# Factură\n\n**Întreprinderea Științifică SRL**\n\nș ț ă â î Ș Ț Ă Â Î",
        ["Factură", "Întreprinderea Științifică SRL", "ș ț ă â î Ș Ț Ă Â Î"],
    ),
    "en": ("# Invoice\n\n*Acme Ltd*, 1 Main Street", ["Invoice", "Acme Ltd, 1 Main Street"]),
    "others": (
        "# Рахунок: Київ, ґанок, їжак, єнот\n\n**Łódź** Ωμέγα и Ж",
        ["Рахунок: Київ, ґанок, їжак, єнот", "Łódź Ωμέγα и Ж"],
    ),
}


def _text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def _embedded_fonts(content: bytes) -> set[str]:
    """The fonts of the pages that carry their program in the file."""
    reader = pypdf.PdfReader(io.BytesIO(content))
    names = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = font.get("/FontDescriptor")
            if descriptor is not None and "/FontFile2" in descriptor.get_object():
                names.add(str(font["/BaseFont"]).split("+", 1)[1])
    return names


def test_documents_in_different_languages_one_after_another_show_their_own_letters():
    for _ in range(2):  # the second round uses the subsets kept from the first
        for text, shown in TEXTS.values():
            content = pdf.render_pdf(text, title="Test")
            extracted = " ".join(_text(content).split())
            for words in shown:
                assert words in extracted
            assert _embedded_fonts(content) == {"DejaVuSans", "DejaVuSans-Bold"}


def test_more_letters_than_one_subset_holds_all_render():
    letters = "".join(chr(c) for c in range(0x100, 0x17F))  # Latin Extended-A, 127 letters
    greek = "".join(chr(c) for c in range(0x3B1, 0x3CA))  # α-ω
    cyrillic = "".join(chr(c) for c in range(0x400, 0x460))  # every Cyrillic letter
    text = "\n\n".join(" ".join(block) for block in (letters, greek, cyrillic))
    extracted = "".join(_text(pdf.render_pdf(text)).split())
    assert extracted == letters + greek + cyrillic


def test_kept_font_subsets_and_widths_give_the_same_file_as_reportlabs_own(monkeypatch):
    monkeypatch.setattr(rl_config, "invariant", 1)  # no time stamps or random ids
    text = TEXTS["ru"][0] + "\n\n" + TEXTS["others"][0]
    first = pdf.render_pdf(text, title="Счёт", author="Менеджер")
    kept = pdf.render_pdf(text, title="Счёт", author="Менеджер")
    monkeypatch.setattr(pdf._Face, "addSubsetObjects", TTFontFace.addSubsetObjects)
    monkeypatch.setattr(pdf._Font, "addObjects", TTFont.addObjects)
    fresh = pdf.render_pdf(text, title="Счёт", author="Менеджер")
    assert first == kept == fresh


@pytest.mark.parametrize("language", ["ru", "de", "en"])
def test_documents_of_one_script_share_their_first_subset(language):
    """Other names and numbers (other letters of the script) make no new subset: the first
    one is the same for every document of the script, made once per worker."""
    text = TEXTS[language][0]
    pdf.render_pdf(text)
    kept = pdf._Face._font_file.cache_info().currsize
    variants = {
        "ru": ["ООО «Юпитер» щука, эхо", "ИП Фёдоров Ъ Ы Ь"],
        "de": ["Bäckerei Öztürk", "Übergröße"],
        "en": ["Zebra Quiz Ltd", "J. K. Wexford & Sons"],
    }[language]
    for variant in variants:
        pdf.render_pdf(text + "\n\n" + variant + " **" + variant + "**")
    assert pdf._Face._font_file.cache_info().currsize == kept


def _long_document() -> str:
    """Several pages: a table that breaks across them (its header repeated) with cells that
    wrap, a paragraph longer than a page, bullets, bold and italic, escaped markup."""
    rows = "\n".join(
        f"| {n} | Окно ПВХ {n}×1400 с подоконником и откосами, монтаж | 3 | шт | "
        f"{n * 7},50 | 10 | 20 | {n * 21},00 |"
        for n in range(1, 120)
    )
    long = "\n".join(f"Строка {n}: **итого** {n} руб., *срок* {n} дн. <b> & Co" for n in range(90))
    return (
        "# Счёт № INV-2026-0042 от 26 ноября 2026 г.\n\n"
        "| № | Наименование | Кол-во | Ед. | Цена | Скидка, % | НДС, % | Всего |\n"
        "|---|---|---|---|---|---|---|---|\n" + rows + "\n\n## Условия\n" + long + "\n\n"
        "- первый пункт\n- второй пункт с «кавычками» и &amp;\n\n|  |\n| |\n"
    )


def test_a_long_document_breaks_across_pages_with_every_row_and_line():
    content = pdf.render_pdf(_long_document())
    assert len(pypdf.PdfReader(io.BytesIO(content)).pages) >= 4
    text = " ".join(_text(content).split())
    for n in range(1, 120):
        assert f"Окно ПВХ {n}×1400 с подоконником" in text and f"{n * 21},00" in text
    for n in range(90):
        assert f"Строка {n}: итого {n} руб., срок {n} дн. <b> & Co" in text
    assert "второй пункт с «кавычками» и &amp;" in text


@pytest.mark.parametrize("body", ["invoice", "long"])
def test_the_quicker_paragraphs_give_the_same_file_as_reportlabs(monkeypatch, body):
    """Paragraphs without markup made without the parser, and a table cell's lines kept
    between sizing and drawing, change nothing in the file."""
    monkeypatch.setattr(rl_config, "invariant", 1)
    text = _long_document() if body == "long" else TEXTS["ru"][0] + "\n\nИтого: **1 054,80**"
    quick = pdf.render_pdf(text, title="Счёт")
    monkeypatch.setattr(pdf, "_Paragraph", pdf.Paragraph)
    assert pdf.render_pdf(text, title="Счёт") == quick


@pytest.mark.parametrize(
    "text",
    ["1", "Окно ПВХ 1200×1400", "  a  b  ", "a\nb\n", "a\r\n\tb", "1\xa0054,80", "x\xad y", "'\"*"],
)
def test_a_text_without_markup_gets_the_fragment_the_parser_would_make(text):
    for style in pdf._styles().values():
        parsed = pdf.Paragraph(text, style)
        quick = pdf._Paragraph(text, style)
        assert quick.text == parsed.text
        assert [f.__dict__ for f in quick.frags] == [f.__dict__ for f in parsed.frags]
