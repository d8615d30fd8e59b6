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


def test_the_generator_adds_interactions_and_tasks(generated):
    """About five interactions and one task per client (the defaults), realistic enough for
    the timeline, My tasks and the tasks API to have work to do."""
    database, _ = generated
    engine = sa.create_engine(database)
    with engine.connect() as conn:
        one = lambda sql: conn.execute(sa.text(sql)).scalar()  # noqa: E731
        interactions, tasks = (
            one("SELECT count(*) FROM interactions"),
            one("SELECT count(*) FROM tasks"),
        )
        assert 4.5 * 3000 < interactions < 5.5 * 3000
        assert 0.9 * 3000 < tasks < 1.1 * 3000
        kinds = dict(
            conn.execute(sa.text("SELECT kind, count(*) FROM interactions GROUP BY kind")).all()
        )
        assert set(kinds) == {"call", "email", "meeting", "note", "message", "visit", "letter"}
        assert kinds["call"] > kinds["email"] > kinds["letter"]
        # Notes have no direction; everything else is incoming or outgoing.
        notes = "(kind = 'note') != (direction IS NULL)"
        assert one(f"SELECT count(*) FROM interactions WHERE {notes}") == 0
        assert one("SELECT count(*) FROM interactions WHERE subject LIKE '%Запрос%'") > 0
        assert one("SELECT count(*) FROM interactions WHERE subject LIKE '%Price%'") > 0
        # Within the last three years, never before the client existed, mostly by its owner.
        assert one("SELECT min(occurred_at) FROM interactions") >= "2023-11-01"
        assert one("SELECT max(occurred_at) FROM interactions") <= "2026-11-01 12:00:00.000000"
        assert (
            one(
                "SELECT count(*) FROM interactions i JOIN clients c ON c.id = i.client_id "
                "WHERE i.occurred_at < c.created_at"
            )
            == 0
        )
        by_owner = one(
            "SELECT avg(i.user_id = c.owner_id) FROM interactions i "
            "JOIN clients c ON c.id = i.client_id"
        )
        assert 0.8 < by_owner < 0.95
        # A contact person, when named, is one of the client's.
        assert (
            one(
                "SELECT count(*) FROM interactions i JOIN contact_persons p "
                "ON p.id = i.contact_person_id WHERE p.client_id != i.client_id"
            )
            == 0
        )
        assert one("SELECT count(*) FROM interactions WHERE contact_person_id IS NOT NULL") > 0

        # Tasks: linked to existing clients, assigned among the 50 managers.
        assert one("SELECT count(*) FROM tasks WHERE record_kind != 'client'") == 0
        assert (
            one("SELECT count(*) FROM tasks WHERE record_id NOT IN (SELECT id FROM clients)") == 0
        )
        assert one("SELECT count(DISTINCT assignee_id) FROM tasks") == 50
        now = "2026-11-01 12:00:00.000000"  # the generator's "now", as stored
        past = dict(
            conn.execute(
                sa.text("SELECT status, count(*) FROM tasks WHERE due_at < :now GROUP BY status"),
                {"now": now},
            ).all()
        )
        assert past["done"] > 0.9 * sum(past.values())
        assert past.get("open", 0) + past.get("in_progress", 0) > 0  # some overdue
        assert past["cancelled"] > 0
        future = dict(
            conn.execute(
                sa.text("SELECT status, count(*) FROM tasks WHERE due_at >= :now GROUP BY status"),
                {"now": now},
            ).all()
        )
        assert future and future["open"] > sum(future.values()) / 2
        assert one("SELECT count(*) FROM tasks WHERE due_at IS NULL") > 0
        # Done and cancelled tasks have their completion time; open ones have none.
        assert (
            one(
                "SELECT count(*) FROM tasks WHERE "
                "(status IN ('done', 'cancelled')) != (completed_at IS NOT NULL)"
            )
            == 0
        )
        assert one(f"SELECT count(*) FROM tasks WHERE created_at > '{now}'") == 0
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
                [
                    conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id")).all()
                    for table in ("clients", "contact_persons", "interactions", "tasks")
                ]
            )
        engine.dispose()
    assert rows[0] == rows[1]


def test_interactions_and_tasks_draw_from_their_own_random_streams(generated, tmp_path):
    """Clients and their other rows do not depend on how many interactions or tasks are
    generated, and tasks do not depend on the number of interactions."""
    database, _ = generated
    other = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "generate.py"),
            "--clients",
            "3000",
            "--interactions-per-client",
            "0.5",
            "--database",
            other,
            "--instance",
            str(tmp_path / "instance"),
        ],
        check=True,
        capture_output=True,
        timeout=300,
        cwd=ROOT,
    )
    tables = ("clients", "contact_persons", "client_phones", "client_emails", "client_tags")
    found = []
    for url in (database, other):
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            found.append(
                {
                    table: conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1, 2")).all()
                    for table in (*tables, "tasks")
                }
                | {
                    "interactions": conn.execute(
                        sa.text("SELECT count(*) FROM interactions")
                    ).one()[0]
                }
            )
        engine.dispose()
    for table in (*tables, "tasks"):
        assert found[0][table] == found[1][table], table
    assert 0.3 * 3000 < found[1]["interactions"] < 0.7 * 3000


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


