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
from functools import cache, lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import FF_NONSYMBOLIC, FF_SYMBOLIC, TTFont, TTFontFace
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.paragraph import cleanBlockQuotedText
from reportlab.platypus.paraparser import ParaFrag

# Page streams compressed only, not also ASCII85-encoded (reportlab's default): 25 % fewer
# bytes for those streams and no encoding pass. This module is the CRM's only reportlab user.
rl_config.useA85 = 0

FONTS = Path(__file__).resolve().parent / "fonts"
REGULAR, BOLD = "DejaVuSans", "DejaVuSans-Bold"


# What every document's first font subset holds besides ASCII (which reportlab puts there
# anyway, ttfAsciiReadable): the punctuation, and each of these scripts the text uses at
# all, whether a letter is used or not. So that subset is the same in every document of the
# same scripts, and a worker makes and compresses it once (see _Face) instead of once per
# document; any other character goes to a further subset made for the document, as before.
# The price: a Russian invoice embeds all 66 letters, ~8 KiB more than the ones it uses.
PUNCTUATION = "«»„“”‘’‚–—…•№×÷€°§±·"
SCRIPTS = (
    "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдеёжзийклмнопрстуфхцчшщъыьэюя",  # Russian
    "ĂăÂâÎîȘșȚțŞşŢţ",  # Romanian (comma and cedilla forms)
    "ÄäÖöÜüß",  # German
)


def alphabet(text: str) -> str:
    """The characters to put first into the fonts' subsets for ``text``: the punctuation
    and each script of SCRIPTS that ``text`` uses at all."""
    present = set(text)
    return PUNCTUATION + "".join(s for s in SCRIPTS if not present.isdisjoint(s))


