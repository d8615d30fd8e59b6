"""Listing and finding clients: filters, search, scope and keyset pages, in a fixed few queries.

Every page is ``limit + 1`` rows fetched by a keyset condition on an indexed sort column and
the id (never OFFSET, never COUNT over the table), plus one query each for the rows' phones,
e-mails, tags and owners. A search classifies what was typed: an e-mail, a phone number (in
any format: normalised to E.164, or matched by its last digits), a tax id, or words (full-text,
each word a prefix). Word searches list the newest matches first.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import aliased, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from core.clients import normalise, search
from core.clients.models import (
    Address,
    Client,
    ContactPerson,
    Email,
    Phone,
    Tag,
    client_tags,
)
from core.db import db
from core.security import scoped

SORTS: dict[str, tuple[str, bool]] = {
    "name": ("name_key", True),
    "-name": ("name_key", False),
    "created": ("created_at", True),
    "-created": ("created_at", False),
    "updated": ("updated_at", True),
    "-updated": ("updated_at", False),
    "next_contact": ("next_contact_on", True),
}
DATE_SORTS = {"next_contact_on"}
DATETIME_SORTS = {"created_at", "updated_at"}


class BadCursor(ValueError):
    pass


@dataclass
class ClientQuery:
    q: str = ""
    kind: str | None = None
    status: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    owner_id: list[int] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    industry: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    updated_from: date | None = None
    updated_to: date | None = None
    next_contact_due: bool = False
    custom: dict[str, Any] = field(default_factory=dict)
    sort: str = "name"
    cursor: str | None = None
    limit: int = 50
    trash: bool = False


def encode_cursor(sort: str, value: Any, ident: int) -> str:
    if isinstance(value, datetime | date):
        value = value.isoformat()
    raw = json.dumps([sort, value, ident], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        cursor_sort, value, ident = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if cursor_sort != sort or not isinstance(ident, int):
            raise ValueError
        column = SORTS[sort][0] if sort in SORTS else "id"
        if value is not None and column in DATETIME_SORTS:
            value = datetime.fromisoformat(value)
        elif value is not None and column in DATE_SORTS:
            value = date.fromisoformat(value)
        return value, ident
    except (ValueError, TypeError, KeyError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadCursor(
            "The cursor is not valid for this list; start from the first page."
        ) from exc


def is_word_search(q: str) -> bool:
    """Words, rather than an e-mail, a phone number or a tax id (see _search_condition)."""
    q = q.strip()
    return bool(q) and "@" not in q and not normalise.looks_like_phone(q)


def _search_condition(q: str):
    """(extra FROM for word search or None, WHERE condition or None, is_word_search)."""
    q = q.strip()
    if not q:
        return None, None, False
    if "@" in q:
        value = q.lower()
        ids = sa.select(Email.client_id).where(Email.email >= value, Email.email < value + "\uffff")
        return None, Client.id.in_(ids), False
    if normalise.looks_like_phone(q):
        conditions = []
        e164 = normalise.phone_or_none(q, _region())
        if e164:
            conditions.append(Phone.e164 == e164)
        # The last 8 digits survive any national or international spelling ("8 495...",
        # "+7 495...", "0 22 ..."), and reversed they are an indexed prefix.
        tail = normalise.reversed_digits(q)[:8]
        if len(tail) >= 6:
            conditions.append(sa.and_(Phone.digits_rev >= tail, Phone.digits_rev < tail + ":"))
        # One id set (phones, then tax ids), not "id IN (phones) OR tax_id_key = ?": with
        # the OR, PostgreSQL walked the whole name index filtering every client (6.6 s at
        # 1,000,000 clients) instead of looking up the few matches and sorting them.
        taxed = aliased(Client)
        ids = sa.select(taxed.id).where(taxed.tax_id_key == normalise.tax_id(q))
        if conditions:
            ids = sa.union(sa.select(Phone.client_id).where(sa.or_(*conditions)), ids)
        return None, Client.id.in_(ids), False
    found = search.matching(q)
    if found is None:
        return None, sa.false(), False
    table, condition = found
    return table, condition, True


def _region() -> str:
    from core.clients.services import phone_region

    return phone_region()


def build(
    params: ClientQuery, user: Any, match: sa.ColumnElement | None = None
) -> tuple[sa.Select, Any, bool]:
    """The filtered, scoped query, the id column pages are ordered by for word searches.

    ``match`` replaces a word search's full-text condition (the candidates' one)."""
    extra, condition, word_search = _search_condition(params.q)
    if word_search and match is not None:
        condition = match
    query = sa.select(Client)
    id_col = Client.id
    if word_search and search.dialect() != "postgresql":
        # FTS5 drives: it yields matches in rowid order without sorting them all.
        id_col = search.id_column(extra)
        query = query.select_from(extra).join(Client, Client.id == id_col)
    elif word_search:
        query = query.where(Client.id.in_(sa.select(search.id_column(extra)).where(condition)))
        condition = None
    if condition is not None:
        query = query.where(condition)
    query = query.where(
        Client.deleted_at.is_not(None) if params.trash else Client.deleted_at.is_(None)
    )
    query = scoped(query, user, "clients", Client.owner_id)
    if params.kind:
        query = query.where(Client.kind == params.kind)
    if params.status:
        query = query.where(Client.status.in_(params.status))
    if params.source:
        query = query.where(Client.source.in_(params.source))
    if params.owner_id:
        query = query.where(Client.owner_id.in_(params.owner_id))
    if params.industry:
        query = query.where(Client.industry == params.industry)
    for name in params.tags:
        query = query.where(
            sa.exists().where(
                client_tags.c.client_id == Client.id,
                client_tags.c.tag_id == sa.select(Tag.id).where(Tag.name == name).scalar_subquery(),
            )
        )
    if params.created_from:
        query = query.where(
            Client.created_at >= datetime.combine(params.created_from, datetime.min.time())
        )
    if params.created_to:
        query = query.where(
            Client.created_at < datetime.combine(params.created_to, datetime.max.time())
        )
    if params.updated_from:
        query = query.where(
            Client.updated_at >= datetime.combine(params.updated_from, datetime.min.time())
        )
    if params.updated_to:
        query = query.where(
            Client.updated_at < datetime.combine(params.updated_to, datetime.max.time())
        )
    if params.next_contact_due:
        query = query.where(Client.next_contact_on <= date.today())
    for key, value in params.custom.items():
        query = query.where(_custom_condition(key, value))
    return query, id_col, word_search


def _custom_condition(key: str, value: Any):
    element = Client.custom[key]
    if isinstance(value, bool):
        return element.as_boolean() == value
    if isinstance(value, int | float):
        return element.as_float() == float(value)
    if isinstance(value, list):
        # multi-choice: every wanted value is among the stored ones
        text = (
            sa.cast(element, sa.Text)
            if search.dialect() == "postgresql"
            else sa.func.json_extract(Client.custom, f"$.{key}")
        )
        return sa.and_(*[text.contains(json.dumps(v)) for v in value])
    return element.as_string() == str(value)


# Columns a list shows; the card loads everything.
LIST_COLUMNS = [c for c in Client.__table__.c if c.key not in ("notes", "tax_id_key")]
DETAIL_COLUMNS = [c for c in Client.__table__.c if c.key != "tax_id_key"]


class Row(SimpleNamespace):
    """A client as a list or the API shows it: plain attributes, no ORM state."""


def _rows(result) -> list[Row]:
    keys = list(result.keys())
    out = []
    for values in result.all():
        row = Row()
        row.__dict__.update(zip(keys, values, strict=True))
        out.append(row)
    return out


def page(params: ClientQuery, user: Any, candidates: bool = True) -> tuple[list[Row], str | None]:
    """One page of clients and the cursor of the next page (None on the last).

    Rows are light records (not ORM objects) with ``phones``, ``emails``, ``tags`` and
    ``owner`` attached by one more query: a page costs two queries whatever its length (a
    word search on SQLite may add one, see ``_word_page``). ``candidates=False`` runs a
    word search with the exact full-text query alone (tests compare the two).
    """
    if (
        candidates
        and is_word_search(params.q)
        and search.dialect() == "sqlite"
        and _plain_search(params, user)
    ):
        found = search.candidates(params.q)
        if found is not None:
            return _word_page(params, user, found)
    rows, sort_key = _exact_page(params, user)
    return _finish(rows, params.limit, sort_key)


def _exact_page(params: ClientQuery, user: Any) -> tuple[list[Row], str]:
    """Up to ``limit + 1`` rows (the extra one says there is a next page), and the sort."""
    query, id_col, word_search = build(params, user)
    limit = params.limit
    if word_search or params.sort not in SORTS:
        sort_key = "relevance"
        if params.cursor:
            _, last_id = decode_cursor(params.cursor, sort_key)
            query = query.where(id_col < last_id)
        query = query.order_by(id_col.desc())
    else:
        sort_key = params.sort
        column_name, ascending = SORTS[sort_key]
        column = getattr(Client, column_name)
        if column_name in DATE_SORTS:
            query = query.where(column.is_not(None))
        if params.cursor:
            value, last_id = decode_cursor(params.cursor, sort_key)
            pair, bound = (
                sa.tuple_(column, Client.id),
                sa.tuple_(sa.literal(value), sa.literal(last_id)),
            )
            query = query.where(pair > bound if ascending else pair < bound)
        query = query.order_by(
            column.asc() if ascending else column.desc(),
            Client.id.asc() if ascending else Client.id.desc(),
        )
    query = query.with_only_columns(*LIST_COLUMNS, maintain_column_froms=True).limit(limit + 1)
    # Plain Core execution on the session's connection: no ORM bookkeeping for list rows.
    return _rows(db.session.connection().execute(query)), sort_key


def _finish(rows: list[Row], limit: int, sort_key: str) -> tuple[list[Row], str | None]:
    more = len(rows) > limit
    rows = rows[:limit]
    _attach(rows)
    cursor = None
    if more and rows:
        last = rows[-1]
        value = None if sort_key == "relevance" else getattr(last, SORTS[sort_key][0])
        cursor = encode_cursor(sort_key, value, last.id)
    return rows, cursor


# A word search reads at most this many candidates, and gives up earlier when so few of
# them match that the page would need more; the exact query then finishes the page.
CANDIDATES_READ = 1024
CANDIDATES_BATCH = 64
_CANDIDATES_SQL = (
    "SELECT rowid, doc FROM clients_fts WHERE clients_fts MATCH ? AND rowid < ? ORDER BY rowid DESC"
)


def _plain_search(params: ClientQuery, user: Any) -> bool:
    """Only words, by a user who sees every client: candidates are then nearly all hits.
    With a narrower scope or filters, most candidates would be thrown away after reading
    their client, and the exact query is cheaper."""
    return (
        user.scope_for("clients") == "all"
        and not params.trash
        and params.kind is None
        and params.industry is None
        and not (params.status or params.source or params.owner_id or params.tags)
        and not (params.created_from or params.created_to or params.next_contact_due)
        and not (params.updated_from or params.updated_to or params.custom)
    )


def _word_page(
    params: ClientQuery, user: Any, found: search.Candidates
) -> tuple[list[Row], str | None]:
    """A word search's page on SQLite, newest first: candidates are read from the prefix
    index (rowid and document only) and checked in Python (core.clients.search); the
    clients of those that match are then read with the list's conditions. If candidates
    turn out to be mostly misses, the exact query finishes the page below the last one
    read. The rows and the cursor are exactly the exact query's."""
    limit = params.limit
    below = decode_cursor(params.cursor, "relevance")[1] if params.cursor else 2**63 - 1
    conn = db.session.connection()
    result = conn.exec_driver_sql(_CANDIDATES_SQL, (found.fts_query, below))
    listed, _, _ = build(replace(params, q=""), user)
    listed = listed.with_only_columns(*LIST_COLUMNS)
    rows: list[Row] = []
    matched: list[int] = []
    read = 0
    exhausted = False
    try:
        while len(rows) <= limit:
            batch = result.fetchmany(CANDIDATES_BATCH)
            exhausted = not batch
            for rowid, document in batch:
                read += 1
                below = rowid
                if found.matches(document):
                    matched.append(rowid)
            wanted = limit + 1 - len(rows)
            if matched and (len(matched) >= wanted or exhausted):
                rows.extend(
                    _rows(
                        conn.execute(
                            listed.where(Client.id.in_(matched)).order_by(Client.id.desc())
                        )
                    )
                )
                matched = []
                wanted = limit + 1 - len(rows)
            if exhausted or wanted <= 0:
                break
            likely = (len(rows) + len(matched) + 1) / read * (CANDIDATES_READ - read)
            if read >= CANDIDATES_READ or likely < wanted:
                break
    finally:
        result.close()
    if len(rows) <= limit and not exhausted:
        if matched:
            rows.extend(
                _rows(conn.execute(listed.where(Client.id.in_(matched)).order_by(Client.id.desc())))
            )
        if len(rows) <= limit:
            rest = replace(
                params, limit=limit - len(rows), cursor=encode_cursor("relevance", None, below)
            )
            rows.extend(_exact_page(rest, user)[0])
    return _finish(rows[: limit + 1], limit, "relevance")


