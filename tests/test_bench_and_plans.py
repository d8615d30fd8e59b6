"""The data generator works at a small size, and searches on it use indexes, not table scans
(benchmarks measure speed; these tests guard the shape of the work). The generated SQLite
database is checked on every run; with CRM_TEST_DATABASE_URL the generator also loads
PostgreSQL (COPY) and that database is checked too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent

ON_POSTGRES = bool(os.environ.get("CRM_TEST_DATABASE_URL"))
sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="the query-plan checks read SQLite plans")
NOW = "2026-11-01 12:00:00.000000"  # the generator's "now", as stored


def _generate(database: str, instance: Path, *options: str) -> str:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "generate.py"),
            "--database",
            database,
            "--instance",
            str(instance),
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    if ON_POSTGRES:
        pytest.skip("the query-plan checks read SQLite plans")
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
                    for table in (
                        "clients",
                        "contact_persons",
                        "interactions",
                        "tasks",
                        *SALES_DATA,
                    )
                ]
                + [conn.execute(sa.text(sql)).all() for sql in SALES_SETUP]
                # The clients' history (its ids follow the set-up's own entries).
                + [
                    conn.execute(
                        sa.text(
                            "SELECT at, user_id, entity_id, action, changes FROM audit_log "
                            "WHERE entity = 'clients' ORDER BY id"
                        )
                    ).all()
                ]
            )
        engine.dispose()
    assert rows[0] == rows[1]
    assert rows[0][4]  # deals were compared


# The deals and what they refer to; the default pipeline and the lost reasons are made by
# enabling the plugin (at the time it runs), so only their ids and names are compared.
SALES_DATA = (
    "sales_deals",
    "sales_stage_changes",
    "sales_deal_lines",
    "sales_products",
    "sales_product_groups",
)
SALES_SETUP = (
    "SELECT id, name, position FROM sales_pipelines ORDER BY id",
    "SELECT id, pipeline_id, name, position, kind FROM sales_stages ORDER BY id",
    "SELECT id, name FROM sales_lost_reasons ORDER BY id",
    "SELECT * FROM sales_stage_totals ORDER BY stage_id, owner_key, currency, source_key",
)


def test_the_generator_writes_each_clients_history(generated):
    """Every client has the audit "create" entry the app writes, and its later edits chain:
    each edit's old value is the previous edit's new one, and the last edit of a field left
    the value the client has now. The card's timeline reads these entries."""
    database, _ = generated
    engine = sa.create_engine(database)
    with engine.connect() as conn:
        clients = {
            row.id: row
            for row in conn.execute(
                sa.text(
                    "SELECT id, status, owner_id, industry, next_contact_on, created_at, name "
                    "FROM clients"
                )
            )
        }
        entries = conn.execute(
            sa.text(
                "SELECT entity_id, action, at, changes FROM audit_log "
                "WHERE entity = 'clients' ORDER BY entity_id, at, id"
            )
        ).all()
    engine.dispose()
    by_client: dict[int, list] = {}
    for entry in entries:
        by_client.setdefault(entry.entity_id, []).append(entry)
    assert set(by_client) == set(clients)
    updates = sum(len(found) - 1 for found in by_client.values())
    assert 0.7 * 3000 < updates < 1.3 * 3000  # about one edit per client (the default)
    for client_id, found in by_client.items():
        client = clients[client_id]
        create, *edits = found
        assert create.action == "create" and create.at == client.created_at
        values = {field: new for field, (_, new) in json.loads(create.changes).items()}
        assert values["name"] == client.name
        for edit in edits:
            assert edit.action == "update" and edit.at > create.at
            ((field, (old, new)),) = json.loads(edit.changes).items()
            assert old == values.get(field) and old != new, (client_id, field)
            values[field] = new
        for field in ("status", "owner_id", "industry", "next_contact_on"):
            assert values.get(field) == getattr(client, field), (client_id, field)


