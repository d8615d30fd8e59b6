"""Rendering a document body (plain text with a little markup) to PDF with reportlab.

The markup, documented in docs/documents.md: a blank line separates paragraphs; a line
starting with ``# `` or ``## `` is a heading; ``- `` starts a bullet; a block of lines
starting with ``|`` is a table (cells between bars, the first row bold, ``|---|`` rows
ignored); ``**bold**`` and ``*italic*`` inside a line. Everything else is text: it is
escaped before the markup is mapped, so no value can inject reportlab markup.
"""

from __future__ import annotations

import io
import re
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONTS = Path(__file__).resolve().parent / "fonts"
REGULAR, BOLD = "DejaVuSans", "DejaVuSans-Bold"


@cache
def _register_fonts() -> None:
    # DejaVu Sans covers Cyrillic, Romanian (ș ț ă â î) and German letters; vendored, so
    # nothing is fetched at run time.
    pdfmetrics.registerFont(TTFont(REGULAR, str(FONTS / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(FONTS / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR)


@cache
def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=REGULAR, fontSize=10.5, leading=14, alignment=TA_LEFT)
    return {
        "body": base,
        "h1": ParagraphStyle("h1", base, fontName=BOLD, fontSize=16, leading=20, spaceAfter=4),
        "h2": ParagraphStyle("h2", base, fontName=BOLD, fontSize=13, leading=17, spaceAfter=2),
        "bullet": ParagraphStyle("bullet", base, leftIndent=12, bulletIndent=2),
        "cell": ParagraphStyle("cell", base, fontSize=9.5, leading=12),
        "head": ParagraphStyle("head", base, fontName=BOLD, fontSize=9.5, leading=12),
    }


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?![*\w])")


def inline(text: str) -> str:
    """One line of text as reportlab paragraph markup: escaped, then bold and italic."""
    out = escape(text)
    out = _BOLD.sub(r"<b>\1</b>", out)
    return _ITALIC.sub(r"<i>\1</i>", out)


def _table(lines: list[str]) -> Table:
    styles = _styles()
    rows = []
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if all(re.fullmatch(r":?-{3,}:?", c) for c in cells if c) and any(cells):
            continue
        rows.append(cells)
    width = max(len(r) for r in rows)
    data = [
        [
            Paragraph(inline(c), styles["head" if i == 0 else "cell"])
            for c in row + [""] * (width - len(row))
        ]
        for i, row in enumerate(rows)
    ]
    table = Table(data, repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def flowables(text: str) -> list[Flowable]:
    """The body's blocks (split at blank lines) as platypus flowables."""
    _register_fonts()
    styles = _styles()
    out: list[Flowable] = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        lines = [line.rstrip() for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        if all(line.lstrip().startswith("|") for line in lines):
            out.append(_table(lines))
        else:
            paragraph: list[str] = []
            for line in lines:
                if line.startswith("## ") or line.startswith("# ") or line.startswith("- "):
                    if paragraph:
                        out.append(Paragraph("<br/>".join(paragraph), styles["body"]))
                        paragraph = []
                    if line.startswith("- "):
                        out.append(Paragraph(inline(line[2:]), styles["bullet"], bulletText="•"))
                    else:
                        level = "h2" if line.startswith("## ") else "h1"
                        out.append(Paragraph(inline(line.split(" ", 1)[1]), styles[level]))
                else:
                    paragraph.append(inline(line))
            if paragraph:
                out.append(Paragraph("<br/>".join(paragraph), styles["body"]))
        out.append(Spacer(1, 3 * mm))
    return out


def render_pdf(text: str, title: str = "", author: str = "") -> bytes:
    """The PDF (A4) of a rendered document body."""
    _register_fonts()
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=title,
        author=author,
        creator="CRM",
    )
    document.build(flowables(text) or [Spacer(1, 1)])
    return buffer.getvalue()