# The phones, e-mails and tags of a page's clients and the names of their owners, in one
# statement written out once per dialect: the ids travel as one parameter (a JSON array
# on SQLite, an array on PostgreSQL), so nothing is built or compiled per page. The last
# two columns order each part as the ORM relationships do (phones and e-mails by id, tags
# by name); Python sorts the few rows, cheaper than the database's temporary B-trees.
_CHILDREN = """
SELECT 'p' AS part, client_id, e164, kind, id AS n, '' AS s FROM client_phones
 WHERE client_id IN ({ids}) AND contact_person_id IS NULL
UNION ALL
SELECT 'e', client_id, email, kind, id, '' FROM client_emails
 WHERE client_id IN ({ids}) AND contact_person_id IS NULL
UNION ALL
SELECT 't', client_tags.client_id, tags.name, NULL, 0, tags.name
  FROM client_tags JOIN tags ON tags.id = client_tags.tag_id
 WHERE client_tags.client_id IN ({ids})
UNION ALL
SELECT 'o', id, name, NULL, 0, '' FROM users WHERE id IN ({owners})
"""
CHILDREN_SQL = {
    "sqlite": _CHILDREN.format(
        ids="SELECT value FROM json_each(?1)", owners="SELECT value FROM json_each(?2)"
    ),
    "postgresql": _CHILDREN.format(
        ids="SELECT unnest(%(ids)s::integer[])", owners="SELECT unnest(%(owners)s::integer[])"
    ),
}