def test_interactions_and_tasks_draw_from_their_own_random_streams(generated, tmp_path):
    """Clients and their other rows do not depend on how many interactions or tasks are
    generated, tasks do not depend on the number of interactions, and deals on neither."""
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
                    for table in (*tables, "tasks", *SALES_DATA)
                }
                | {
                    "interactions": conn.execute(
                        sa.text("SELECT count(*) FROM interactions")
                    ).one()[0]
                }
            )
        engine.dispose()
    for table in (*tables, "tasks", *SALES_DATA):
        assert found[0][table] == found[1][table], table
    assert 0.3 * 3000 < found[1]["interactions"] < 0.7 * 3000


def test_without_deals_the_other_tables_are_the_same(generated, tmp_path):
    """``--deals-per-client 0`` leaves the sales plugin disabled and writes exactly the
    clients, contact persons, phones, e-mails, tags, interactions and tasks it writes with
    deals: deals draw from a random stream of their own."""
    database, _ = generated
    other = f"sqlite:///{tmp_path / 'no-deals.sqlite3'}"
    _generate(other, tmp_path / "instance", "--clients", "3000", "--deals-per-client", "0")
    tables = (
        "clients",
        "contact_persons",
        "client_phones",
        "client_emails",
        "client_tags",
        "interactions",
        "tasks",
        "clients_fts",
    )
    found = []
    for url in (database, other):
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            found.append(
                {
                    table: conn.execute(sa.text(f"SELECT rowid, * FROM {table} ORDER BY 1")).all()
                    for table in tables
                }
            )
            names = set(
                conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type = 'table'"))
                .scalars()
                .all()
            )
            enabled = conn.execute(
                sa.text("SELECT enabled FROM plugins WHERE name = 'sales'")
            ).scalar()
            scopes = conn.execute(sa.text("SELECT scopes FROM roles WHERE name LIKE 'Manager%'"))
            found[-1]["setup"] = (("sales_deals" in names), bool(enabled), scopes.all())
        engine.dispose()
    for table in tables:
        assert found[0][table] == found[1][table], table
    assert found[0]["setup"][:2] == (True, True)
    assert found[1]["setup"][:2] == (False, False)
    assert all("sales.deals" not in scopes for (scopes,) in found[1]["setup"][2])