def test_my_tasks_read_only_the_tasks_still_to_do(generated):
    """My tasks and Team tasks (their counts, first rows and one group's pages) read the
    partial index of active tasks, not every task the manager ever had (thousands, mostly
    done): every statement the pages send about tasks is planned on that index."""
    from core.db import db

    database, folder = generated
    app = _app(database, folder)
    client = app.test_client()
    from tests.conftest import login

    answer = login(client, "manager1@bench.example", "bench-password-1")
    assert answer.status_code in (302, 303), answer.status_code
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "FROM tasks" in statement and "EXPLAIN" not in statement:
            seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        for url in ("/tasks/", "/tasks/team", "/tasks/?group=overdue", "/tasks/?group=later"):
            assert client.get(url).status_code == 200, url
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert len(seen) >= 5
    with engine.connect() as conn:
        for statement, parameters in seen:
            plan = " ".join(
                row[-1]
                for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
            assert (
                "ix_tasks_assignee_active" in plan
                or "tasks.id IN" not in statement
                and ("USING INTEGER PRIMARY KEY" in plan)
            ), (statement, plan)


def test_word_search_candidates_use_the_prefix_index(generated):
    """Word searches on SQLite read candidates through the 3-character prefix index, and
    that query scans no table either."""
    from core.clients import queries, search
    from core.clients.queries import ClientQuery
    from core.db import db
    from core.users.models import User

    database, folder = generated
    app = _app(database, folder)
    with app.app_context():
        user = db.session.execute(
            sa.select(User).filter_by(email="manager1@bench.example")
        ).scalar_one()
        for words in ("terra", "ромашка", "ivan petrov"):
            found = search.candidates(words)
            assert found is not None and "*" in str(found.condition.right.value)
            query, _, _ = queries.build(ClientQuery(q=words), user, match=found.condition)
            sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
            plan = "\n".join(
                r[-1] for r in db.session.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}"))
            )
            assert "VIRTUAL TABLE INDEX" in plan, plan
            for line in plan.splitlines():
                assert not (line.split()[:2] == ["SCAN", "clients"] and "USING" not in line)


@pytest.mark.parametrize("read", [None, 16])
def test_word_search_pages_equal_the_exact_full_text_query(generated, monkeypatch, read):
    """Candidates decide matches in Python as the tokenizer would: every page and cursor is
    the exact query's, for common and rare words, several words, scope "all" and "own";
    also when few candidates may be read, so the exact query finishes most pages."""
    from core.clients import queries

    if read is not None:
        monkeypatch.setattr(queries, "CANDIDATES_READ", read)
        monkeypatch.setattr(queries, "CANDIDATES_BATCH", 4)
    from core.clients.queries import ClientQuery
    from core.db import db
    from core.users.models import User
    from tests.conftest import QueryCounter

    database, folder = generated
    app = _app(database, folder)
    statements = set()
    with app.app_context():
        for email in ("manager1@bench.example", "manager2@bench.example"):
            user = db.session.execute(sa.select(User).filter_by(email=email)).scalar_one()
            for words in ("terra", "terraalfa", "ромашка", "ром", "ivan", "anna ivanovna", "gmail"):
                cursor, pages = None, 0
                while pages < 4:
                    params = ClientQuery(q=words, limit=20, cursor=cursor)
                    with QueryCounter(app) as counter:
                        fast, fast_cursor = queries.page(params, user)
                    statements.add(counter.count)
                    exact, exact_cursor = queries.page(params, user, candidates=False)
                    assert [r.id for r in fast] == [r.id for r in exact], (email, words, pages)
                    assert fast_cursor == exact_cursor
                    assert [r.phones for r in fast] == [r.phones for r in exact]
                    if fast_cursor is None:
                        break
                    cursor, pages = fast_cursor, pages + 1
    # A few statements per page whatever its length: the candidates, their clients, the
    # rows' phones and e-mails (3); the exact query finishing a page adds one (4 or 5).
    assert max(statements) <= 5, statements
    assert (max(statements) >= 4) if read else (3 in statements), statements


def test_the_tokenizer_folding_is_sqlites_own(app):
    """Names with letters FTS5 folds (Ø, Ł, accents) or keeps (ё, ß) are found exactly as
    the full-text index finds them."""
    from core.clients import queries, services
    from core.clients.queries import ClientQuery
    from core.db import db
    from core.users.models import User

    names = ["Søren Ærøskøbing", "Łukasz Wróblewski", "Ёлкин Пётр", "Straße Müller", "Çağrı Öztürk"]
    with app.app_context():
        for name in names:
            services.create_client({"name": name, "kind": "person"})
        admin = db.session.get(User, 1)
        for words in (
            "soren",
            "søren",
            "aeroskobing",
            "ærøskøbing",
            "lukasz",
            "łukasz",
            "wroblewski",
            "ёлкин",
            "елкин",
            "петр",
            "strasse",
            "straße",
            "muller",
            "cagri",
            "öztürk",
            "ozturk",
        ):
            fast, _ = queries.page(ClientQuery(q=words), admin)
            exact, _ = queries.page(ClientQuery(q=words), admin, candidates=False)
            assert [r.name for r in fast] == [r.name for r in exact], words


def test_the_generated_schema_is_what_the_migrations_create(generated, sqlite_template):
    """The generator drops and rebuilds indexes and tunes the full-text index while it
    loads; what it leaves behind is exactly the migrated schema, in WAL mode."""
    database, _ = generated

    def schema(url):
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            # ANALYZE's statistics (sqlite_stat1) are data for the planner, not schema.
            objects = set(
                conn.execute(
                    sa.text(
                        "SELECT type, name, tbl_name, sql FROM sqlite_master "
                        "WHERE name NOT LIKE 'sqlite_stat%'"
                    )
                ).all()
            )
            fts_config = set(conn.execute(sa.text("SELECT k, v FROM clients_fts_config")).all())
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        engine.dispose()
        return objects, fts_config, journal

    generated_schema, migrated = schema(database), schema(f"sqlite:///{sqlite_template}")
    assert generated_schema[0] ^ migrated[0] == set()
    assert generated_schema[1:] == migrated[1:] == ({("version", 4)}, "wal")
