"""The problem report of an import: one line per failed or skipped row, with its reasons
and the row's own cells, so the user can fix those rows and import the report again (its
first three columns are not mapped to any field)."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from flask import Response, send_file

from core.clients.imports import reader
from core.clients.imports.models import ClientImport, ClientImportFile, ClientImportIssue
from core.db import db
from core.spreadsheets import XLSX_MIMETYPE, csv_text, xlsx_file


def lines(job: ClientImport) -> Iterator[list[str]]:
    """The header, then a list of cells per row with problems, in file order."""
    problems: dict[int, tuple[str, list[str]]] = {}
    for row, column, value, message, kind in db.session.execute(
        sa.select(
            ClientImportIssue.row,
            ClientImportIssue.column,
            ClientImportIssue.value,
            ClientImportIssue.message,
            ClientImportIssue.kind,
        )
        .where(ClientImportIssue.import_id == job.id)
        .order_by(ClientImportIssue.row, ClientImportIssue.id)
    ):
        text = message
        if column:
            text = f"{column}: {message}" + (f" ({value})" if value else "")
        problems.setdefault(row, (kind, []))[1].append(text)
    yield ["line", "status", "problems", *job.header]
    if not problems:
        return
    content = db.session.execute(
        sa.select(ClientImportFile.content).where(ClientImportFile.import_id == job.id)
    ).scalar_one()
    for number, cells in reader.rows(content, job.file_kind, job.encoding, job.delimiter):
        if number in problems:
            kind, texts = problems[number]
            yield [str(number), kind, "; ".join(texts), *cells]


def response(job: ClientImport, fmt: str) -> Response:
    stem = f"import-{job.id}-problems"
    if fmt == "xlsx":
        return send_file(
            xlsx_file(lines(job), "Problems"),
            mimetype=XLSX_MIMETYPE,
            as_attachment=True,
            download_name=f"{stem}.xlsx",
        )
    return Response(
        csv_text(lines(job)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'},
    )
