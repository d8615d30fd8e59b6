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
