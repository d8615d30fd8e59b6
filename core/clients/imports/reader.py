"""Reading an uploaded client file: CSV in any usual encoding and delimiter, or XLSX.

Spreadsheet programs save CSV as UTF-8 (with or without a BOM), UTF-16 ("Unicode text"),
Windows-1251 (Russian Excel) or Windows-1252/Latin-1 (German and Romanian Excel), with
commas, semicolons or tabs. The encoding and delimiter are detected unless the user names
them; a file that is none of these is refused with a message, never half-read.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

ENCODINGS = ("utf-8", "utf-16", "cp1251", "cp1252", "latin-1")
DELIMITERS = (",", ";", "\t", "|")
SAMPLE_ROWS = 5
MAX_COLUMNS = 200

csv.field_size_limit(1024 * 1024)


class FileRefused(ValueError):
    """The file cannot be imported; the message says why, for the user."""


@dataclass
class FileInfo:
    kind: str  # csv or xlsx
    header: list[str]
    total_rows: int
    encoding: str | None = None
    delimiter: str | None = None
    sample: list[list[str]] = field(default_factory=list)


def inspect(
    data: bytes, filename: str, encoding: str | None = None, delimiter: str | None = None
) -> FileInfo:
    """What the file holds: its kind, header, row count and first rows; FileRefused if bad."""
    if not data.strip():
        raise FileRefused("The file is empty.")
    kind = file_kind(data, filename)
    if kind == "xlsx":
        header, total, sample = _inspect_xlsx(data)
        return FileInfo("xlsx", header, total, sample=sample)
    text, encoding = decode(data, encoding)
    delimiter = delimiter or sniff_delimiter(text)
    header: list[str] | None = None
    total = width = 0
    sample: list[list[str]] = []
    for _number, cells in _csv_rows(text, delimiter):
        if header is None:
            header = cells
            continue
        total += 1
        if len(cells) > width:
            width = max(width, _filled_width(cells))
        if len(sample) < SAMPLE_ROWS:
            sample.append(cells)
    if header is None:
        raise FileRefused("The file is empty.")
    return FileInfo("csv", _clean_header(header, width), total, encoding, delimiter, sample)


def _filled_width(cells: list[str]) -> int:
    """The number of cells up to the last one that holds something."""
    for index in range(len(cells) - 1, -1, -1):
        if cells[index]:
            return index + 1
    return 0


def rows(
    data: bytes, kind: str, encoding: str | None, delimiter: str | None
) -> Iterator[tuple[int, list[str]]]:
    """(line number in the file, cells) for every non-empty row after the header."""
    if kind == "xlsx":
        source = _xlsx_rows(data)
    else:
        text, _ = decode(data, encoding)
        source = _csv_rows(text, delimiter or sniff_delimiter(text))
    first = True
    for number, cells in source:
        if first:
            first = False
            continue
        yield number, cells


def file_kind(data: bytes, filename: str) -> str:
    head = data[:8]
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRefused(
            "This is an old Excel (.xls) workbook; save it as .xlsx or CSV and upload that."
        )
    if head.startswith((b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b", b"Rar!")):
        raise FileRefused("This is not a CSV or XLSX file.")
    if b"\x00" in data[:4096] and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        if _utf16_without_bom(data) is None:
            raise FileRefused("This is not a CSV or XLSX file (it holds binary data).")
    return "csv"


def _utf16_without_bom(data: bytes) -> str | None:
    """The codec of UTF-16 text saved without a byte order mark, or None.

    In such text nearly every ASCII character (delimiters, digits, line ends, Latin letters)
    has a zero byte, always on the same side of the pair; in binary data zeros fall on both.
    """
    sample = data[:4096]
    sample = sample[: len(sample) // 2 * 2]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd >= max(2, pairs // 20) and even <= odd // 50:
        return "utf-16-le"
    if even >= max(2, pairs // 20) and odd <= even // 50:
        return "utf-16-be"
    return None


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """The file's text and the encoding it was read with."""
    if encoding:
        if encoding not in ENCODINGS:
            known = ", ".join(ENCODINGS)
            raise FileRefused(f"Unknown encoding {encoding!r}; choose one of {known}.")
        codec = {"utf-8": "utf-8-sig", "utf-16": _utf16_codec(data)}.get(encoding, encoding)
        try:
            text = data.decode(codec)
        except UnicodeDecodeError as exc:
            raise FileRefused(
                f"The file is not {encoding} (byte {exc.start + 1} cannot be read); "
                "choose its encoding or let the CRM detect it."
            ) from None
        return _check_text(text), encoding
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return _check_text(data.decode("utf-16")), "utf-16"
        except UnicodeDecodeError:
            raise FileRefused("The file starts as UTF-16 text but cannot be read so.") from None
    bomless = _utf16_without_bom(data)
    if bomless is not None:
        try:
            return _check_text(data.decode(bomless)), "utf-16"
        except UnicodeDecodeError:
            raise FileRefused("The file looks like UTF-16 text but cannot be read so.") from None
    try:
        return _check_text(data.decode("utf-8-sig")), "utf-8"
    except UnicodeDecodeError:
        pass
    guess = _guess_single_byte(data)
    try:
        return _check_text(data.decode(guess)), guess
    except UnicodeDecodeError:
        return _check_text(data.decode("latin-1")), "latin-1"


