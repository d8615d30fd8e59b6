"""Tables written to CSV and XLSX files that no spreadsheet will execute.

Client exports, import problem reports and reports all write through here, so every
text cell a spreadsheet would read as a formula (starting with = + - @, a tab or a
carriage return) is prefixed with an apostrophe in one place.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def neutralise(value: Any) -> Any:
    """A cell value that no spreadsheet will execute."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def neutralise_sql(expression: str, dialect: str) -> str:
    """SQL for ``expression`` (text) as ``neutralise`` would make it, for rows a database
    writes itself (core.clients.export). An aggregate is computed once however often it is
    named here; a subquery would be run again, so wrap what is inside it."""
    if dialect == "sqlite":
        # Every formula start sorts before "A" (byte order): most cells are decided by that
        # comparison alone, the rest by GLOB with a character class.
        below = chr(ord(max(FORMULA_START)) + 1)
        starts = "[-" + "".join(c for c in FORMULA_START if c != "-") + "]*"
        condition = f"{expression} < '{below}' AND {expression} GLOB '{starts}'"
    else:
        chars = ", ".join(f"chr({ord(c)})" for c in FORMULA_START)
        condition = f"substr({expression}, 1, 1) IN ({chars})"
    return f"CASE WHEN {condition} THEN '''' || {expression} ELSE {expression} END"


def csv_line_sql(cells: Sequence[str], dialect: str, formats: Sequence[str] = ()) -> str:
    """SQL for one CSV line of text ``cells`` with its CRLF, NULL as empty, joined with
    commas and nothing quoted (neutralise the cells with ``neutralise_sql``): such a line is
    right only while no cell holds a comma, a double quote or a line break
    (``plain_lines`` and ``unplain_lines`` find those). One printf/format call: a chain of
    || would copy the growing line once per cell. ``formats`` may give a cell's conversion
    other than ``%s`` (SQLite's printf: ``%.19s``, the first 19 bytes). SQLite hands the
    line over as UTF-8 bytes (a BLOB): what the response sends, so Python neither decodes
    nor encodes it; PostgreSQL as text."""
    function = "printf" if dialect == "sqlite" else "format"  # both write NULL as ""
    conversions = [*formats, *["%s"] * (len(cells) - len(formats))]
    pattern = ",".join(conversions) + "\r\n"  # the literal holds CR LF itself
    line = f"{function}('{pattern}', {', '.join(cells)})"
    return f"CAST({line} AS BLOB)" if dialect == "sqlite" else line


def plain_lines(text: bytes, lines: int, cells: int) -> bool:
    """Whether ``text``, ``lines`` lines from ``csv_line_sql`` (``cells`` cells each, UTF-8,
    each ending with CRLF) joined, is what csv.writer writes for their cells: no cell holds
    a comma, a double quote, CR or LF. One C-level pass over the whole batch counts those
    four bytes together: every line holds at least its separators, its CR and its LF, so
    the least total there can be means every line holds only those."""
    return len(text) - len(text.translate(None, b',"\r\n')) == (cells + 1) * lines


def unplain_lines(lines: Sequence[bytes], cells: int) -> list[int]:
    """The positions of those ``lines`` (from ``csv_line_sql``, UTF-8, each ending with
    CRLF) that are not what csv.writer writes for their cells: a cell holding a comma, a
    double quote, CR or LF needs quoting. Check a batch with ``plain_lines`` first."""
    commas = cells - 1
    return [
        i
        for i, line in enumerate(lines)
        if line.count(b",") != commas
        or b'"' in line
        or line.count(b"\n") != 1
        or line.count(b"\r") != 1
    ]


def csv_chunks(rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """CSV text in chunks of 500 rows, starting with a BOM so spreadsheet programs read it
    as UTF-8; None is an empty cell and formulas are neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff"
    for count, cells in enumerate(rows, start=1):
        writer.writerow(["" if c is None else neutralise(c) for c in cells])
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_text(rows: Iterable[Sequence[Any]]) -> str:
    return "".join(csv_chunks(rows))


def xlsx_file(
    rows: Iterable[Sequence[Any]],
    sheet_title: str,
    number_formats: Sequence[str | None] = (),
) -> tempfile.SpooledTemporaryFile:
    """A finished XLSX workbook of one sheet (openpyxl's write-only mode keeps memory flat).

    ``number_formats`` gives a column's Excel number format ("0.00", "0.0%", ...) by
    position; the first row (the header) is written as text.
    """
    from openpyxl import Workbook  # only for XLSX files: ~10 MB a worker rarely needs
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    # Sheet titles are at most 31 characters and may not hold []:*?/\
    title = "".join(c for c in sheet_title if c not in "[]:*?/\\")[:31] or "Sheet"
    sheet = workbook.create_sheet(title)
    formats = list(number_formats)
    for index, cells in enumerate(rows):
        values = [neutralise(c) for c in cells]
        if index and any(formats):
            styled = []
            for position, value in enumerate(values):
                fmt = formats[position] if position < len(formats) else None
                if fmt and isinstance(value, int | float) and not isinstance(value, bool):
                    cell = WriteOnlyCell(sheet, value=value)
                    cell.number_format = fmt
                    styled.append(cell)
                else:
                    styled.append(value)
            values = styled
        sheet.append(values)
    handle = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    workbook.save(handle)
    handle.seek(0)
    return handle
