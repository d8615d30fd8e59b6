"""Measure the CRM over HTTP on a generated database: latency per endpoint, and throughput.

    python bench/generate.py --clients 1000000
    python bench/run.py --database sqlite:///bench/data/crm.sqlite3

Starts `crm run` (gunicorn, 2 workers) on the database, signs in as a manager with scope
"all" (API token and browser session) and one with scope "own", warms up, then for each
endpoint sends sequential requests and reports p50/p95/p99 (one client; sync workers close
the connection after each answer, so every request includes its TCP connection); with wrk
(Debian's package) on PATH it also measures requests per second with 8 connections. The
pages are the client list, the card of a company with contact persons, interactions and
tasks (every enabled plugin's panels included, the timeline last) and My tasks of the
manager with scope "all" (who has the most tasks); the API calls include the tasks list and
that company's timeline. Results go to bench/results/<name>.json with the machine, the
commit and the load average around the run, and are printed as a Markdown table for
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from suite import results_dir, run_rates, summarise  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers: dict[str, str] = {}
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: dict | None = None, form: dict | None = None
    ) -> tuple[int, bytes]:
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, response.read()

    def sign_in(self, email: str, password: str) -> None:
        """A browser session: the login form with its CSRF token."""
        _, page = self.request("GET", "/login")
        token = re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()
        status, _ = self.request(
            "POST", "/login", form={"email": email, "password": password, "csrf_token": token}
        )
        if status != 302:
            raise SystemExit(f"signing in as {email} failed: {status}")

    def token(self, email: str, password: str) -> str:
        status, body = self.request(
            "POST", "/api/v1/auth/token", {"email": email, "password": password}
        )
        if status != 201:
            raise SystemExit(f"sign-in as {email} failed: {status} {body[:200]!r}")
        return json.loads(body)["token"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def measure(client: Client, path: str, count: int, warmup: int = 20) -> dict[str, float]:
    for _ in range(warmup):
        client.request("GET", path)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        status, _ = client.request("GET", path)
        times.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}")
    return {
        "p50": percentile(times, 0.5),
        "p95": percentile(times, 0.95),
        "p99": percentile(times, 0.99),
    }


def throughput(port: int, path: str, header: str, seconds: int) -> float | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    result = subprocess.run(
        [wrk, "-t2", "-c8", f"-d{seconds}s", "-H", header, f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    )
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    return float(match.group(1)) if match else None


def rss_mb(pid: int) -> list[float]:
    """RSS of the gunicorn workers (children of the master) in MiB."""
    out = []
    for child in Path("/proc").iterdir():
        if not child.name.isdigit():
            continue
        try:
            status = (child / "status").read_text()
        except OSError:
            continue
        if re.search(rf"^PPid:\s+{pid}$", status, re.M):
            kb = int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1))
            out.append(round(kb / 1024, 1))
    return out


@contextlib.contextmanager
def served(env: dict[str, str]) -> Iterator[tuple[int, int]]:
    """`crm run` (gunicorn, 2 workers) with ``env``, once /health answers: (port, pid)."""
    crm = str(Path(sys.executable).with_name("crm"))
    port = free_port()
    server = subprocess.Popen(
        [crm, "run", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                Client(port).request("GET", "/health")
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        yield port, server.pid
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="sqlite:///bench/data/crm.sqlite3")
    parser.add_argument("--instance", default="bench/data/instance")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per endpoint")
    parser.add_argument("--name", default="sqlite")
    parser.add_argument("--note", default="", help="recorded in the results (e.g. the code run)")
    parser.add_argument(
        "--copy-from",
        help="a generated SQLite file to copy to --database first (the run writes to it)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="also the export, duplicate scan, documents and import rates, and the table of "
        "targets (bench/suite.py)",
    )
    parser.add_argument(
        "--only",
        help="measure only the endpoints whose name contains this text (e.g. 'report:'); "
        "no table of targets",
    )
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=300, help="per process, two processes")
    parser.add_argument("--mails", type=int, default=500, help="per process")
    args = parser.parse_args()
    if args.requests < 50:
        parser.error("--requests must be at least 50 for a p99")
    database = args.database
    if database.startswith("sqlite:///") and not database.startswith("sqlite:////"):
        database = f"sqlite:///{Path(database[len('sqlite:///') :]).resolve()}"
    if args.copy_from and database.startswith("postgresql"):
        copy_postgres_database(args.copy_from, database, parser)
    elif args.copy_from:
        if not database.startswith("sqlite:///"):
            parser.error("--copy-from needs a SQLite or PostgreSQL --database")
        source, target = Path(args.copy_from).resolve(), Path(database[len("sqlite:///") :])
        if source == target:
            parser.error("--copy-from and --database are the same file")
        if not source.is_file():
            parser.error(f"--copy-from: no file {source}")
        started = time.perf_counter()
        shutil.copyfile(source, target)
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        print(f"copied {source} in {time.perf_counter() - started:.1f} s", flush=True)
    env = dict(
        os.environ, DATABASE_URL=database, CRM_INSTANCE_PATH=str(Path(args.instance).resolve())
    )
    if args.copy_from:
        # A file generated by an older version gets the newest schema (as `crm db upgrade`
        # would give a real installation) before it is measured.
        crm = str(Path(sys.executable).with_name("crm"))
        subprocess.run([crm, "db", "upgrade"], env=env, check=True, capture_output=True)
    load_before = [round(x, 2) for x in os.getloadavg()]
    with served(env) as (port, pid):
        results = run(port, args)
        results["rss_mb_per_worker"] = rss_mb(pid)
    results["machine"] = {
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "database": args.name,
    }
    results["commit"] = _commit()
    results["note"] = args.note
    results["load_average_before"] = load_before
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    (results_dir() / f"{args.name}.json").write_text(json.dumps(results, indent=2))
    print("| endpoint | p50 ms | p95 ms | p99 ms | requests/s |\n| --- | --- | --- | --- | --- |")
    for name, row in results["endpoints"].items():
        rps = f"{row['rps']:.0f}" if row.get("rps") else "—"
        print(f"| {name} | {row['p50']:.1f} | {row['p95']:.1f} | {row['p99']:.1f} | {rps} |")
    print(f"RSS per worker after the run: {results['rss_mb_per_worker']} MiB")
    if args.only:
        return
    rates = None
    if args.all:
        sizes = {"import_rows": args.import_rows, "invoices": args.invoices, "mails": args.mails}
        rates = run_rates(database, env["CRM_INSTANCE_PATH"], args.name, sizes)
    summarise(args.name, results, rates)


def copy_postgres_database(source: str, target: str, parser: argparse.ArgumentParser) -> None:
    """Make the PostgreSQL database of ``target`` a fresh copy of ``source``'s (CREATE
    DATABASE ... TEMPLATE; nobody may be connected to the source)."""
    import sqlalchemy as sa

    source_url, target_url = sa.make_url(source), sa.make_url(target)
    if not source.startswith("postgresql"):
        parser.error("--copy-from must be a PostgreSQL URL when --database is one")
    if source_url.database == target_url.database:
        parser.error("--copy-from and --database are the same database")
    admin = target_url.set(drivername="postgresql+psycopg", database="postgres")
    started = time.perf_counter()
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        quote = engine.dialect.identifier_preparer.quote
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quote(target_url.database)}"))
        conn.execute(
            sa.text(
                f"CREATE DATABASE {quote(target_url.database)} "
                f"TEMPLATE {quote(source_url.database)}"
            )
        )
    engine.dispose()
    print(f"copied database {source_url.database} in {time.perf_counter() - started:.1f} s")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
    except OSError:
        return None


# bench/generate.py creates the deals over the year up to its fixed "now" (2026-11-01).
SALES_YEAR = "period=custom&period_from=2025-11-01&period_to=2026-11-01"


def sales_endpoints(port: int, manager: Client, browser: Client) -> dict:
    """The sales plugin's pages when its API answers (bench/generate.py enables it with
    deals unless --deals-per-client 0): the board of the default pipeline (scope all and
    own), the card of a deal with lines and a stage history, the deals API list, and the
    funnel and ABC of clients reports over the generated year. Empty without the plugin."""
    status, body = manager.request("GET", "/api/v1/sales/pipelines")
    if status != 200:
        return {}
    found = json.loads(body)
    pipelines = found["items"] if isinstance(found, dict) else found
    pipeline = min(p["id"] for p in pipelines)  # the default one, "Sales"
    status, body = manager.request("GET", f"/api/v1/sales/deals?limit=50&pipeline_id={pipeline}")
    deals = json.loads(body)["items"] if status == 200 else []
    if not deals:
        return {}
    deal = deals[0]["id"]
    for item in deals:  # several stage changes (version counts the moves) and 2+ lines
        detail = json.loads(manager.request("GET", f"/api/v1/sales/deals/{item['id']}")[1])
        if detail.get("version", 0) >= 3 and len(detail.get("lines") or []) >= 2:
            deal = item["id"]
            break
    own_browser = Client(port)
    own_browser.sign_in("manager2@bench.example", "bench-password-1")
    reports = "/api/v1/reports/sales"
    return {
        "sales board (HTML)": (browser, f"/sales/deals/board?pipeline_id={pipeline}"),
        "sales board, scope own (HTML)": (
            own_browser,
            f"/sales/deals/board?pipeline_id={pipeline}",
        ),
        "deal card (HTML)": (browser, f"/sales/deals/{deal}"),
        "deals API list": (manager, "/api/v1/sales/deals?limit=50"),
        "report: funnel, a year": (manager, f"{reports}.funnel?{SALES_YEAR}"),
        "report: ABC of clients, a year": (manager, f"{reports}.abc_clients?{SALES_YEAR}"),
    }


def run(port: int, args) -> dict:
    anon = Client(port)
    all_token = anon.token("manager1@bench.example", "bench-password-1")
    own_token = anon.token("manager2@bench.example", "bench-password-1")
    manager = Client(port)
    manager.headers["Authorization"] = f"Bearer {all_token}"
    own = Client(port)
    own.headers["Authorization"] = f"Bearer {own_token}"
    status, body = manager.request("GET", "/api/v1/clients?limit=50")
    first = json.loads(body)
    cursor = first["next_cursor"]
    for _ in range(100):  # 5,000 rows deep (or the last page of a small database)
        following = json.loads(
            manager.request("GET", f"/api/v1/clients?limit=50&cursor={urllib.parse.quote(cursor)}")[
                1
            ]
        )["next_cursor"]
        if following is None:
            break
        cursor = following
    sample = next(c for c in first["items"] if c["phone"] and c["email"])

    def has(path: str) -> bool:
        status, body = manager.request("GET", path)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}")
        found = json.loads(body)
        return bool(found["items"] if isinstance(found, dict) else found)

    # The card and timeline of a company with contact persons, interactions and tasks: every
    # panel has rows to show.
    # The first page is searched first, then the oldest clients: a database with imported
    # clients (which have no interactions yet) may sort them first.
    oldest = json.loads(manager.request("GET", "/api/v1/clients?limit=50&sort=created")[1])
    candidates = [*first["items"], *oldest["items"]]
    company = next(
        c
        for c in candidates
        if c["kind"] == "company"
        and has(f"/api/v1/clients/{c['id']}/contacts")
        and has(f"/api/v1/clients/{c['id']}/interactions?limit=1")
        and has(f"/api/v1/tasks?record_kind=client&record_id={c['id']}&limit=1")
    )
    browser = Client(port)
    browser.sign_in("manager1@bench.example", "bench-password-1")
    phone = sample["phone"]
    typed_phone = f"({phone[4:6]}) {phone[6:9]}-{phone[9:]}"
    endpoints = {
        "client list, first page": (manager, "/api/v1/clients?limit=50"),
        "client list, deep cursor page": (
            manager,
            f"/api/v1/clients?limit=50&cursor={urllib.parse.quote(cursor)}",
        ),
        "client list, filtered and sorted": (
            manager,
            "/api/v1/clients?limit=50&status=customer&sort=-created",
        ),
        "client list, scope own": (own, "/api/v1/clients?limit=50"),
        "search: name prefix": (
            manager,
            "/api/v1/clients?limit=50&q=%D1%80%D0%BE%D0%BC%D0%B0%D1%88",
        ),
        "search: word": (manager, "/api/v1/clients?limit=50&q=terra"),
        "search: phone typed differently": (
            manager,
            "/api/v1/clients?limit=50&q=" + urllib.parse.quote(typed_phone),
        ),
        "search: e-mail": (
            manager,
            "/api/v1/clients?limit=50&q=" + urllib.parse.quote(sample["email"]),
        ),
        "API client detail": (manager, f"/api/v1/clients/{sample['id']}"),
        "client list page (HTML)": (browser, "/clients/"),
        "client card with all panels (HTML)": (browser, f"/clients/{company['id']}"),
        "client timeline API": (manager, f"/api/v1/clients/{company['id']}/timeline"),
        "tasks API list": (manager, "/api/v1/tasks?limit=50"),
        "my tasks page (HTML)": (browser, "/tasks/"),
    }
    endpoints.update(sales_endpoints(port, manager, browser))
    if args.only:
        endpoints = {name: target for name, target in endpoints.items() if args.only in name}
        if not endpoints:
            raise SystemExit(f"--only {args.only!r}: no such endpoint")
    cookie = "Cookie: " + "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    with_throughput = {
        "client list, first page": f"Authorization: Bearer {all_token}",
        "API client detail": f"Authorization: Bearer {all_token}",
        "client list page (HTML)": cookie,
    }
    results: dict = {"endpoints": {}, "card_client_id": company["id"]}
    if "deal card (HTML)" in endpoints:
        results["deal_card_path"] = endpoints["deal card (HTML)"][1]
    for name, (client, path) in endpoints.items():
        # The reports take a second or more each at a million deals: 50 requests (a p99).
        report = name.startswith("report:")
        row = measure(client, path, 50 if report else args.requests, 5 if report else 20)
        if name in with_throughput:
            row["rps"] = throughput(port, path, with_throughput[name], args.seconds)
        results["endpoints"][name] = row
        print(
            f"{name:36} p50 {row['p50']:6.1f}  p95 {row['p95']:6.1f}  p99 {row['p99']:6.1f}",
            flush=True,
        )
    return results


if __name__ == "__main__":
    main()
