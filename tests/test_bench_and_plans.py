"""The data generator works at a small size, and searches on it use indexes, not table scans
(benchmarks measure speed; these tests guard the shape of the work)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("CRM_TEST_DATABASE_URL")), reason="the query-plan checks read SQLite plans"
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    database = f"sqlite:///{folder / 'crm.sqlite3'}"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "generate.py"),
            "--clients",
            "3000",
            "--database",
            database,
            "--instance",
            str(folder / "instance"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "clients" in result.stdout and "rows/s" in result.stdout
    return database, folder


def _app(database, folder):
    from tests.conftest import make_app

    return make_app(folder / "app", database)


def test_the_generator_fills_every_table(generated):
    database, _ = generated
    engine = sa.create_engine(database)
    with engine.connect() as conn:
        count = lambda table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()  # noqa: E731
        assert count("clients") == 3000
        assert count("users") >= 50 and count("teams") == 5
        assert count("client_phones") > 3000 and count("client_emails") > 3000
        assert count("contact_persons") > 3000
        assert count("clients_fts") == 3000
        kinds = conn.execute(sa.text("SELECT kind, count(*) FROM clients GROUP BY kind")).all()
        assert {k for k, _ in kinds} == {"company", "person"}
        cyrillic = conn.execute(
            sa.text("SELECT count(*) FROM clients WHERE name LIKE '%ООО%'")
        ).scalar()
        assert cyrillic > 0
    engine.dispose()


def test_the_same_seed_gives_the_same_data(generated, tmp_path):
    database, folder = generated
    again = f"sqlite:///{tmp_path / 'again.sqlite3'}"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "generate.py"),
            "--clients",
            "3000",
            "--database",
            again,
            "--instance",
            str(tmp_path / "instance"),
        ],
        check=True,
        capture_output=True,
        timeout=300,
        cwd=ROOT,
    )
    rows = []
    for url in (database, again):
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            rows.append(
                conn.execute(
                    sa.text("SELECT name, tax_id, status FROM clients ORDER BY id LIMIT 50")
                ).all()
            )
        engine.dispose()
    assert rows[0] == rows[1]


def _plan(app, params) -> str:
    from core.clients import queries
    from core.db import db
    from core.users.models import User

    with app.app_context():
        user = db.session.execute(
            sa.select(User).filter_by(email="manager1@bench.example")
        ).scalar_one()
        query, _, _ = queries.build(params, user)
        sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
        plan = db.session.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}")).all()
        return "\n".join(row[-1] for row in plan)


@pytest.mark.parametrize(
    "query", ["ромашка", "terra", "+373 22 000 000", "a@example.com", "1234567890"]
)
def test_searches_never_scan_the_clients_table(generated, query):
    from core.clients.queries import ClientQuery

    database, folder = generated
    plan = _plan(_app(database, folder), ClientQuery(q=query))
    for line in plan.splitlines():
        # "SCAN clients_fts VIRTUAL TABLE INDEX 0:M..." is the full-text index answering MATCH.
        assert not (line.split()[:2] == ["SCAN", "clients"] and "USING" not in line), plan
        assert "SCAN client_phones" not in line and "SCAN client_emails" not in line, plan


def test_an_unfiltered_list_reads_the_name_index_in_order(generated):
    from core.clients.queries import ClientQuery

    database, folder = generated
    app = _app(database, folder)
    from core.clients import queries
    from core.db import db

    with app.app_context():
        from core.users.models import User

        user = db.session.execute(
            sa.select(User).filter_by(email="manager1@bench.example")
        ).scalar_one()
        query, _, _ = queries.build(ClientQuery(), user)
        query = query.order_by(queries.Client.name_key, queries.Client.id).limit(51)
        sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
        plan = " ".join(r[-1] for r in db.session.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}")))
    assert "ix_clients_live_name" in plan and "TEMP B-TREE" not in plan, plan
