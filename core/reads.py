"""Several small reads in one statement: one round trip to the database instead of many.

A page like the client card reads a dozen small, independent things: each panel's rows
(tasks, documents, deals, ...), each timeline provider's newest items, the bell's count.
As statements of their own they cost a round trip each on PostgreSQL (0.3-0.6 ms plus the
driver's work) and SQLAlchemy's work per statement on both databases. ``read_together``
sends them as one ``UNION ALL``: the database turns each row of each read into a JSON
array (``json_build_array`` on PostgreSQL, ``json_array`` on SQLite), tagged with the
read it belongs to and its place in that read's order, and the values are turned back
here into exactly what the columns give when read on their own (by their SQLAlchemy
types: datetimes, dates, decimals, booleans, JSON documents).

A read selects columns, not ORM entities (label the ones whose names repeat), of the
types ``_converter`` knows (not floats, nor on SQLite numerics of more than 15 digits:
SQLite stores both as binary floats and writes them into JSON with 15 significant
digits); its rows come back as named tuples. Reads cannot use each
other's results, but a read can repeat another's conditions as a subquery (the sendings
of the documents a panel shows: ``document_id IN (SELECT id ... LIMIT 50)``).
"""

from __future__ import annotations

import json
import logging
from collections import namedtuple
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

import sqlalchemy as sa

from core.db import db

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Read:
    """What to read: ``query`` (its columns, FROM and WHERE; no ORDER BY or LIMIT of its
    own), the order of its rows and the most rows wanted (None for all). ``ordered=False``
    when only which rows matters, not their order (the caller sorts them): the database
    then does not number them."""

    query: sa.Select
    order_by: tuple[Any, ...] = ()
    limit: int | None = None
    ordered: bool = True


@lru_cache(maxsize=512)
def row_type(keys: tuple[str, ...]) -> type:
    """The named tuple of a read's rows (cached: one class per shape of read)."""
    return namedtuple("ReadRow", keys)  # noqa: PYI024 - built per shape at run time


def _postgresql_converter(kind: sa.types.TypeEngine) -> Callable[[Any], Any] | None:
    # What psycopg would have made of the value: json_build_array() writes timestamps and
    # dates in ISO form, numerics as text (cast in ``_cell``), booleans and JSON as such.
    if isinstance(kind, sa.DateTime):
        if kind.timezone:
            raise TypeError("read_together reads naive datetimes only")
        return datetime.fromisoformat
    if isinstance(kind, sa.Date):
        return date.fromisoformat
    if isinstance(kind, sa.Numeric):
        return Decimal if kind.asdecimal else float
    return None


_PLAIN = (sa.Integer, sa.String, sa.Boolean, sa.JSON, sa.DateTime, sa.Date, sa.Numeric)


@lru_cache(maxsize=1024)
def _converter(kind: sa.types.TypeEngine, dialect: Any) -> Callable[[Any], Any] | None:
    """How a value of a column of type ``kind`` comes back from JSON (None: as it is).
    Cached by type object: columns share theirs, so a page computes few of them."""
    if isinstance(kind, sa.types.NullType):
        return None
    if isinstance(kind, sa.types.TypeDecorator | sa.Float) or not isinstance(kind, _PLAIN):
        raise TypeError(f"read_together cannot read a column of type {kind!r}")
    if dialect.name != "postgresql":
        if isinstance(kind, sa.Numeric) and (kind.precision or 99) > 15:
            # Stored as a binary float, written into JSON with 15 significant digits.
            raise TypeError(f"read_together reads numerics of up to 15 digits: {kind!r}")
        # json_array() gives the stored values as they are (text for datetimes and JSON,
        # 0/1 for booleans, numbers as stored): the type's own result processor (which
        # passes None through) does the rest.
        return kind.dialect_impl(dialect).result_processor(dialect, None)
    convert = _postgresql_converter(kind)
    if convert is None:
        return None
    return lambda value: None if value is None else convert(value)


def _cell(column: Any, postgresql: bool) -> Any:
    if postgresql and isinstance(column.type, sa.Numeric):
        return sa.cast(column, sa.Text)  # as written, not through a binary float
    return column


