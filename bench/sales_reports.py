"""Time the sales reports over a year of generated deals on a fresh SQLite database.

    python bench/sales_reports.py --deals 1000000

Creates a new database with the migrations (core, then the sales plugin enabled as an
admin would), writes 50 users in 5 teams, clients, two pipelines, products and N deals
created over one year with their stage histories (each deal enters the first stage, then
moves on, is won or lost) and lines, through the DBAPI's executemany in batches with the
secondary indexes dropped during the load and rebuilt after it, then ANALYZE. Then it asks
the reports API (through Flask's test client, so parsing, scope, SQL and JSON are all in
the figure) for the funnel, ABC and the other sales reports over that year, as an admin
(scope "all") and as a manager with scope "own", and prints the best and median of the
repeats. The target (issue 6): funnel or ABC report over a year of 1,000,000 deals under
500 ms. The same --seed gives the same data.

    python bench/sales_reports.py --deals 1000000 --pages --database /tmp/sales-pages.sqlite3

``--pages`` generates the database for bench/sales_pages.py (the board, the deal card and
the deals API) and keeps it without timing the reports: the deals go to the default
pipeline ("Sales", the one the plugin creates) and a second one, are created over the
365 days up to today (so the board's recent won/lost columns hold what a live CRM shows),
and close like a real funnel (about 15 % still open, 25 % won, 60 % lost instead of half
open); a manager with scope "all" (head@example.com) is added next to the sellers.

bench/generate.py now writes deals of the same kind (pipelines, products in groups, stage
paths, lines, the totals) into the main generated database, for its own clients and
managers, and bench/run.py measures the board, a deal card, the deals API and the funnel
and ABC reports there; this script stays for timing every report over a separate year.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BATCH = 50_000
YEAR_START = datetime(2025, 1, 1)
USERS, TEAMS = 50, 5
SOURCES = ("website", "phone", "referral", "ads", "exhibition", None)
REASONS = ("Too expensive", "Chose a competitor", "No budget", "No answer")
OPEN_PROBABILITIES = (10, 25, 50, 70, 90)


def stamp(moment: datetime) -> str:
    """A DATETIME as SQLAlchemy stores it on SQLite."""
    return moment.isoformat(" ", "microseconds")


def timed(label: str, rows: int, started: float) -> None:
    seconds = time.perf_counter() - started
    print(f"  {label}: {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)", flush=True)


def setup(path: Path, instance: Path):
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ.setdefault("CRM_INSTANCE_PATH", str(instance))
    from core import create_app
    from core.cli import ensure_admin_role, upgrade_core
    from core.db import db
    from core.plugin_system import services as plugin_services
    from core.users import services as user_services
    from core.users.models import Role

    app = create_app({"CRM_PASSWORD_HASH_COST": "low"})
    with app.app_context():
        upgrade_core(app)
        plugin_services.sync_discovered(app)
        ensure_admin_role()
        admin_role = db.session.execute(sa.select(Role).filter_by(is_admin=True)).scalar_one()
        user_services.create_user("admin@example.com", "Admin", "bench-password-1", [admin_role])
        plugin_services.enable("sales", app)
    return app


def _users(app) -> list[int]:
    from core.db import db
    from core.users import services as user_services
    from core.users.models import Role, Team

    with app.app_context():
        own = Role(
            name="Seller (own)",
            # The board and card draw their move forms for those who may edit.
            permissions=["reports.view", "sales.reports", "sales.view", "sales.deals.edit"],
            scopes={"sales.deals": "own", "clients": "own"},
        )
        db.session.add(own)
        teams = [Team(name=f"Team {i + 1}") for i in range(TEAMS)]
        db.session.add_all(teams)
        db.session.commit()
        ids = []
        for i in range(USERS):
            user = user_services.create_user(
                f"seller{i + 1}@example.com",
                f"Seller {i + 1:02d}",
                "bench-password-1",
                [own],
                team=teams[i % TEAMS],
            )
            ids.append(user.id)
        return ids


def _index_sql(conn, tables: tuple[str, ...]) -> list[str]:
    """Drop the secondary indexes of ``tables``; return the statements that rebuild them."""
    marks = ",".join("?" for _ in tables)
    rows = conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({marks})",
        tables,
    ).fetchall()
    for name, _ in rows:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in rows]


# Per step of a deal: (stays open, lost); the rest moves on to the next stage.
REPORT_STEPS = (0.25, 0.20)
PAGE_STEPS = (0.05, 0.19)


def _head(app) -> None:
    """A sales manager with scope "all" over deals and clients (not an admin)."""
    from core.db import db
    from core.users import services as user_services
    from core.users.models import Role

    with app.app_context():
        role = Role(
            name="Head of sales (all)",
            permissions=[
                "reports.view",
                "sales.reports",
                "sales.view",
                "sales.deals.edit",
                "tasks.view",
            ],
            scopes={"sales.deals": "all", "clients": "all", "tasks": "all"},
        )
        db.session.add(role)
        db.session.commit()
        user_services.create_user("head@example.com", "Head of sales", "bench-password-1", [role])


def fill(app, deals: int, clients: int, seed: int, pages: bool = False) -> None:
    from core.clients.models import Client
    from core.db import db
    from plugins.sales.models import LostReason, Pipeline, Product, ProductGroup, Stage

    dice = random.Random(seed)
    users = _users(app)
    year_start = YEAR_START
    now = stamp(datetime(2026, 1, 1))
    stay, lose = REPORT_STEPS
    if pages:
        _head(app)
        today = datetime.now().replace(microsecond=0)
        year_start, now = today - timedelta(days=365), stamp(today)
        stay, lose = PAGE_STEPS
    with app.app_context():
        started = time.perf_counter()
        with db.engine.begin() as conn:
            rows = [
                {
                    "name": f"Client {i}",
                    "name_key": f"client {i}",
                    "owner_id": users[i % USERS],
                    "created_at": year_start - timedelta(days=400),
                }
                for i in range(clients)
            ]
            for start in range(0, clients, BATCH):
                conn.execute(sa.insert(Client.__table__), rows[start : start + BATCH])
        timed("clients", clients, started)
        pipelines: list[tuple[int, list[int], int, int]] = []
        default = db.session.execute(sa.select(Pipeline).order_by(Pipeline.id)).scalars().first()
        if pages and default is not None:
            stages = sorted(default.stages, key=lambda s: s.position)
            kinds = {s.kind: s.id for s in stages if s.kind != "open"}
            open_ids = [s.id for s in stages if s.kind == "open"]
            pipelines.append((default.id, open_ids, kinds["won"], kinds["lost"]))
        for p in range(2 - len(pipelines)):
            pipeline = Pipeline(name=f"Pipeline {p + 1}", position=p)
            db.session.add(pipeline)
            db.session.flush()
            open_ids = []
            for position, probability in enumerate(OPEN_PROBABILITIES):
                stage = Stage(
                    pipeline_id=pipeline.id,
                    name=f"Stage {position + 1}",
                    position=position,
                    probability=probability,
                )
                db.session.add(stage)
                db.session.flush()
                open_ids.append(stage.id)
            won = Stage(pipeline_id=pipeline.id, name="Won", position=10, kind="won")
            lost = Stage(pipeline_id=pipeline.id, name="Lost", position=11, kind="lost")
            db.session.add_all([won, lost])
            db.session.flush()
            pipelines.append((pipeline.id, open_ids, won.id, lost.id))
        reasons = []
        for name in REASONS:  # enabling the plugin created the default ones
            reason = db.session.execute(sa.select(LostReason).filter_by(name=name)).scalar()
            if reason is None:
                reason = LostReason(name=name)
                db.session.add(reason)
                db.session.flush()
            reasons.append(reason.id)
        products = []
        for g in range(20):
            group = ProductGroup(name=f"Group {g + 1}")
            db.session.add(group)
            db.session.flush()
            for i in range(25):
                product = Product(
                    name=f"Product {g + 1}-{i + 1}", group_id=group.id, currency="EUR"
                )
                db.session.add(product)
                db.session.flush()
                products.append(product.id)
        db.session.commit()

        raw = db.engine.raw_connection()
        conn = raw.driver_connection
        conn.execute("PRAGMA synchronous=OFF")
        tables = ("sales_deals", "sales_stage_changes", "sales_deal_lines")
        rebuild = _index_sql(conn, tables)
        deal_sql = (
            "INSERT INTO sales_deals (id, title, client_id, pipeline_id, stage_id, owner_id, "
            "amount, currency, expected_close_on, source, utm, lost_reason_id, lost_note, "
            "closed_at, stage_entered_at, notes, created_at, updated_at, version) "
            "VALUES (?,?,?,?,?,?,?,'EUR',?,?,'{}',?,'',?,?,'',?,?,1)"
        )
        change_sql = (
            "INSERT INTO sales_stage_changes (deal_id, pipeline_id, from_stage_id, "
            "to_stage_id, at) VALUES (?,?,?,?,?)"
        )
        line_sql = (
            "INSERT INTO sales_deal_lines (deal_id, product_id, position, name, unit, quantity, "
            "price, discount_percent, vat_rate, net_amount, vat_amount, total_amount) "
            "VALUES (?,?,?,?,'pcs',1,?,0,0,?,0,?)"
        )
        started = time.perf_counter()
        changes_written = lines_written = 0
        year_seconds = 365 * 86400
        for first in range(1, deals + 1, BATCH):
            deal_rows, change_rows, line_rows = [], [], []
            for deal_id in range(first, min(first + BATCH, deals + 1)):
                pipeline_id, open_ids, won_id, lost_id = pipelines[deal_id % 2]
                created = year_start + timedelta(seconds=dice.randrange(year_seconds))
                moment, previous, stage = created, None, open_ids[0]
                path = [(stage, moment)]
                while True:
                    roll = dice.random()
                    moment += timedelta(hours=dice.randrange(4, 24 * 14))
                    index = open_ids.index(stage) if stage in open_ids else None
                    if roll < stay or (pages and moment > datetime.now()):
                        break  # stays open
                    if roll < stay + lose:
                        stage = lost_id
                    elif index == len(open_ids) - 1:
                        stage = won_id
                    else:
                        stage = open_ids[index + 1]
                    path.append((stage, moment))
                    if stage in (won_id, lost_id):
                        break
                closed = path[-1][1] if stage in (won_id, lost_id) else None
                lines = []
                for position in range(dice.randrange(1, 4)):
                    total = dice.randrange(100, 5000)
                    lines.append((deal_id, dice.choice(products), position, "Item", total))
                amount = sum(line[4] for line in lines)
                deal_rows.append(
                    (
                        deal_id,
                        f"Deal {deal_id}",
                        dice.randrange(1, clients + 1),
                        pipeline_id,
                        stage,
                        users[dice.randrange(USERS)],
                        amount,
                        (created + timedelta(days=dice.randrange(10, 120))).date().isoformat(),
                        dice.choice(SOURCES),
                        dice.choice(reasons) if stage == lost_id else None,
                        stamp(closed) if closed else None,
                        stamp(path[-1][1]),
                        stamp(created),
                        now,
                    )
                )
                for to_stage, at in path:
                    change_rows.append((deal_id, pipeline_id, previous, to_stage, stamp(at)))
                    previous = to_stage
                line_rows.extend((*line[:4], line[4], line[4], line[4]) for line in lines)
            conn.executemany(deal_sql, deal_rows)
            conn.executemany(change_sql, change_rows)
            conn.executemany(line_sql, line_rows)
            conn.commit()
            changes_written += len(change_rows)
            lines_written += len(line_rows)
        timed("deals", deals, started)
        print(f"  with {changes_written:,} stage changes and {lines_written:,} lines", flush=True)
        started = time.perf_counter()
        for sql in rebuild:
            conn.execute(sql)
        conn.execute("ANALYZE")
        conn.commit()
        raw.close()
        print(f"  indexes rebuilt and analysed in {time.perf_counter() - started:.1f} s")


def measure(app, repeat: int) -> list[tuple[str, str, float, float]]:
    year = "period=custom&period_from=2025-01-01&period_to=2025-12-31"
    cases = [
        ("funnel, all pipelines", f"sales.funnel?{year}"),
        ("funnel, one pipeline", f"sales.funnel?{year}&pipeline=1"),
        ("funnel, one owner", f"sales.funnel?{year}&owner=3"),
        ("ABC clients (classes)", f"sales.abc_clients?{year}"),
        ("ABC clients (top 1000)", f"sales.abc_clients?{year}&view=items"),
        ("ABC products (classes)", f"sales.abc_products?{year}"),
        ("won/lost", f"sales.won_lost?{year}"),
        ("per manager", f"sales.managers?{year}"),
        ("lead sources", f"sales.sources?{year}"),
        ("forecast", "sales.forecast"),
        ("plan vs actual, sellers", f"sales.plan_actual?{year}&kind=seller"),
        ("plan vs actual, product groups", f"sales.plan_actual?{year}&kind=product_group"),
    ]
    client = app.test_client()
    results = []
    for who, email in (("all", "admin@example.com"), ("own", "seller3@example.com")):
        response = client.post(
            "/api/v1/auth/token", json={"email": email, "password": "bench-password-1"}
        )
        headers = {"Authorization": f"Bearer {response.get_json()['token']}"}
        for label, path in cases:
            if who == "own" and not label.startswith(("funnel, all", "ABC clients (classes)")):
                continue
            url = f"/api/v1/reports/{path}"
            assert client.get(url, headers=headers).status_code == 200, url  # warm-up
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = client.get(url, headers=headers)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.get_json()
            results.append((label, who, min(times), statistics.median(times)))
            print(
                f"  {label:32} scope {who:3}  best {min(times):7.1f} ms  "
                f"median {statistics.median(times):7.1f} ms",
                flush=True,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--database", default="bench/data/sales-reports.sqlite3")
    parser.add_argument("--instance", default="bench/data/instance")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--reuse", action="store_true", help="time an existing database, do not regenerate"
    )
    parser.add_argument(
        "--pages",
        action="store_true",
        help="generate a database for bench/sales_pages.py and keep it; no report timing",
    )
    args = parser.parse_args()
    if args.deals < 1 or args.clients < 1:
        parser.error("--deals and --clients must be at least 1")
    path = Path(args.database).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    instance = Path(args.instance).resolve()
    instance.mkdir(parents=True, exist_ok=True)
    if args.reuse:
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
        os.environ.setdefault("CRM_INSTANCE_PATH", str(instance))
        from core import create_app

        app = create_app({"CRM_PASSWORD_HASH_COST": "low"})
    else:
        for leftover in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)
        started = time.perf_counter()
        app = setup(path, instance)
        fill(app, args.deals, args.clients, args.seed, args.pages)
        print(f"generated in {time.perf_counter() - started:.1f} s", flush=True)
        if args.pages:
            print(f"kept {path} for bench/sales_pages.py", flush=True)
            return
    print(f"sales reports over 2025 ({args.deals:,} deals created in the year):", flush=True)
    measure(app, args.repeat)


if __name__ == "__main__":
    main()