def among(column: Any, ids: list[int]) -> sa.ColumnElement:
    """``column IN ids`` with the ids as one parameter (JSON on SQLite, an array on
    PostgreSQL): a page's child queries then cost no per-id work to build or bind."""
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == sa.any_(sa.literal(ids, type_=ARRAY(sa.Integer)))
    values = sa.select(sa.column("value", sa.Integer)).select_from(
        sa.func.json_each(sa.literal(json.dumps(ids)))
    )
    return column.in_(values)


def _children(ids: list[int], owner_ids: list[int]) -> list[tuple]:
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        params: Any = {"ids": ids, "owners": owner_ids}
    else:
        params = (json.dumps(ids), json.dumps(owner_ids))
    rows = conn.exec_driver_sql(CHILDREN_SQL[conn.dialect.name], params).all()
    rows.sort(key=_child_order)
    return rows


def _child_order(row: tuple) -> tuple:
    return row[0], row[1], row[4], row[5]


def _attach(rows: list[Row]) -> None:
    by_id = {r.id: r for r in rows}
    for r in rows:
        r.phones, r.emails, r.tags, r.owner = [], [], [], None
    if not rows:
        return
    names: dict[int, str] = {}
    owner_ids = sorted({r.owner_id for r in rows if r.owner_id})
    for part, key, value, kind, _n, _s in _children(list(by_id), owner_ids):
        if part == "p":
            by_id[key].phones.append(SimpleNamespace(e164=value, kind=kind))
        elif part == "e":
            by_id[key].emails.append(SimpleNamespace(email=value, kind=kind))
        elif part == "t":
            by_id[key].tags.append(SimpleNamespace(name=value))
        else:
            names[key] = value
    for r in rows:
        if r.owner_id in names:
            r.owner = SimpleNamespace(id=r.owner_id, name=names[r.owner_id])