def _check_deals(conn, clients: int) -> None:
    """The generated deals, as the sales plugin would have left them (either database)."""
    one = lambda sql: conn.execute(sa.text(sql)).scalar()  # noqa: E731
    rows = lambda sql: conn.execute(sa.text(sql)).all()  # noqa: E731
    assert one("SELECT count(*) FROM sales_deals") == clients  # one per client by default
    assert rows("SELECT name FROM sales_pipelines ORDER BY id") == [("Sales",), ("Wholesale",)]
    assert one("SELECT count(*) FROM sales_lost_reasons") == 5
    assert one("SELECT count(*) FROM sales_products") == 500
    assert one("SELECT count(DISTINCT group_id) FROM sales_products") == 20
    # Most deals closed, about 15 % still open; a quarter won.
    kinds = dict(
        rows(
            "SELECT s.kind, count(*) FROM sales_deals d JOIN sales_stages s "
            "ON s.id = d.stage_id GROUP BY s.kind"
        )
    )
    assert 0.08 * clients < kinds["open"] < 0.25 * clients, kinds
    assert 0.15 * clients < kinds["won"] < 0.40 * clients, kinds
    assert 0.45 * clients < kinds["lost"] < 0.75 * clients, kinds
    # Both pipelines, the default one more; every stage of the deal in its own pipeline.
    per_pipeline = dict(rows("SELECT pipeline_id, count(*) FROM sales_deals GROUP BY 1"))
    assert len(per_pipeline) == 2 and per_pipeline[1] > per_pipeline[2] > 0
    assert (
        one(
            "SELECT count(*) FROM sales_deals d JOIN sales_stages s ON s.id = d.stage_id "
            "WHERE s.pipeline_id != d.pipeline_id"
        )
        == 0
    )
    # Closed iff won or lost; a lost reason iff lost.
    assert (
        one(
            "SELECT count(*) FROM sales_deals d JOIN sales_stages s ON s.id = d.stage_id "
            "WHERE (s.kind != 'open') != (d.closed_at IS NOT NULL) "
            "OR (s.kind = 'lost') != (d.lost_reason_id IS NOT NULL)"
        )
        == 0
    )
    # Over the year up to the generator's "now", never before the client; owned by the
    # generated managers, mostly the client's owner.
    assert str(one("SELECT min(created_at) FROM sales_deals")) >= "2025-11-01"
    assert str(one("SELECT max(stage_entered_at) FROM sales_deals")) <= NOW
    assert (
        one(
            "SELECT count(*) FROM sales_deals d JOIN clients c ON c.id = d.client_id "
            "WHERE d.created_at < c.created_at"
        )
        == 0
    )
    owners = rows(
        "SELECT count(DISTINCT d.owner_id), "
        "sum(CASE WHEN d.owner_id = c.owner_id THEN 1 ELSE 0 END) "
        "FROM sales_deals d JOIN clients c ON c.id = d.client_id"
    )[0]
    assert owners[0] == 50 and 0.85 * clients < owners[1] < 0.95 * clients
    assert (
        one(
            "SELECT count(*) FROM sales_deals WHERE owner_id NOT IN "
            "(SELECT id FROM users WHERE email LIKE '%@bench.example')"
        )
        == 0
    )
    assert one("SELECT count(DISTINCT source) FROM sales_deals") >= 5
    # Every move is a stage change: the first enters the first stage at creation, each
    # starts where the one before ended, the last is where the deal is since it entered.
    changes = rows(
        "SELECT c.deal_id, c.from_stage_id, c.to_stage_id, c.at, c.pipeline_id, c.by_id "
        "FROM sales_stage_changes c ORDER BY c.deal_id, c.at, c.id"
    )
    deals = {
        r[0]: r[1:]
        for r in rows(
            "SELECT id, stage_id, created_at, stage_entered_at, pipeline_id, owner_id, version "
            "FROM sales_deals"
        )
    }
    first_stage = dict(
        rows(
            "SELECT pipeline_id, min(id) FROM sales_stages WHERE kind = 'open' "
            "AND position = (SELECT min(position) FROM sales_stages t "
            "WHERE t.pipeline_id = sales_stages.pipeline_id) GROUP BY pipeline_id"
        )
    )
    paths: dict[int, list] = {}
    for change in changes:
        paths.setdefault(change[0], []).append(change[1:])
    assert set(paths) == set(deals)
    backward = 0
    for deal_id, path in paths.items():
        stage_id, created, entered, pipeline_id, owner_id, version = deals[deal_id]
        assert path[0][0] is None and path[0][1] == first_stage[pipeline_id], deal_id
        assert str(path[0][2])[:19] == str(created)[:19]
        for before, after in zip(path, path[1:], strict=False):
            assert after[0] == before[1] and after[2] >= before[2], deal_id
            backward += after[1] < after[0]  # stage ids grow along a pipeline
        assert path[-1][1] == stage_id and str(path[-1][2])[:19] == str(entered)[:19]
        assert {c[3] for c in path} == {pipeline_id} and {c[4] for c in path} == {owner_id}
        assert version == len(path)
    assert 0 < backward < 0.2 * clients
    # 1-3 lines of products; the amounts as the plugin computes them, the deal's amount
    # their sum.
    lines = rows(
        "SELECT count(*), min(n), max(n) FROM (SELECT count(*) AS n FROM sales_deal_lines "
        "GROUP BY deal_id) AS per_deal"
    )[0]
    assert lines[0] == clients and (lines[1], lines[2]) == (1, 3)
    assert one("SELECT count(*) FROM sales_deal_lines WHERE product_id IS NULL") == 0
    for quantity, price, discount, vat_rate, net, vat, total in rows(
        "SELECT quantity, price, discount_percent, vat_rate, net_amount, vat_amount, "
        "total_amount FROM sales_deal_lines ORDER BY id LIMIT 500"
    ):

        def cents(value):
            return Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_UP)

        expected_net = cents(
            Decimal(str(quantity)) * Decimal(str(price)) * (100 - Decimal(str(discount))) / 100
        )
        assert cents(net) == expected_net
        assert cents(vat) == cents(expected_net * Decimal(str(vat_rate)) / 100)
        assert cents(total) == cents(net) + cents(vat)
    assert (
        one(
            "SELECT count(*) FROM sales_deals d WHERE round(d.amount * 100) != "
            "(SELECT round(sum(l.total_amount) * 100) FROM sales_deal_lines l "
            "WHERE l.deal_id = d.id)"
        )
        == 0
    )
    # The board's totals are a recount of the deals.
    _check_totals(conn)


