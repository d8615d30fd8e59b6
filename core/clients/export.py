"""Exporting the filtered client list to CSV (streamed) or XLSX, within the user's scope.

Rows are read page by page through the same keyset query as the list, so an export of a
million clients holds one page in memory at a time. Every text cell that a spreadsheet
would read as a formula (starting with = + - @, a tab or a carriage return) is prefixed
with an apostrophe.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from core.clients import queries
from core.clients.custom_fields import active_fields

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BATCH = 1000


def neutralise(value: Any) -> Any:
    """A cell value that no spreadsheet will execute."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _header(fields) -> list[str]:
    return [
        "id",
        "kind",
        "name",
        "legal_name",
        "tax_id",
        "status",
        "source",
        "industry",
        "category",
        "owner",
        "tags",
        "phones",
        "emails",
        "next_contact_on",
        "website",
        "created_at",
        "updated_at",
        *[f"custom:{f.key}" for f in fields],
    ]


def _cells(row, fields) -> list[Any]:
    custom = row.custom or {}
    values = [
        row.id,
        row.kind,
        row.name,
        row.legal_name,
        row.tax_id,
        row.status,
        row.source,
        row.industry,
        row.category,
        row.owner.name if row.owner else None,
        "; ".join(t.name for t in row.tags),
        "; ".join(p.e164 for p in row.phones),
        "; ".join(e.email for e in row.emails),
        row.next_contact_on.isoformat() if row.next_contact_on else None,
        row.website,
        row.created_at.isoformat(sep=" ", timespec="seconds"),
        row.updated_at.isoformat(sep=" ", timespec="seconds"),
    ]
    for field in fields:
        value = custom.get(field.key)
        values.append("; ".join(value) if isinstance(value, list) else value)
    return [neutralise(v) for v in values]


def rows(params: queries.ClientQuery, user: Any) -> Iterator[list[Any]]:
    """The header, then one list of cells per client, in the list's order."""
    fields = active_fields()
    yield _header(fields)
    params = replace(params, limit=BATCH, cursor=None)
    while True:
        page, cursor = queries.page(params, user)
        for row in page:
            yield _cells(row, fields)
        if cursor is None:
            return
        params = replace(params, cursor=cursor)


def csv_chunks(params: queries.ClientQuery, user: Any) -> Iterator[str]:
    """CSV text in chunks, starting with a BOM so spreadsheet programs read it as UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff"
    for count, cells in enumerate(rows(params, user), start=1):
        writer.writerow(["" if c is None else c for c in cells])
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def xlsx_file(params: queries.ClientQuery, user: Any) -> tempfile.SpooledTemporaryFile:
    """A finished XLSX workbook (openpyxl's write-only mode keeps memory flat)."""
    from openpyxl import Workbook  # only for XLSX files: ~10 MB a worker rarely needs

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Clients")
    for cells in rows(params, user):
        sheet.append(cells)
    handle = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    workbook.save(handle)
    handle.seek(0)
    return handle