def detail(client_id: int, user: Any) -> Row | None:
    """A live client ``user`` may see, as the API shows it, in three queries (no ORM)."""
    query = scoped(
        sa.select(*DETAIL_COLUMNS).where(Client.id == client_id, Client.deleted_at.is_(None)),
        user,
        "clients",
        Client.owner_id,
    )
    conn = db.session.connection()
    rows = _rows(conn.execute(query))
    if not rows:
        return None
    _attach(rows)
    row = rows[0]
    row.addresses = [
        SimpleNamespace(**a._mapping)
        for a in conn.execute(
            sa.select(
                Address.kind,
                Address.country,
                Address.region,
                Address.city,
                Address.postcode,
                Address.street,
            )
            .where(Address.client_id == client_id)
            .order_by(Address.id)
        ).all()
    ]
    return row


# What a client field takes besides a name: its number ("123", "#123") or the picker's
# suggestion "Name (#123)".
_PICKED_NUMBER = re.compile(r"#?\s*([0-9]{1,18})|.*\(#([0-9]{1,18})\)", re.DOTALL)


class NotPicked(ValueError):
    """What the user typed in a client field names no single client they may see."""


def picked(text: str, user: Any) -> Client:
    """The client a user meant in a client field of a form: its number ("123", "#123"),
    the picker's suggestion ("Alfa SRL (#123)") or its name as the registry has it (letter
    case, accents and spacing aside). Only live clients the user may see count. Raises
    ``NotPicked`` with the reason for the user when none or several are meant."""
    text = (text or "").strip()
    if not text:
        raise NotPicked(_("Choose a client: type a part of its name and pick it."))
    client_id = picked_number(text)
    if client_id is not None:
        client = get_visible(client_id, user)
        if client is None:
            raise NotPicked(_("No client you may see has the number %(number)s.", number=client_id))
        return client
    query = scoped(
        sa.select(Client)
        .where(Client.name_key == normalise.name_key(text), Client.deleted_at.is_(None))
        .order_by(Client.id)
        .limit(6),
        user,
        "clients",
        Client.owner_id,
    )
    found = list(db.session.execute(query).scalars())
    shown = text if len(text) <= 80 else text[:79] + "…"  # the message goes into a cookie
    if not found:
        raise NotPicked(
            _(
                "No client you may see is named “%(name)s”: type a part of its name and pick it.",
                name=shown,
            )
        )
    if len(found) > 1:
        numbers = ", ".join(f"#{c.id}" for c in found[:5])
        raise NotPicked(
            _(
                "Several clients are named “%(name)s” (%(numbers)s): pick one.",
                name=shown,
                numbers=numbers,
            )
        )
    return found[0]