def _utf16_codec(data: bytes) -> str:
    """UTF-16 with its byte order mark, or without one in the order the bytes show."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return _utf16_without_bom(data) or "utf-16-le"


def _guess_single_byte(data: bytes) -> str:
    """Windows-1251 or Windows-1252: in Cyrillic text most letters are bytes 0xC0-0xFF, in
    German or Romanian text accented letters are a few among many ASCII ones."""
    sample = data[:200_000]
    high = sum(1 for b in sample if b >= 0xC0)
    ascii_letters = sum(1 for b in sample if 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A)
    if high and high >= 0.3 * (high + ascii_letters):
        return "cp1251"
    # Romanian ș ț (and others) are not in Latin-1; 0x80-0x9F are printable only in cp1252.
    return "cp1252"


def _check_text(text: str) -> str:
    sample = text[:20_000]
    controls = sum(1 for c in sample if c < " " and c not in "\r\n\t")
    if controls > max(3, len(sample) // 100):
        raise FileRefused("This is not a CSV or XLSX file (it holds binary data).")
    return text


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the same number (>1) of columns."""
    lines = [line for line in text[:65_536].splitlines()[:50] if line.strip()]
    if len(lines) > 1 and not text[:65_536].endswith(("\n", "\r")) and len(text) > 65_536:
        lines = lines[:-1]  # the last line may be cut off
    best, best_score = ",", (0.0, 0)
    for delimiter in DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(lines, delimiter=delimiter)]
        except csv.Error:
            continue
        if not counts:
            continue
        common = max(set(counts), key=counts.count)
        if common < 2:
            continue
        score = (counts.count(common) / len(counts), common)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _csv_rows(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    clean = _clean if _UNWANTED.search(text) else _clean_plain  # one scan, not one a cell
    before = last_before = 0  # the lines read before the record being read, and the last
    try:
        for cells in reader:
            last_before, before = before, reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > MAX_COLUMNS:
                raise FileRefused(
                    f"Line {reader.line_num} has {len(cells)} columns; at most {MAX_COLUMNS}."
                )
            yield reader.line_num, [clean(c) for c in cells]
    except csv.Error as exc:
        raise FileRefused(f"Line {reader.line_num} cannot be read as CSV: {exc}.") from None
    if reader.line_num - last_before > 1:  # the last record spans lines
        start = _offset_after_lines(text, last_before)
        _check_quotes_closed(text[start:], delimiter, last_before + 1)


_LINE_BREAK = re.compile("\r\n|\r|\n")


def _offset_after_lines(text: str, count: int) -> int:
    """Where line ``count + 1`` begins (lines end as the CSV reader ends them)."""
    if count == 0:
        return 0
    for number, match in enumerate(_LINE_BREAK.finditer(text), start=1):
        if number == count:
            return match.end()
    return len(text)


def _check_quotes_closed(record: str, delimiter: str, line: int) -> None:
    """Refuse a file whose last record opens a quote that is never closed: the reader would
    take every line after it as one cell, and those rows would be lost without a word."""
    if '"' not in record:
        return
    try:
        for _ in csv.reader(io.StringIO(record, newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise FileRefused(
                f'Line {line} opens a quoted cell (") that is never closed, so every line '
                "after it would be read as one cell; close the quote or remove it."
            ) from None


# NUL and byte order marks (files glued together keep the second one's) are dropped; other
# control characters become spaces: no spreadsheet can hold them, so an export or a problem
# report of such a value would fail.
_CONTROLS = {c: " " for c in range(32) if chr(c) not in "\t\n\r"} | {0: None, 0xFEFF: None}
_UNWANTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufeff]")


def _clean(cell: str) -> str:
    if _UNWANTED.search(cell):
        cell = cell.translate(_CONTROLS)
    return _unescape(cell.strip())


def _clean_plain(cell: str) -> str:
    """``_clean`` for the cells of a text known to hold no control character."""
    return _unescape(cell.strip())


def _unescape(cell: str) -> str:
    """Undo the apostrophe an export puts before a cell that looks like a formula."""
    if cell.startswith("'") and cell[1:2] in ("=", "+", "-", "@"):
        return cell[1:]
    return cell


def _clean_header(header: list[str], width: int = 0) -> list[str]:
    """The column titles, with an untitled column for each cell rows have past the last
    title: those cells can then be mapped, rather than be left out without a word."""
    titles = [(h or "").lstrip("\ufeff").strip()[:200] for h in header]
    return titles + [""] * (min(width, MAX_COLUMNS) - len(titles))


def _open_workbook(data: bytes):
    from openpyxl import load_workbook

    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged file fails anywhere in the parser
        raise _unreadable(exc) from None


def _unreadable(exc: Exception) -> FileRefused:
    reason = str(exc).strip() or type(exc).__name__
    return FileRefused(f"This is not a readable XLSX workbook ({reason[:200]}).")


def _first_sheet(workbook):
    """The first sheet, to be read row by row as it is stored: the size a sheet claims (its
    "dimension") is often wrong, and openpyxl would cut every row to it or pad every row
    to it."""
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        claimed_rows = sheet.max_row if sheet is not None else None
    except Exception as exc:  # noqa: BLE001 - see _open_workbook
        raise _unreadable(exc) from None
    if sheet is None:
        raise FileRefused("The workbook has no sheets.")
    sheet.reset_dimensions()
    return sheet, claimed_rows


def _inspect_xlsx(data: bytes) -> tuple[list[str], int, list[list[str]]]:
    workbook = _open_workbook(data)
    try:
        sheet, claimed_rows = _first_sheet(workbook)
        header: list[str] | None = None
        sample: list[list[str]] = []
        seen = width = 0
        for _number, cells in _sheet_rows(sheet):
            if header is None:
                header = cells
                continue
            seen += 1
            width = max(width, len(cells))
            if len(sample) < SAMPLE_ROWS:
                sample.append(cells)
            elif seen > 2 * SAMPLE_ROWS:
                break
        if header is None:
            if len(workbook.worksheets) > 1:
                raise FileRefused(
                    "The first sheet of the workbook is empty; the import reads the first "
                    "sheet only, so move the list there."
                )
            raise FileRefused("The file is empty.")
        # The size the sheet claims; the import counts exactly as it reads.
        estimate = max((claimed_rows or 1) - 1, seen)
        return _clean_header(header, width), estimate, sample
    finally:
        workbook.close()


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    workbook = _open_workbook(data)
    try:
        sheet, _ = _first_sheet(workbook)
        yield from _sheet_rows(sheet)
    finally:
        workbook.close()


def _sheet_rows(sheet) -> Iterator[tuple[int, list[str]]]:
    try:
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_cell_text(v) for v in values[:MAX_COLUMNS]]
            while cells and not cells[-1]:
                cells.pop()
            if cells:
                yield number, cells
    except Exception as exc:  # noqa: BLE001 - see _open_workbook
        raise _unreadable(exc) from None


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        # Phone numbers and ids typed into Excel become floats: 37369123456.0.
        return str(int(value)) if value.is_integer() else repr(value)
    return _clean(str(value))
