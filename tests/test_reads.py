"""core.reads: several reads in one statement give exactly what each gives on its own."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.db import db
from core.reads import Read, read_together
from tests.conftest import QueryCounter

probe_metadata = sa.MetaData()
probe = sa.Table(
    "reads_probe",
    probe_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("big", sa.BigInteger),
    sa.Column("text", sa.Text),
    sa.Column("name", sa.String(50)),
    sa.Column("at", sa.DateTime),
    sa.Column("day", sa.Date),
    sa.Column("amount", sa.Numeric(12, 2)),
    sa.Column("ratio", sa.Numeric(10, 4, asdecimal=False)),
    sa.Column("flag", sa.Boolean),
    sa.Column("doc", sa.JSON),
)
ROWS = [
    {
        "id": 1,
        "big": 2**53 + 1,
        "text": "quotes \" ' and \\ back\nline \u2028 «ёлка» 🎄",
        "name": "",
        "at": datetime(2026, 11, 20, 10, 0),
        "day": date(2026, 1, 5),
        "amount": Decimal("1234.50"),
        "ratio": 0.125,
        "flag": True,
        "doc": {"b": 1, "a": [1.5, "x", None, True], "c": {"d": "«»"}},
    },
    {
        "id": 2,
        "big": -7,
        "text": "[1, 2]",
        "name": "null",
        "at": datetime(1999, 12, 31, 23, 59, 59, 123456),
        "day": date(2000, 2, 29),
        "amount": Decimal("-3.00"),
        "ratio": 2.0,
        "flag": False,
        "doc": [],
    },
    {"id": 3, "doc": None},
    {"id": 4, "amount": Decimal("9999999999.99"), "at": datetime(2026, 1, 1, 0, 0, 0, 500)},
]


@pytest.fixture
def probed(app):
    with app.app_context():
        probe_metadata.create_all(db.engine)
        with db.engine.begin() as conn:
            for row in ROWS:
                conn.execute(probe.insert().values(**row))
    yield app
    with app.app_context():
        probe_metadata.drop_all(db.engine)


def _alone(read: Read) -> list[tuple]:
    query = read.query.order_by(*read.order_by)
    if read.limit is not None:
        query = query.limit(read.limit)
    return [tuple(row) for row in db.session.execute(query)]


def _typed(rows) -> list:
    """Values with their types, and decimals with their exponent (1.50 is not 1.5 here)."""
    return [[(type(v).__name__, str(v) if isinstance(v, Decimal) else v) for v in r] for r in rows]


def test_every_read_gives_the_rows_and_types_it_gives_alone(probed):
    reads = {
        "all": Read(sa.select(probe), order_by=(probe.c.id,)),
        "newest two": Read(
            sa.select(probe.c.id, probe.c.at, probe.c.text).where(probe.c.at.is_not(None)),
            order_by=(probe.c.at.desc(), probe.c.id.desc()),
            limit=2,
        ),
        "nulls in order": Read(
            sa.select(probe.c.id, probe.c.day), order_by=(probe.c.day.desc(), probe.c.id)
        ),
        "count": Read(sa.select(sa.func.count().label("n")).select_from(probe)),
        "none": Read(sa.select(probe.c.id).where(probe.c.id > 100)),
        "expression": Read(
            sa.select(
                (probe.c.amount * 2).label("twice"), probe.c.flag.is_(True).label("yes")
            ).where(probe.c.id < 3),
            order_by=(probe.c.id,),
        ),
    }
    with probed.app_context():
        with QueryCounter(probed) as counter:
            together = read_together(reads)
        assert counter.count == 1, counter.statements
        for key, read in reads.items():
            alone = _alone(read)
            assert [tuple(r) for r in together[key]] == alone, key
            assert _typed(together[key]) == _typed(alone), key
        first = together["all"][0]
        assert first.doc == ROWS[0]["doc"] and list(first.doc) == ["b", "a", "c"]
        assert together["count"][0].n == 4


def test_no_reads_no_statement(probed):
    with probed.app_context(), QueryCounter(probed) as counter:
        assert read_together({}) == {}
    assert counter.count == 0


def test_a_failing_read_is_left_out_when_asked_and_raised_otherwise(probed):
    missing = sa.table("no_such_table", sa.column("id", sa.Integer))
    reads = {
        "good": Read(sa.select(probe.c.id), order_by=(probe.c.id,)),
        "bad": Read(sa.select(missing.c.id)),
    }
    with probed.app_context():
        with pytest.raises(sa.exc.DBAPIError):
            read_together(reads)
        db.session.rollback()
        assert read_together(reads, skip_failed=True) == {
            "good": [(1,), (2,), (3,), (4,)],
        }
        # The session is usable afterwards (the failed reads were rolled back).
        assert db.session.execute(sa.select(sa.func.count()).select_from(probe)).scalar() == 4


@pytest.mark.parametrize("kind", [sa.LargeBinary, sa.Float, sa.Interval])
def test_unsupported_column_types_are_refused(probed, kind):
    """Floats too: SQLite writes them into JSON with 15 significant digits, not 17."""
    odd = {"odd": Read(sa.select(sa.cast(probe.c.text, kind)))}
    with probed.app_context():
        with pytest.raises(TypeError):
            read_together(odd)
        assert read_together(odd, skip_failed=True) == {}


def test_long_numerics_are_refused_on_sqlite_only(probed):
    """SQLite keeps numerics as binary floats: more than 15 digits would not survive JSON."""
    long = {
        "long": Read(sa.select(sa.cast(probe.c.amount, sa.Numeric(20, 2))).where(probe.c.id == 1))
    }
    with probed.app_context():
        if db.engine.dialect.name == "sqlite":
            with pytest.raises(TypeError):
                read_together(long)
        else:
            assert read_together(long)["long"][0][0] == Decimal("1234.50")


def test_one_failing_read_alone_is_left_out_when_asked(probed):
    missing = sa.table("no_such_table", sa.column("id", sa.Integer))
    with probed.app_context():
        assert read_together({"bad": Read(sa.select(missing.c.id))}, skip_failed=True) == {}
        assert db.session.execute(sa.select(sa.func.count()).select_from(probe)).scalar() == 4
