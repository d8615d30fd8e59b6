"""Full-text search over clients: SQLite FTS5 or PostgreSQL tsvector, kept up to date here.

The index holds, per client, its names, tax id, e-mails, phones (of the client and of its
contact persons), contact persons' names and tags, folded to lower case without accents. A
query word matches as a prefix ("roma" finds "Romashka"); several words must all match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import sqlalchemy as sa

from core.clients.models import Client, ContactPerson, Email, Phone, Tag, client_tags
from core.clients.normalise import name_key
from core.db import db

FTS_TABLE = "clients_fts"
PG_TABLE = "client_search"
UNMANAGED_TABLES = (FTS_TABLE, PG_TABLE)
_WORD = re.compile(r"\w+")


def dialect() -> str:
    return db.engine.dialect.name


def words(query: str) -> list[str]:
    return _WORD.findall(name_key(query))[:8]


def _documents(ids: list[int]) -> dict[int, str]:
    docs: dict[int, list[str]] = {}
    for row in db.session.execute(
        sa.select(Client.id, Client.name, Client.legal_name, Client.tax_id).where(
            Client.id.in_(ids)
        )
    ):
        docs[row.id] = [row.name, row.legal_name or "", row.tax_id or ""]
    for client_id, value in db.session.execute(
        sa.select(Email.client_id, Email.email).where(Email.client_id.in_(ids))
    ):
        docs[client_id].append(email_words(value))
    for client_id, value in db.session.execute(
        sa.select(Phone.client_id, Phone.e164).where(Phone.client_id.in_(ids))
    ):
        docs[client_id].append(value.lstrip("+"))
    for row in db.session.execute(
        sa.select(
            ContactPerson.client_id,
            ContactPerson.first_name,
            ContactPerson.middle_name,
            ContactPerson.last_name,
        ).where(ContactPerson.client_id.in_(ids))
    ):
        docs[row.client_id].append(f"{row.first_name} {row.middle_name} {row.last_name}")
    for client_id, tag in db.session.execute(
        sa.select(client_tags.c.client_id, Tag.name)
        .join(Tag, Tag.id == client_tags.c.tag_id)
        .where(client_tags.c.client_id.in_(ids))
    ):
        docs[client_id].append(tag)
    return {cid: name_key(" ".join(parts)) for cid, parts in docs.items()}


def email_words(email: str) -> str:
    """An e-mail as words, so "ivan" and "example" find ivan@example.com, and as itself."""
    return email.replace("@", " ").replace(".", " ") + " " + email


def insert_documents(rows: list[tuple[int, str]]) -> None:
    """Add index rows (client id, folded text) for clients not indexed yet, in one
    executemany through the driver (imports add thousands at a time)."""
    if not rows:
        return
    if dialect() == "postgresql":
        sql = f"INSERT INTO {PG_TABLE} (client_id, document) VALUES (%s, to_tsvector('simple', %s))"
    else:
        sql = f"INSERT INTO {FTS_TABLE} (rowid, doc) VALUES (?, ?)"
    db.session.connection().exec_driver_sql(sql, rows)


def reindex(ids: Iterable[int]) -> None:
    """Rewrite the index rows of these clients (call after every change, same transaction)."""
    ids = sorted(set(ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        docs = _documents(chunk)
        remove(chunk)
        if not docs:
            continue
        insert_documents(list(docs.items()))


def remove(ids: list[int]) -> None:
    if not ids:
        return
    if dialect() == "postgresql":
        db.session.execute(
            sa.text(f"DELETE FROM {PG_TABLE} WHERE client_id = ANY(:ids)"), {"ids": ids}
        )
    else:
        marks = ",".join(str(int(i)) for i in ids)
        db.session.execute(sa.text(f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({marks})"))


def matching(query: str) -> tuple[sa.FromClause, sa.ColumnElement] | None:
    """A selectable of matching client ids (column ``client_id``) for the words in ``query``."""
    tokens = words(query)
    if not tokens:
        return None
    if dialect() == "postgresql":
        ts_query = " & ".join(f"{t}:*" for t in tokens)
        table = sa.table(PG_TABLE, sa.column("client_id"), sa.column("document"))
        condition = table.c.document.op("@@")(sa.func.to_tsquery("simple", ts_query))
        return table, condition
    fts_query = " ".join(f'"{t}"*' for t in tokens)
    table = sa.table(FTS_TABLE, sa.column("rowid"), sa.column(FTS_TABLE))
    condition = sa.literal_column(FTS_TABLE).op("MATCH")(fts_query)
    return table, condition


def id_column(table: sa.FromClause) -> sa.ColumnElement:
    return table.c.client_id if dialect() == "postgresql" else table.c.rowid