class _Formatted(pdfdoc.PDFObject):
    """A PDF value formatted once (it refers to no other object)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def format(self, document) -> bytes:
        return self.data


class _Face(TTFontFace):
    """A parsed font file whose embedded subsets are kept once made (a few per worker): the
    same characters in the same order make the same subset, so its bytes and their
    compression are reused, not made again for every document (~1.5 ms per font)."""

    @lru_cache(maxsize=16)  # noqa: B019 - two faces per worker, kept as long as it runs
    def _font_file(self, subset: tuple[int, ...]) -> tuple[bytes, bytes]:
        raw = self.makeSubset(list(subset))
        return raw, pdfdoc.PDFZCompress.encode(raw)

    def addSubsetObjects(self, doc, fontname, subset):
        # reportlab's own (TTFontFace.addSubsetObjects, 5.1) but for the cached stream: the
        # compressed content is given with its filter, so the stream is not compressed again.
        raw, compressed = self._font_file(tuple(subset))
        font_file = pdfdoc.PDFStream()
        font_file.dictionary["Length1"] = len(raw)
        if doc.compression:
            font_file.dictionary["Filter"] = pdfdoc.PDFArray(
                [pdfdoc.PDFName(pdfdoc.PDFZCompress.pdfname)]
            )
            font_file.content = compressed
        else:
            font_file.content = raw
        font_file_ref = doc.Reference(font_file, f"fontFile:{self.filename}({fontname})")
        descriptor = pdfdoc.PDFDictionary(
            {
                "Type": "/FontDescriptor",
                "Ascent": self.ascent,
                "CapHeight": self.capHeight,
                "Descent": self.descent,
                "Flags": (self.flags & ~FF_NONSYMBOLIC) | FF_SYMBOLIC,
                "FontBBox": pdfdoc.PDFArray(self.bbox),
                "FontName": pdfdoc.PDFName(fontname),
                "ItalicAngle": self.italicAngle,
                "StemV": self.stemV,
                "FontFile2": font_file_ref,
                "MissingWidth": self.defaultWidth,
            }
        )
        return doc.Reference(descriptor, "fontDescriptor:" + fontname)


class _Font(TTFont):
    """A TrueType font parsed once per worker whose documents start their first subset
    with the same characters (``start``), so that subset is made once (see _Face)."""

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name, str(path))
        self.face.__class__ = _Face  # the face just parsed, with its subsets kept

    def addObjects(self, doc):
        # reportlab's, then each subset's widths replaced by the same array formatted once
        # per worker (~0.4 ms a font for the 200 widths of a first subset).
        state = self.state.get(doc)
        subsets = [tuple(subset) for subset in state.subsets] if state is not None else []
        super().addObjects(doc)
        fonts = doc.idToObject["BasicFonts"].dict
        for n, subset in enumerate(subsets):
            fonts[f"{state.internalName}+{n}"].Widths = self._widths(subset)

    @lru_cache(maxsize=16)  # noqa: B019 - as _Face._font_file
    def _widths(self, subset: tuple[int, ...]) -> _Formatted:
        widths = pdfdoc.PDFArray([self.face.getCharWidth(code) for code in subset])
        return _Formatted(widths.format(None))

    def start(self, doc: pdfdoc.PDFDocument, characters: str) -> None:
        """Give ``doc``'s subsets ``characters`` first, in this order; what else the
        document uses goes to the subsets after the one they end in."""
        if doc in self.state:
            return
        self.splitString(characters, doc)
        state = self.state[doc]
        state.nextCode = (state.nextCode + 0xFF) & ~0xFF


@cache
def _fonts() -> tuple[_Font, ...]:
    # DejaVu Sans covers Cyrillic, Romanian (ș ț ă â î) and German letters; vendored, so
    # nothing is fetched at run time. Parsed once per worker (~8 ms a font).
    fonts = (_Font(REGULAR, FONTS / "DejaVuSans.ttf"), _Font(BOLD, FONTS / "DejaVuSans-Bold.ttf"))
    for font in fonts:
        pdfmetrics.registerFont(font)
    pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR)
    return fonts


class _Document(SimpleDocTemplate):
    """A4 document whose fonts' first subsets start with ``characters``."""

    def __init__(self, *args, characters: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._characters = characters

    def beforeDocument(self) -> None:
        for font in _fonts():
            font.start(self.canv._doc, self._characters)


class _Paragraph(Paragraph):
    """reportlab's Paragraph, made with less work and the same result: a text without
    markup (most table cells) gets its one fragment from the style's, not from the markup
    parser; and the lines of the last wrap are kept, since a table wraps every cell once
    to size its rows and again, at the same width, to draw it."""

    _wrapped: tuple[float, object, tuple[float, float]] | None = None

    def __init__(self, text, style=None, bulletText=None, frags=None, **kwargs):
        if frags is None and style is not None and "<" not in text and "&" not in text:
            cleaned = cleanBlockQuotedText(text)  # what the parser is given
            if cleaned:
                frags = [_plain_frag(style).clone(text=cleaned, link=[], us_lines=[])]
                text = cleaned
        super().__init__(text, style, bulletText, frags, **kwargs)

    def wrap(self, availWidth, availHeight):
        kept = self._wrapped
        # The same width and the lines still there (a split that found no room drops them).
        if kept is not None and kept[0] == availWidth and getattr(self, "blPara", None) is kept[1]:
            self.width, self.height = kept[2]
            return kept[2]
        size = super().wrap(availWidth, availHeight)
        self._wrapped = (availWidth, self.blPara, size)
        return size


@cache
def _plain_frag(style: ParagraphStyle) -> ParaFrag:
    """The fragment the parser makes for a text without markup in ``style``, but the text
    (our styles are made once, so this is kept for each of them)."""
    return Paragraph("x", style).frags[0]


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
            _Paragraph(inline(c), styles["head" if i == 0 else "cell"])
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
    _fonts()
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
                        out.append(_Paragraph("<br/>".join(paragraph), styles["body"]))
                        paragraph = []
                    if line.startswith("- "):
                        out.append(_Paragraph(inline(line[2:]), styles["bullet"], bulletText="•"))
                    else:
                        level = "h2" if line.startswith("## ") else "h1"
                        out.append(_Paragraph(inline(line.split(" ", 1)[1]), styles[level]))
                else:
                    paragraph.append(inline(line))
            if paragraph:
                out.append(_Paragraph("<br/>".join(paragraph), styles["body"]))
        out.append(Spacer(1, 3 * mm))
    return out


def render_pdf(text: str, title: str = "", author: str = "") -> bytes:
    """The PDF (A4) of a rendered document body."""
    _fonts()
    buffer = io.BytesIO()
    document = _Document(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=title,
        author=author,
        creator="CRM",
        characters=alphabet(text),
    )
    document.build(flowables(text) or [Spacer(1, 1)])
    return buffer.getvalue()
