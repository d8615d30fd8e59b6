"""Full-text search over clients: SQLite FTS5 or PostgreSQL tsvector, kept up to date here.

The index holds, per client, its names, tax id, e-mails, phones (of the client and of its
contact persons), contact persons' names and tags, folded to lower case without accents. A
query word matches as a prefix ("roma" finds "Romashka"); several words must all match.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from core.clients.models import Client, ContactPerson, Email, Phone, Tag, client_tags
from core.clients.normalise import name_key
from core.db import db

FTS_TABLE = "clients_fts"
PG_TABLE = "client_search"
UNMANAGED_TABLES = (FTS_TABLE, PG_TABLE)
FTS = sa.table(FTS_TABLE, sa.column("rowid"), sa.column(FTS_TABLE), sa.column("doc"))
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
    condition = sa.literal_column(FTS_TABLE).op("MATCH")(fts_query)
    return FTS, condition


def id_column(table: sa.FromClause) -> sa.ColumnElement:
    return table.c.client_id if dialect() == "postgresql" else table.c.rowid


# --- word searches on SQLite: candidates from the prefix index --------------------------
#
# A prefix query longer than the longest prefix index ("terra"* with prefix = '2 3') makes
# FTS5 gather and merge the rowids of every term that starts with it before it yields the
# first one: thousands of terms for a common word (every e-mail's local part is a term),
# milliseconds before the first row. A 3-character prefix is answered from the prefix
# index lazily, newest first. So a word search first reads candidates that match the
# words' first three characters, newest first, and keeps those whose document has a token
# starting with each whole word, decided in Python exactly as the tokenizer would (see
# ``Folder``); if candidates turn out to be mostly misses, the exact query takes over
# below the last candidate read (core.clients.queries).

PREFIX_INDEX = 3  # the longest prefix index of clients_fts (migration 0002: prefix = '2 3')


class Folder:
    """Text as FTS5's ``unicode61 remove_diacritics 2`` tokenizer sees it: each character
    folded (case, Latin diacritics) or turned into a space if it separates tokens.

    ASCII is known; any other character is asked of SQLite's own tokenizer once (an
    in-memory FTS5 table and its vocabulary), so the answer is the tokenizer's, not an
    imitation of it.
    """

    def __init__(self) -> None:
        self.table: dict[int, str] = {
            c: (chr(c).lower() if chr(c).isalnum() else " ") for c in range(128)
        }
        self._lock = threading.Lock()
        self._compile()

    def _compile(self) -> None:
        # Documents are stored folded by name_key, so nearly all their characters fold to
        # themselves or separate tokens; for those, tokens are the runs between separators
        # of the text itself, found without translating it.
        same = [chr(c) for c, f in self.table.items() if f == chr(c)]
        apart = [chr(c) for c, f in self.table.items() if f == " "]
        self.plain = re.compile("[" + "".join(map(re.escape, same + apart)) + "]*")
        self.separators = re.compile("[" + "".join(map(re.escape, apart)) + "]+")

    def fold(self, text: str) -> str:
        table = self.table
        missing = [c for c in set(text) if ord(c) not in table]
        if missing:
            self._probe(missing)
        return text.translate(table)

    def tokens(self, text: str) -> list[str]:
        """The tokens of ``text`` as the tokenizer folds them."""
        if self.plain.fullmatch(text):
            return self.separators.split(text)
        return self.fold(text).split()

    def _probe(self, chars: list[str]) -> None:
        with self._lock:
            found: dict[int, list[str]] = {}
            known = [c for c in chars if _encodable(c)]
            con = sqlite3.connect(":memory:")
            try:
                con.execute(
                    "CREATE VIRTUAL TABLE probe USING fts5(x, "
                    "tokenize = 'unicode61 remove_diacritics 2')"
                )
                con.execute("CREATE VIRTUAL TABLE probe_terms USING fts5vocab(probe, 'instance')")
                con.executemany(
                    "INSERT INTO probe (rowid, x) VALUES (?, ?)",
                    [(ord(c), f"q{c}q") for c in known],
                )
                for term, doc in con.execute(
                    "SELECT term, doc FROM probe_terms ORDER BY doc, offset"
                ):
                    found.setdefault(doc, []).append(term)
            finally:
                con.close()
            for c in chars:
                terms = found.get(ord(c), [])
                one = len(terms) == 1 and terms[0].startswith("q") and terms[0].endswith("q")
                self.table[ord(c)] = terms[0][1:-1] if one else " "
            self._compile()


def _encodable(char: str) -> bool:
    try:
        char.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


FOLDER = Folder()


@dataclass(frozen=True)
class Candidates:
    """How to find a word search's matches through the prefix index (see above)."""

    fts_query: str
    words: tuple[str, ...]

    @property
    def condition(self) -> sa.ColumnElement:
        return sa.literal_column(FTS_TABLE).op("MATCH")(self.fts_query)

    def matches(self, document: str) -> bool:
        """Does each word start a token of ``document``, as FTS5 would decide?"""
        if FOLDER.plain.fullmatch(document) and not all(w in document for w in self.words):
            return False  # folding changes nothing here, and a word is not even in it
        tokens = FOLDER.tokens(document)
        return all(any(t.startswith(w) for t in tokens) for w in self.words)


def candidates(query: str) -> Candidates | None:
    """The candidate search for ``query`` on SQLite, or None where the exact query is as
    cheap (no word longer than the prefix index) or the words are not single tokens."""
    if dialect() == "postgresql":
        return None
    tokens = words(query)
    folded = tuple(FOLDER.fold(t) for t in tokens)
    if not folded or any(len(w.split()) != 1 or w.strip() != w for w in folded):
        return None
    if all(len(w) <= PREFIX_INDEX for w in folded):
        return None
    return Candidates(" ".join(f'"{w[:PREFIX_INDEX]}"*' for w in folded), folded)