def _check_totals(conn) -> None:
    def rows(sql):
        return sorted(
            tuple(value if isinstance(value, str) else int(value) for value in row)
            for row in conn.execute(sa.text(sql))
        )

    kept = rows(
        "SELECT stage_id, owner_key, currency, source_key, deals, amount_cents "
        "FROM sales_stage_totals WHERE deals != 0 OR amount_cents != 0"
    )
    recount = rows(
        "SELECT stage_id, coalesce(owner_id, 0), currency, coalesce(source, ''), count(*), "
        "sum(round(amount * 100)) FROM sales_deals "
        "GROUP BY stage_id, coalesce(owner_id, 0), currency, coalesce(source, '')"
    )
    assert kept and kept == recount
    # The funnel's entries per stage, day, owner and currency, and each re-entry's
    # previous entry into the same stage, are a recount of the stage changes.
    day = "CAST(c.at AS date)" if conn.dialect.name == "postgresql" else "substr(c.at, 1, 10)"
    kept = rows(
        "SELECT stage_id, CAST(day AS text), owner_key, currency, entries "
        "FROM sales_stage_entries WHERE entries != 0"
    )
    recount = rows(
        f"SELECT c.to_stage_id, CAST({day} AS text), coalesce(d.owner_id, 0), d.currency, "
        "count(*) FROM sales_stage_changes c JOIN sales_deals d ON d.id = c.deal_id "
        f"GROUP BY c.to_stage_id, {day}, coalesce(d.owner_id, 0), d.currency"
    )
    assert kept and kept == recount
    previous: dict[tuple[int, int], object] = {}
    reentries = 0
    for deal_id, stage_id, at, kept_previous in conn.execute(
        sa.text(
            "SELECT deal_id, to_stage_id, at, previous_at FROM sales_stage_changes "
            "ORDER BY deal_id, to_stage_id, at, id"
        )
    ):
        assert kept_previous == previous.get((deal_id, stage_id)), (deal_id, stage_id, at)
        reentries += kept_previous is not None
        previous[(deal_id, stage_id)] = at
    assert reentries