# The three columns of every branch, made once (elements are immutable and shared).
_PART = [sa.literal_column(str(i)).label("part") for i in range(64)]
_UNNUMBERED = sa.literal_column("0").label("n")
_OUTER = (sa.literal_column("part"), sa.literal_column("n"), sa.literal_column("row"))


def _statement(
    reads: list[Read], columns: list[list[Any]], postgresql: bool
) -> sa.Select | sa.CompoundSelect:
    branches = []
    for index, read in enumerate(reads):
        cells = [_cell(c, postgresql) for c in columns[index]]
        if postgresql:
            row = sa.cast(sa.func.json_build_array(*cells), sa.Text).label("row")
        else:
            row = sa.func.json_array(*cells).label("row")
        if read.order_by and read.ordered:
            number = sa.func.row_number().over(order_by=read.order_by).label("n")
        else:
            number = _UNNUMBERED
        part = _PART[index] if index < len(_PART) else sa.literal_column(str(index)).label("part")
        # The same columns, wrapped: their FROM stays what it was.
        inner = read.query.with_only_columns(part, number, row)
        if read.order_by:
            inner = inner.order_by(*read.order_by)
        if read.limit is not None:
            inner = inner.limit(read.limit)
        if read.order_by or read.limit is not None:
            # SQLite takes no ORDER BY or LIMIT in a member of a UNION: a subquery does.
            inner = sa.select(*_OUTER).select_from(inner.subquery(f"r{index}"))
        branches.append(inner)
    return branches[0] if len(branches) == 1 else sa.union_all(*branches)


def read_together(reads: Mapping[K, Read], *, skip_failed: bool = False) -> dict[K, list[Any]]:
    """The rows of every read, by key, in each read's order, from one statement.

    If the statement fails (a plugin's read on a table that is not there, say), the error
    is raised; with ``skip_failed`` the transaction is rolled back instead, the reads run
    one by one, and those that fail (or select a type this module cannot read) are logged
    and left out of the answer: callers leave out what needed them."""
    if not reads:
        return {}
    dialect = db.session.get_bind().dialect
    postgresql = dialect.name == "postgresql"
    keys, plan, selected, shapes = [], [], [], []
    for key, read in reads.items():
        columns = read.query.selected_columns
        listed = list(columns)
        try:
            converters = [_converter(c.type, dialect) for c in listed]
        except TypeError:
            if not skip_failed:
                raise
            log.exception("read %r cannot be read together", key)
            continue
        keys.append(key)
        plan.append(read)
        selected.append(listed)
        shapes.append((row_type(tuple(columns.keys())), converters))
    if not plan:
        return {}
    try:
        result = db.session.execute(_statement(plan, selected, postgresql)).all()
    except sa.exc.DBAPIError:
        if not skip_failed:
            raise
        db.session.rollback()
        if len(plan) == 1:
            log.exception("read %r failed", keys[0])
            return {}
        return _one_by_one(dict(zip(keys, plan, strict=True)))
    found: list[list[tuple[int, str]]] = [[] for _ in plan]
    for part, number, row in result:
        found[part].append((number, row))
    out: dict[K, list[Any]] = {}
    for key, rows, (make, converters) in zip(keys, found, shapes, strict=True):
        if not rows:
            out[key] = []
            continue
        rows.sort(key=_first)
        values = json.loads("[" + ",".join([row for _, row in rows]) + "]")
        pairs = [(i, convert) for i, convert in enumerate(converters) if convert is not None]
        if pairs:
            for cells in values:
                for i, convert in pairs:
                    cells[i] = convert(cells[i])
        out[key] = [make._make(cells) for cells in values]
    return out


def _first(pair: tuple[int, str]) -> int:
    return pair[0]


def _one_by_one(reads: Mapping[K, Read]) -> dict[K, list[Any]]:
    out: dict[K, list[Any]] = {}
    for key, read in reads.items():
        try:
            out.update(read_together({key: read}))
        except sa.exc.DBAPIError:
            log.exception("read %r failed", key)
            db.session.rollback()
    return out