def picked_number(text: str) -> int | None:
    """The client number in what was typed in a client field ("123", "#123", "Name
    (#123)"), or None when it names no number."""
    number = _PICKED_NUMBER.fullmatch((text or "").strip())
    return None if number is None else int(number.group(1) or number.group(2))


def pick_label(client: Any) -> str:
    """How the picker shows a client, and what ``picked`` takes back: "Name (#123)"."""
    return f"{client.name} (#{client.id})"


def get_visible(client_id: int, user: Any, include_trash: bool = False) -> Client | None:
    """The client if ``user`` may see it (scope), else None: callers answer 404."""
    query = scoped(
        sa.select(Client).where(Client.id == client_id), user, "clients", Client.owner_id
    )
    if not include_trash:
        query = query.where(Client.deleted_at.is_(None))
    return db.session.execute(query).scalar_one_or_none()


def card(client_id: int, user: Any, include_trash: bool = False) -> Client | None:
    """The client with everything its card and the API's detail show (owner, phones,
    e-mails, addresses, tags, contact persons with theirs), if ``user`` may see it.

    Two statements, each reading by indexes: the client with its owner, then its contact
    persons, phones, e-mails, addresses and tags together (``_card_children``). The collections
    are set on the objects as loaded (``set_committed_value``), so nothing is loaded
    lazily later. A contact person's phones and e-mails are stored under its company
    (moving the person moves them) and come with the company's."""
    query = scoped(
        sa.select(Client).where(Client.id == client_id), user, "clients", Client.owner_id
    )
    if not include_trash:
        query = query.where(Client.deleted_at.is_(None))
    client = db.session.execute(query.options(joinedload(Client.owner))).scalar_one_or_none()
    if client is None:
        return None
    contacts: list[ContactPerson] = []
    owned: dict[str, dict[int | None, list]] = {"phones": {}, "emails": {}}
    addresses: list[Address] = []
    tags: list[Tag] = []
    for contact, phone, email, address, tag in db.session.execute(_card_children(client.id)):
        if contact is not None:
            contacts.append(contact)
        elif phone is not None:
            owned["phones"].setdefault(phone.contact_person_id, []).append(phone)
        elif email is not None:
            owned["emails"].setdefault(email.contact_person_id, []).append(email)
        elif address is not None:
            addresses.append(address)
        elif tag is not None:
            tags.append(tag)
    for attribute, by_owner in owned.items():
        set_committed_value(client, attribute, by_owner.get(None, []))
        for contact in contacts:
            set_committed_value(contact, attribute, by_owner.get(contact.id, []))
    set_committed_value(client, "addresses", addresses)
    set_committed_value(client, "tags", tags)
    set_committed_value(client, "contacts", contacts)
    return client


