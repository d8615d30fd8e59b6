"""The database handle, SQLite tuning and the columns every business table carries."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache, partial
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, declared_attr, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# SQLite's page cache per connection, in KiB (SQLite's own default is 2,000). `crm worker`
# raises it: imports and scans write into indexes of a million rows, and re-reading their
# pages from the OS for every batch costs more than the writing.
sqlite_cache_kib = 2000


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection, connection_record) -> None:
    """WAL for concurrent readers, enforced foreign keys and a busy timeout for writers."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    if sqlite_cache_kib != 2000:
        cursor.execute(f"PRAGMA cache_size=-{int(sqlite_cache_kib)}")
    cursor.close()


def bulk_writer(
    conn: sa.Connection, statement: sa.Insert, keys: list[str] | None = None
) -> Callable[[list[dict[str, Any]]], None]:
    """A writer of many rows through the driver's executemany, for bulk work (imports,
    scans): the statement is compiled once, and rows go to the driver without SQLAlchemy's
    per-row parameter handling, which at hundreds of thousands of rows costs more than
    the inserts themselves.

    With ``keys`` (a plain insert of those columns), each column's own bind processor is
    applied here (dates as text on SQLite, JSON, ...); without, the statement's bind
    parameters take values already in the database's form.
    """
    dialect = conn.dialect
    compiled = statement.compile(dialect=dialect, column_keys=keys, for_executemany=True)
    constants = {k: v for k, v in compiled.params.items() if v is not None}
    names = compiled.positiontup or list(compiled.params)
    convert = []
    if keys is not None:
        for index, name in enumerate(names):
            kind = statement.table.c[name].type
            processor = kind.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                if isinstance(kind, sa.DateTime):
                    processor = lru_cache(maxsize=64)(processor)  # a batch shares its times
                convert.append((index, processor))
    pick = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    positional = compiled.positiontup is not None

    def cells(row: dict[str, Any]) -> tuple | dict:
        if keys is None:
            values = [row[n] if n in row else constants.get(n) for n in names]
        else:
            values = list(pick(row))
        for index, processor in convert:
            if values[index] is not None:
                values[index] = processor(values[index])
        return tuple(values) if positional else dict(zip(names, values, strict=True))

    def write(rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.exec_driver_sql(compiled.string, [cells(row) for row in rows])

    return write


def tuple_writer(
    conn: sa.Connection, table: sa.Table, keys: tuple[str, ...]
) -> Callable[[list[tuple]], None]:
    """A writer of rows given as tuples of the ``keys`` columns, already in the form the
    database takes (see ``database_value``): one INSERT through the driver's executemany,
    with nothing done per row in Python. For the hottest bulk paths (imports)."""
    dialect = conn.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
        f"({', '.join(quote(k) for k in keys)}) VALUES ({', '.join([mark] * len(keys))})"
    )

    def write(rows: list[tuple]) -> None:
        if rows:
            conn.exec_driver_sql(sql, rows)

    return write


# How many bulk runs of this process hold Python's cycle collector paused (see below).
_collector_pauses = 0
_collector_was_enabled = True
_collector_froze = False
_collector_lock = threading.Lock()


@contextmanager
def cycle_collector_paused() -> Iterator[Callable[[], None]]:
    """Python's cycle collector paused while bulk work runs in this process (imports).

    Such work makes and drops millions of tuples and lists; the collector, started every
    700 new ones, then walks every young object again and again (a fifth of an import's
    CPU time at 100,000 rows), although reference counting already frees them: they form
    no cycles. The objects alive when the work starts are frozen out of its walks too.
    The yielded function collects the young generations: call it now and then (every
    100,000 rows), so the few cycles made meanwhile are freed. Nested and concurrent runs
    in one process share the pause; the last one to end restores the collector.
    """
    global _collector_pauses, _collector_was_enabled, _collector_froze
    with _collector_lock:
        if _collector_pauses == 0:
            _collector_was_enabled = gc.isenabled()
            # A serving process froze its start-up already (core.freeze_startup): that
            # freeze stays; unfreezing at the end would undo it.
            _collector_froze = gc.get_freeze_count() == 0
            if _collector_froze:
                gc.freeze()
            gc.disable()
        _collector_pauses += 1
    try:
        yield partial(gc.collect, 1)
    finally:
        with _collector_lock:
            _collector_pauses -= 1
            if _collector_pauses == 0:
                if _collector_froze:
                    gc.unfreeze()
                if _collector_was_enabled:
                    gc.enable()


class CommitForbidden(RuntimeError):
    """A commit or rollback by code that works inside its caller's transaction."""


_CALLER_COMMITS = "crm_caller_commits"


@contextmanager
def caller_commits(purpose: str) -> Iterator[Callable[[], None]]:
    """Run code that works inside the current transaction, which its caller commits once
    (``client_merged`` implementations): ``db.session.commit()`` raises CommitForbidden
    while the block runs, so such code cannot save the caller's change half done.

    The yielded check flushes (a bad row fails there, not at the caller's commit) and
    raises CommitForbidden when the transaction was rolled back meanwhile; call it after
    each piece of such code.
    """
    session = db.session()
    session.flush()
    transaction = session.get_transaction()

    def check() -> None:
        if session.get_transaction() is not transaction:
            raise CommitForbidden(f"{purpose} must not roll back: the caller's work is lost")
        session.flush()

    previous = session.info.get(_CALLER_COMMITS)
    session.info[_CALLER_COMMITS] = purpose
    try:
        yield check
    finally:
        if previous is None:
            session.info.pop(_CALLER_COMMITS, None)
        else:
            session.info[_CALLER_COMMITS] = previous


@event.listens_for(Session, "before_commit")
def _refuse_commit(session: Session) -> None:
    purpose = session.info.get(_CALLER_COMMITS)
    if purpose:
        raise CommitForbidden(f"{purpose} must not commit: its caller commits once, at the end")


def database_value(conn: sa.Connection, column: sa.Column, value: Any) -> Any:
    """``value`` as ``column``'s type sends it to this database (a time as text on SQLite)."""
    processor = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return value if processor is None or value is None else processor(value)


def engine_options(uri: str) -> dict:
    if uri.startswith("sqlite"):
        return {"connect_args": {"timeout": 10, "check_same_thread": False}}
    return {"pool_pre_ping": True}


class BusinessMixin:
    """id, timestamps, author and an optimistic-locking version (stale writes get 409)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, nullable=False)
    version: Mapped[int] = mapped_column(default=1, nullable=False)

    @declared_attr
    def created_by_id(cls) -> Mapped[int | None]:
        return mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict:
        return {"version_id_col": cls.__table__.c.version}
