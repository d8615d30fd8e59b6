"""Exporting the filtered client list to CSV (streamed) or XLSX, within the user's scope.

Rows come from the list's own filtered and scoped query, streamed in one pass with each
client's phones, e-mails and tags joined by the database, so an export of a million
clients holds a few rows in memory at a time. The files are written by
core.spreadsheets, which neutralises every cell a spreadsheet would read as a formula.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from core.clients import queries
from core.clients.custom_fields import active_fields
from core.clients.models import Client
from core.db import db
from core.spreadsheets import csv_chunks as _csv_chunks
from core.spreadsheets import xlsx_file as _xlsx_file
from core.users.models import User

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


# A client's phones, e-mails and tags joined into one cell each, by the database.
_JOINED = {
    "sqlite": {
        "tags": "(SELECT group_concat(name, '; ') FROM (SELECT tags.name FROM client_tags "
        "JOIN tags ON tags.id = client_tags.tag_id WHERE client_tags.client_id = clients.id "
        "ORDER BY tags.name))",
        "phones": "(SELECT group_concat(e164, '; ') FROM (SELECT e164 FROM client_phones "
        "WHERE client_phones.client_id = clients.id AND contact_person_id IS NULL "
        "ORDER BY client_phones.id))",
        "emails": "(SELECT group_concat(email, '; ') FROM (SELECT email FROM client_emails "
        "WHERE client_emails.client_id = clients.id AND contact_person_id IS NULL "
        "ORDER BY client_emails.id))",
    },
    "postgresql": {
        "tags": "(SELECT string_agg(tags.name, '; ' ORDER BY tags.name) FROM client_tags "
        "JOIN tags ON tags.id = client_tags.tag_id WHERE client_tags.client_id = clients.id)",
        "phones": "(SELECT string_agg(e164, '; ' ORDER BY id) FROM client_phones "
        "WHERE client_phones.client_id = clients.id AND contact_person_id IS NULL)",
        "emails": "(SELECT string_agg(email, '; ' ORDER BY id) FROM client_emails "
        "WHERE client_emails.client_id = clients.id AND contact_person_id IS NULL)",
    },
}


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


def _query(params: queries.ClientQuery, user: Any) -> sa.Select:
    """The list's own filtered, scoped and ordered query, as export rows in one pass."""
    query, id_col, word_search = queries.build(params, user)
    if word_search or params.sort not in queries.SORTS:
        query = query.order_by(id_col.desc())
    else:
        column_name, ascending = queries.SORTS[params.sort]
        column = getattr(Client, column_name)
        if column_name in queries.DATE_SORTS:
            query = query.where(column.is_not(None))
        key = _sorted_after_reading(column)
        query = query.order_by(
            key.asc() if ascending else key.desc(),
            Client.id.asc() if ascending else Client.id.desc(),
        )
    joined = _JOINED[db.engine.dialect.name]
    owner = sa.select(User.name).where(User.id == Client.owner_id).scalar_subquery()
    return query.with_only_columns(
        Client.id,
        Client.kind,
        Client.name,
        Client.legal_name,
        Client.tax_id,
        Client.status,
        Client.source,
        Client.industry,
        Client.category,
        owner,
        sa.literal_column(joined["tags"]),
        sa.literal_column(joined["phones"]),
        sa.literal_column(joined["emails"]),
        Client.next_contact_on,
        Client.website,
        Client.created_at,
        Client.updated_at,
        Client.custom,
        maintain_column_froms=True,
    )


def rows(params: queries.ClientQuery, user: Any) -> Iterator[list[Any]]:
    """The header, then one list of cells per client, in the list's order.

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
        *plain, next_contact_on, website, created_at, updated_at, custom = row
        custom = custom or {}
        cells = [
            *plain,
            next_contact_on.isoformat() if next_contact_on else None,
            website,
            created_at.isoformat(sep=" ", timespec="seconds"),
            updated_at.isoformat(sep=" ", timespec="seconds"),
        ]
        for key in keys:
            value = custom.get(key)
            cells.append("; ".join(value) if isinstance(value, list) else value)
        yield cells


def csv_chunks(params: queries.ClientQuery, user: Any) -> Iterator[str]:
    """CSV text in chunks, starting with a BOM so spreadsheet programs read it as UTF-8."""
    return _csv_chunks(rows(params, user))


def xlsx_file(params: queries.ClientQuery, user: Any) -> tempfile.SpooledTemporaryFile:
    """A finished XLSX workbook (openpyxl's write-only mode keeps memory flat)."""
    return _xlsx_file(rows(params, user), "Clients")
