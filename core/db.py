"""The database handle, SQLite tuning and the columns every business table carries."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

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
