"""Exporting the filtered client list to CSV (streamed) or XLSX, within the user's scope.

Rows come from the list's own filtered and scoped query, streamed in one pass with each
client's phones, e-mails and tags joined by the database, so an export of a million
clients holds a few rows in memory at a time. Every cell a spreadsheet would read as a
formula is neutralised (core.spreadsheets' rule).

A CSV export has the database write each line: the cells as text, neutralised, joined with
commas in one printf/format call, with its line break (on SQLite as UTF-8 bytes, what the
response sends). Python checks each batch with a few C-level scans: the lines with a cell
that needs quoting (a comma, a double quote or a line break) are written again by
csv.writer from their values. Fetching seventeen values a row and writing them with
csv.writer cost more than the database's reading; one string a row costs little.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from core.clients import queries
from core.clients.custom_fields import active_fields
from core.clients.models import Client
from core.db import db
from core.spreadsheets import (
    csv_line_sql,
    neutralise,
    neutralise_sql,
    plain_lines,
    unplain_lines,
)
from core.spreadsheets import xlsx_file as _xlsx_file

BATCH = 1000


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


# A client's phones, e-mails and tags joined into one cell each, by the database; {cell}
# wraps the joined text (neutralised for the CSV lines, as it is for the typed rows).
_JOINED = {
    "sqlite": {
        "owner": "(SELECT {cell} FROM users WHERE users.id = clients.owner_id)",
        "tags": "(SELECT {cell} FROM (SELECT tags.name FROM client_tags "
        "JOIN tags ON tags.id = client_tags.tag_id WHERE client_tags.client_id = clients.id "
        "ORDER BY tags.name))",
        "phones": "(SELECT {cell} FROM (SELECT e164 FROM client_phones "
        "WHERE client_phones.client_id = clients.id AND contact_person_id IS NULL "
        "ORDER BY client_phones.id))",
        "emails": "(SELECT {cell} FROM (SELECT email FROM client_emails "
        "WHERE client_emails.client_id = clients.id AND contact_person_id IS NULL "
        "ORDER BY client_emails.id))",
    },
    "postgresql": {
        "owner": "(SELECT {cell} FROM users WHERE users.id = clients.owner_id)",
        "tags": "(SELECT {cell} FROM client_tags "
        "JOIN tags ON tags.id = client_tags.tag_id WHERE client_tags.client_id = clients.id)",
        "phones": "(SELECT {cell} FROM client_phones "
        "WHERE client_phones.client_id = clients.id AND contact_person_id IS NULL)",
        "emails": "(SELECT {cell} FROM client_emails "
        "WHERE client_emails.client_id = clients.id AND contact_person_id IS NULL)",
    },
}
_AGGREGATES = {
    "sqlite": {
        "owner": "users.name",
        "tags": "group_concat(name, '; ')",
        "phones": "group_concat(e164, '; ')",
        "emails": "group_concat(email, '; ')",
    },
    "postgresql": {
        "owner": "users.name",
        "tags": "string_agg(tags.name, '; ' ORDER BY tags.name)",
        "phones": "string_agg(e164, '; ' ORDER BY id)",
        "emails": "string_agg(email, '; ' ORDER BY id)",
    },
}


def _joined(dialect: str, part: str, neutralised: bool = False) -> str:
    aggregate = _AGGREGATES[dialect][part]
    cell = neutralise_sql(aggregate, dialect) if neutralised else aggregate
    return _JOINED[dialect][part].format(cell=cell)


# The plain columns in the header's order; the joined parts go between category and
# next_contact_on.
_BEFORE = ("kind", "name", "legal_name", "tax_id", "status", "source", "industry", "category")
_PARTS = ("owner", "tags", "phones", "emails")


def _line_sql(dialect: str) -> str:
    """One client's CSV line (the columns of ``_header`` without custom fields) with its
    CRLF as the database writes it: text cells neutralised, dates as ``rows`` writes them,
    nothing quoted; UTF-8 bytes on SQLite, text on PostgreSQL (``csv_line_sql``)."""
    cells = [
        "clients.id",
        *[neutralise_sql(f"clients.{name}", dialect) for name in _BEFORE],
        neutralise_sql(f"{_OWNER.name}.name", dialect),  # joined by ``_with_owner``
        *[_joined(dialect, part, neutralised=True) for part in _PARTS[1:]],
    ]
    if dialect == "sqlite":
        # Dates are stored as ISO text ("2026-11-26 10:15:00.000000"); printf's "%.19s"
        # writes the seconds' part without a substr() call a cell.
        cells += ["clients.next_contact_on", neutralise_sql("clients.website", dialect)]
        cells += ["clients.created_at", "clients.updated_at"]
        formats = ["%s"] * (len(cells) - 2) + ["%.19s", "%.19s"]
        return csv_line_sql(cells, dialect, formats)
    cells += [
        "to_char(clients.next_contact_on, 'YYYY-MM-DD')",
        neutralise_sql("clients.website", dialect),
        "to_char(clients.created_at, 'YYYY-MM-DD HH24:MI:SS')",
        "to_char(clients.updated_at, 'YYYY-MM-DD HH24:MI:SS')",
    ]
    return csv_line_sql(cells, dialect)


_LINE_CELLS = 1 + len(_BEFORE) + len(_PARTS) + 4

# The CSV line's owner comes from a join rather than a subquery a row: PostgreSQL read the
# users table for every client that way (a quarter of its time at 100,000 clients).
_OWNER = sa.table("users", sa.column("id"), sa.column("name")).alias("export_owner")


def _with_owner(statement: sa.Select) -> sa.Select:
    return statement.outerjoin(_OWNER, _OWNER.c.id == Client.owner_id)


def _sorted_after_reading(column: sa.ColumnElement) -> sa.ColumnElement:
    """The sort column, written so that SQLite sorts the rows rather than walking its index.

    Walking the sort column's index hands over each row from a random place of the clients
    table, and its phones, e-mails and tags from random places of theirs: at a million rows
    that is most of an export's time. ``+clients.name_key`` (SQLite's no-op unary plus)
    sorts the same but is no index's column, so SQLite reads the clients (and their
    children) in table order and sorts the finished rows, spilling to temporary files so
    memory stays flat. The WHERE clause still uses any index (an "own" export reads one
    owner's clients through theirs). PostgreSQL's planner chooses between the two itself."""
    if db.engine.dialect.name != "sqlite":
        return column
    return sa.literal_column(f"+{column.table.name}.{column.name}")


def _ordered(params: queries.ClientQuery, user: Any) -> sa.Select:
    """The list's own filtered, scoped and ordered query (its columns are replaced)."""
    query, id_col, word_search = queries.build(params, user)
    if word_search or params.sort not in queries.SORTS:
        return query.order_by(id_col.desc())
    column_name, ascending = queries.SORTS[params.sort]
    column = getattr(Client, column_name)
    if column_name in queries.DATE_SORTS:
        query = query.where(column.is_not(None))
    key = _sorted_after_reading(column)
    return query.order_by(
        key.asc() if ascending else key.desc(),
        Client.id.asc() if ascending else Client.id.desc(),
    )


def _query(params: queries.ClientQuery, user: Any) -> sa.Select:
    """The export's rows as values, one pass in the list's order."""
    dialect = db.engine.dialect.name
    return _ordered(params, user).with_only_columns(
        *_typed_columns(dialect), maintain_column_froms=True
    )


def _typed_columns(dialect: str) -> list[Any]:
    return [
        Client.id,
        *[getattr(Client, name) for name in _BEFORE],
        *[sa.literal_column(_joined(dialect, part)) for part in _PARTS],
        Client.next_contact_on,
        Client.website,
        Client.created_at,
        Client.updated_at,
        Client.custom,
    ]


def _cells(row: Any, keys: list[str]) -> list[Any]:
    *plain, next_contact_on, website, created_at, updated_at, custom = row
    cells = [
        *plain,
        next_contact_on.isoformat() if next_contact_on else None,
        website,
        created_at.isoformat(sep=" ", timespec="seconds"),
        updated_at.isoformat(sep=" ", timespec="seconds"),
    ]
    cells.extend(_custom_cells(custom, keys))
    return cells


def _custom_cells(custom: dict[str, Any] | None, keys: list[str]) -> list[Any]:
    custom = custom or {}
    cells = []
    for key in keys:
        value = custom.get(key)
        cells.append("; ".join(value) if isinstance(value, list) else value)
    return cells


def rows(params: queries.ClientQuery, user: Any) -> Iterator[list[Any]]:
    """The header, then one list of cells (values, not yet neutralised) per client, in the
    list's order: what the XLSX file is written from.

    One query streams every row with its phones, e-mails and tags already joined (by the
    database, in the order the card shows them), so memory stays flat and a million rows
    take seconds rather than the thousand page queries the list would need."""
    fields = active_fields()
    yield _header(fields)
    keys = [f.key for f in fields]
    connection = db.session.connection().execution_options(
        stream_results=True, max_row_buffer=BATCH
    )
    for row in connection.execute(_query(params, user)):
        yield _cells(row, keys)


def csv_chunks(params: queries.ClientQuery, user: Any) -> Iterator[bytes]:
    """CSV in UTF-8 chunks of ``BATCH`` rows, starting with a BOM so spreadsheet programs
    read it as UTF-8; the same cells as ``rows``, formulas neutralised.

    The database writes each line (``_line_sql``); a batch's lines with a cell that needs
    quoting are written again by csv.writer from their values, read by one more query for
    the batch (``_rewrite``). Custom fields are JSON, so their cells are added in Python."""
    fields = active_fields()
    keys = [f.key for f in fields]
    dialect = db.engine.dialect.name
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise(c) for c in _header(fields)])
    yield ("\ufeff" + _take(buffer)).encode()
    columns = [sa.literal_column(_line_sql(dialect))]
    if keys:
        columns.append(Client.custom)
    query = _ordered(params, user)
    statement = _with_owner(query.with_only_columns(*columns, maintain_column_froms=True))
    if dialect == "sqlite" and not keys:
        # pysqlite runs the statement as rows are fetched and SQLAlchemy reads nothing
        # ahead of them, so the lines are taken from the DBAPI cursor as they come: plain
        # tuples, no Row object each (a third of a second for a million rows). Custom
        # fields need SQLAlchemy's JSON processing.
        fetch = db.session.connection().execute(statement).cursor.fetchmany
    else:
        connection = db.session.connection().execution_options(
            stream_results=True, max_row_buffer=BATCH
        )
        fetch = connection.execute(statement).fetchmany
    while batch := fetch(BATCH):
        lines = [row[0] for row in batch]
        if dialect != "sqlite":
            lines = [line.encode() for line in lines]
        chunk = b"".join(lines)
        if not plain_lines(chunk, len(lines), _LINE_CELLS):
            _rewrite(lines, unplain_lines(lines, _LINE_CELLS), query, writer, buffer)
            chunk = b"".join(lines)
        if keys:
            for position, row in enumerate(batch):
                # "," and the cells: a lone empty cell would be written as ""
                writer.writerow(["", *[neutralise(c) for c in _custom_cells(row[1], keys)]])
                lines[position] = lines[position][:-2] + _take(buffer).encode()
            chunk = b"".join(lines)
        yield chunk


def _rewrite(lines: list[bytes], positions: list[int], query: sa.Select, writer, buffer) -> None:
    """Lines at ``positions`` written again by csv.writer from their clients' values (read
    in one query): a cell of theirs holds a comma, a double quote or a line break."""
    wanted = {int(lines[p].split(b",", 1)[0]): p for p in positions}
    typed = query.with_only_columns(
        *_typed_columns(db.engine.dialect.name), maintain_column_froms=True
    ).where(Client.id.in_(list(wanted)))
    for row in db.session.connection().execute(typed.order_by(None)):
        cells = _cells(row, [])
        writer.writerow(["" if c is None else neutralise(c) for c in cells])
        lines[wanted[row[0]]] = _take(buffer).encode()


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def xlsx_file(params: queries.ClientQuery, user: Any) -> tempfile.SpooledTemporaryFile:
    """A finished XLSX workbook (openpyxl's write-only mode keeps memory flat)."""
    return _xlsx_file(rows(params, user), "Clients")