def _card_children(client_id: int) -> sa.Select:
    """A client's contact persons, phones, e-mails, addresses and tags in one statement:
    the ids of each (a ``UNION ALL`` of five index lookups, tagged by kind), each joined
    to its own table; a row holds one object and ``None`` for the other four. Ordered as
    the collections are: persons by last name, tags by name, the rest by id."""
    persons = sa.select(ContactPerson.id).where(ContactPerson.client_id == client_id)
    if db.engine.dialect.name == "postgresql":
        # "= ANY(ARRAY(...))" is an index condition; "IN (subquery)" may be a filter.
        of_persons: Any = sa.any_(sa.func.array(persons.scalar_subquery()))
    else:
        of_persons = None
    keys = sa.union_all(
        *(
            sa.select(sa.literal_column(f"'{part}'").label("part"), column.label("id")).where(
                condition
            )
            for part, column, condition in (
                ("c", ContactPerson.id, ContactPerson.client_id == client_id),
                ("p", Phone.id, _of_client(Phone, client_id, persons, of_persons)),
                ("e", Email.id, _of_client(Email, client_id, persons, of_persons)),
                ("a", Address.id, Address.client_id == client_id),
                ("t", client_tags.c.tag_id, client_tags.c.client_id == client_id),
            )
        )
    ).subquery("k")
    query = sa.select(ContactPerson, Phone, Email, Address, Tag).select_from(keys)
    for part, model in (("c", ContactPerson), ("p", Phone), ("e", Email), ("a", Address)):
        query = query.outerjoin(model, sa.and_(keys.c.part == part, model.id == keys.c.id))
    query = query.outerjoin(Tag, sa.and_(keys.c.part == "t", Tag.id == keys.c.id))
    return query.order_by(keys.c.part, ContactPerson.last_name, Tag.name, keys.c.id)


def _of_client(model: Any, client_id: int, persons: sa.Select, of_persons: Any):
    """The phones (or e-mails) of the client and of its contact persons."""
    if of_persons is not None:
        return sa.or_(model.client_id == client_id, model.contact_person_id == of_persons)
    return sa.or_(model.client_id == client_id, model.contact_person_id.in_(persons))