def test_the_generator_adds_deals(generated, tmp_path):
    """The sales plugin is enabled as an admin leaves it, with deals, their stage changes
    and lines, and the board's totals and the funnel's entries right; its triggers keep
    them after the load."""
    database, _ = generated
    engine = sa.create_engine(database)
    with engine.connect() as conn:
        _check_deals(conn, 3000)
        assert conn.execute(
            sa.text("SELECT enabled, status FROM plugins WHERE name = 'sales'")
        ).one() == (1, "ok")
        for permissions, scopes in conn.execute(
            sa.text("SELECT permissions, scopes FROM roles WHERE name LIKE 'Manager%'")
        ):
            permissions, scopes = json.loads(permissions), json.loads(scopes)
            assert {"sales.view", "sales.deals.edit", "sales.reports", "reports.view"} <= set(
                permissions
            )
            assert scopes["sales.deals"] == scopes["clients"]
    engine.dispose()
    # The triggers are back: changing deals in a copy keeps the totals right.
    copy = tmp_path / "copy.sqlite3"
    shutil.copyfile(database[len("sqlite:///") :], copy)
    engine = sa.create_engine(f"sqlite:///{copy}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE sales_deals SET stage_id = 2 WHERE id % 7 = 0"))
        conn.execute(sa.text("UPDATE sales_deals SET amount = amount + 1 WHERE id % 5 = 0"))
        conn.execute(sa.text("UPDATE sales_deals SET owner_id = NULL WHERE id % 13 = 0"))
        conn.execute(sa.text("UPDATE sales_deals SET currency = 'USD' WHERE id % 17 = 0"))
        # Entries written before others of the same deal and stage, and one of them again.
        conn.execute(
            sa.text(
                "INSERT INTO sales_stage_changes (deal_id, pipeline_id, from_stage_id, "
                "to_stage_id, at, by_id, note) SELECT deal_id, pipeline_id, NULL, to_stage_id, "
                "'2025-11-01 00:00:00.000000', NULL, '' FROM sales_stage_changes "
                "WHERE deal_id % 19 = 0 AND from_stage_id IS NULL"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO sales_stage_changes (deal_id, pipeline_id, from_stage_id, "
                "to_stage_id, at, by_id, note) SELECT deal_id, pipeline_id, NULL, to_stage_id, "
                "'2025-11-01 00:00:00.000000', NULL, '' FROM sales_stage_changes "
                "WHERE deal_id % 38 = 0 AND from_stage_id IS NULL"
            )
        )
        conn.execute(
            sa.text(
                "UPDATE sales_stage_changes SET at = '2026-10-31 23:59:59.000000' "
                "WHERE deal_id % 23 = 0 AND from_stage_id IS NULL"
            )
        )
        conn.execute(sa.text("DELETE FROM sales_stage_changes WHERE deal_id % 11 = 0"))
        conn.execute(sa.text("DELETE FROM sales_deal_lines WHERE deal_id % 11 = 0"))
        conn.execute(sa.text("DELETE FROM sales_deals WHERE id % 11 = 0"))
        _check_totals(conn)
    engine.dispose()


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


def test_the_csv_export_reads_clients_in_table_order_and_phones_and_emails_from_indexes(
    generated,
):
    """The export's one statement: the clients in table order, sorted once (not the name
    index walked, a random read a row), the owner joined, and each client's own phones and
    e-mails read from the covering indexes in id order, without the phone and e-mail
    tables."""
    from core.clients import export, queries
    from core.db import db
    from core.users.models import User

    database, folder = generated
    app = _app(database, folder)
    with app.app_context():
        user = db.session.execute(
            sa.select(User).filter_by(email="manager1@bench.example")
        ).scalar_one()
        query = export._with_owner(
            export._ordered(queries.ClientQuery(), user).with_only_columns(
                sa.literal_column(export._line_sql("sqlite")), maintain_column_froms=True
            )
        )
        sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
        plan = "\n".join(r[-1] for r in db.session.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}")))
    lines = plan.splitlines()
    assert lines[0] == "SCAN clients" and lines[-1] == "USE TEMP B-TREE FOR ORDER BY", plan
    assert lines[1].startswith("SEARCH export_owner USING INTEGER PRIMARY KEY"), plan
    for table in ("client_phones", "client_emails"):
        assert f"SEARCH {table} USING COVERING INDEX ix_{table}_by_client" in plan, plan
    # sorted: the rows at the end, and each client's tags by name; nothing else
    assert plan.count("USE TEMP B-TREE FOR ORDER BY") == 2, plan


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


@sqlite_only
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


def test_the_generated_schema_is_what_the_migrations_create(generated, sqlite_template, tmp_path):
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

    # What `crm init` makes, with the sales plugin then enabled by an admin.
    path = tmp_path / "migrated.sqlite3"
    shutil.copyfile(sqlite_template, path)
    app = _app(f"sqlite:///{path}", tmp_path)
    from core.db import db
    from core.plugin_system import services as plugin_services

    with app.app_context():
        plugin_services.enable("sales", app)
        db.session.remove()
        db.engine.dispose()

    generated_schema, migrated = schema(database), schema(f"sqlite:///{path}")
    assert generated_schema[0] ^ migrated[0] == set()
    assert generated_schema[1:] == migrated[1:] == ({("version", 4)}, "wal")
    names = {(kind, name) for kind, name, _, _ in generated_schema[0]}
    assert ("table", "sales_deals") in names and ("table", "sales_stage_totals") in names
    assert {n for k, n in names if k == "trigger"} == {
        "sales_deals_totals_insert",
        "sales_deals_totals_delete",
        "sales_deals_totals_update",
        "sales_deals_entries_update",
        "sales_deals_entries_delete",
        "sales_stage_changes_entries_insert",
        "sales_stage_changes_previous_insert",
        "sales_stage_changes_entries_delete",
        "sales_stage_changes_entries_update",
    }
    assert {n for k, n in names if k == "index" and n.startswith("ix_sales_deals")} >= {
        "ix_sales_deals_board",
        "ix_sales_deals_stage_sums",
        "ix_sales_deals_closed_report",
        "ix_sales_deals_won",
    }


def _postgres_schema(conn) -> tuple[set, set, set]:
    """Columns, indexes and triggers (with their enabled state) of the current schema."""
    columns = set(
        conn.execute(
            sa.text(
                "SELECT table_name, column_name, data_type, is_nullable, column_default "
                "FROM information_schema.columns WHERE table_schema = current_schema()"
            )
        ).all()
    )
    indexes = set(
        conn.execute(
            sa.text(
                "SELECT tablename, indexname, indexdef FROM pg_indexes "
                "WHERE schemaname = current_schema()"
            )
        ).all()
    )
    triggers = set(
        conn.execute(
            sa.text(
                "SELECT t.tgname, pg_get_triggerdef(t.oid), t.tgenabled FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE NOT t.tgisinternal "
                "AND n.nspname = current_schema()"
            )
        ).all()
    )
    return columns, indexes, triggers


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL only (CRM_TEST_DATABASE_URL)")
def test_the_generator_loads_postgresql_with_copy(tmp_path):
    """On PostgreSQL the generator writes with COPY, the sales triggers off during the
    load: the deals are as on SQLite, the totals and stage entries a recount, the schema
    (indexes, the enabled triggers) what the migrations and enabling the plugin create,
    and the sequences continue after the generated ids."""
    from core.db import db
    from core.plugin_system import services as plugin_services
    from tests.conftest import _database_url, _initialise, make_app

    url = _database_url(tmp_path)  # an empty schema
    out = _generate(url, tmp_path / "instance", "--clients", "2000")
    assert "deals 2,000" in out and "rows/s" in out
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        _check_deals(conn, 2000)
        generated_schema = _postgres_schema(conn)
        for table in (
            "sales_deals",
            "sales_stage_changes",
            "sales_deal_lines",
            "clients",
            "audit_log",
        ):
            top = conn.execute(sa.text(f"SELECT max(id) FROM {table}")).scalar()
            following = conn.execute(
                sa.text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))")
            ).scalar()
            assert following == top + 1, table
        conn.execute(sa.text("UPDATE sales_deals SET stage_id = 2 WHERE id % 7 = 0"))
        conn.execute(sa.text("UPDATE sales_deals SET amount = amount + 1 WHERE id % 5 = 0"))
        conn.execute(sa.text("UPDATE sales_deals SET owner_id = NULL WHERE id % 13 = 0"))
        conn.execute(sa.text("DELETE FROM sales_stage_changes WHERE deal_id % 11 = 0"))
        conn.execute(sa.text("DELETE FROM sales_deal_lines WHERE deal_id % 11 = 0"))
        conn.execute(sa.text("DELETE FROM sales_deals WHERE id % 11 = 0"))
        _check_totals(conn)
    engine.dispose()

    app = make_app(tmp_path / "migrated", _database_url(tmp_path))
    _initialise(app)
    with app.app_context():
        plugin_services.enable("sales", app)
        db.session.remove()
        db.engine.dispose()
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        migrated = _postgres_schema(conn)
    engine.dispose()
    assert generated_schema[0] ^ migrated[0] == set()  # columns
    assert generated_schema[2] ^ migrated[2] == set()  # triggers, enabled
    # Indexes: the same everywhere. A partial index rebuilt from its pg_indexes definition
    # prints its (same) condition differently (the tasks' active indexes), so those are
    # compared by name.
    assert {i[:2] for i in generated_schema[1]} == {i[:2] for i in migrated[1]}
    full = [
        {i for i in found if " WHERE " not in i[2]} for found in (generated_schema[1], migrated[1])
    ]
    assert full[0] == full[1]
    assert any(name == "sales_deals_stage_totals" for name, _, _ in migrated[2])


def test_the_timeline_history_looks_up_a_clients_entries(generated):
    """A client's history on its card and timeline is looked up by (entity, entity_id) and
    the clients merged into it by their index: no walk of the audit log by time and no
    scan of the clients table (it cost 0.2 s per card at a million clients)."""
    from core.db import db
    from core.interactions import timeline
    from core.reads import read_together

    database, folder = generated
    app = _app(database, folder)
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "FROM audit_log" in statement and "EXPLAIN" not in statement:
            seen.append((statement, parameters))

    with app.app_context():
        from core.clients.models import Client

        client = db.session.get(Client, 1)
        [source] = timeline.history_items(client, None, None, None, 20)
        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            read_together(source.reads)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
        assert len(seen) == 1
        statement, parameters = seen[0]
        plan = " ".join(
            row[-1]
            for row in db.session.connection().exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", parameters
            )
        )
    assert "ix_audit_log_entity (entity=? AND entity_id=?)" in plan, plan
    assert "ix_clients_merged_into" in plan and "SCAN clients" not in plan, plan
    assert "ix_audit_log_at" not in plan, plan


@pytest.mark.parametrize(
    ("email", "index"),
    [
        ("manager1@bench.example", "ix_sales_deals_board"),  # scope "all"
        ("manager2@bench.example", "ix_sales_deals_owner_board"),  # scope "own"
    ],
)
def test_the_board_reads_each_columns_newest_cards_from_an_index(generated, email, index):
    """Every column's newest cards come from an index in id order, for a manager who sees
    every deal and for one who sees only their own: no column is sorted in a temporary
    B-tree (the "own" board read and sorted all of the owner's deals of each stage, 2.7 ms
    a board at a million deals)."""
    from core.db import db
    from core.users.models import User
    from plugins.sales.deals import pipelines, queries
    from plugins.sales.deals.services import utcnow

    database, folder = generated
    app = _app(database, folder)
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "FROM sales_deals" in statement and "LIMIT" in statement:
            seen.append((statement, parameters))

    with app.app_context():
        user = db.session.execute(sa.select(User).filter_by(email=email)).scalar_one()
        pipeline = pipelines.pipelines(active_only=True)[0]
        flt = queries.DealFilter.from_args({})
        flt.pipeline_id = pipeline.id
        stages = pipelines.live_stages(pipeline.id)
        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            columns = queries.board(stages, flt, user, 20, utcnow())
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
        assert sum(len(c.cards) for c in columns) > 20
        assert len(seen) == 1
        statement, parameters = seen[0]
        plan = [
            row[-1]
            for row in db.session.connection().exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", parameters
            )
        ]
    searches = [line for line in plan if line.startswith("SEARCH sales_deals")]
    assert len(searches) == sum(1 for c in columns if c.count), plan
    assert all(f"USING INDEX {index} " in line for line in searches), plan
    assert not any("TEMP B-TREE" in line for line in plan), plan
