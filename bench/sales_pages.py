"""Time the sales pages over HTTP on a generated database: the board, a deal card, the API.

    python bench/sales_reports.py --deals 1000000 --pages --database /tmp/sales-pages.sqlite3
    python bench/sales_pages.py --database /tmp/sales-pages.sqlite3 --name sales-pages

Starts `crm run` (gunicorn, 2 workers) on the database like bench/run.py, signs in (browser
session and API token) as the head of sales (scope "all", head@example.com) and as a seller
with scope "own" (seller3@example.com), warms up, then sends sequential requests to each
endpoint and reports p50/p95/p99: the board of the default pipeline (unfiltered, and
filtered by an owner and by a source), the card of a deal with lines and stage history,
and the first page of the deals API. Target (issue 6): board and deal card p95 under
25 ms. Results go to bench/results/<name>.json with the machine, the commit and the load
average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import Client, _commit, _cpu_model, measure, rss_mb, served  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-1"


def endpoints(port: int) -> dict[str, tuple[Client, str]]:
    out: dict[str, tuple[Client, str]] = {}
    for scope, email in (("all", "head@example.com"), ("own", "seller3@example.com")):
        browser = Client(port)
        browser.sign_in(email, PASSWORD)
        api = Client(port)
        api.headers["Authorization"] = f"Bearer {Client(port).token(email, PASSWORD)}"
        status, body = api.request("GET", "/api/v1/sales/pipelines")
        if status != 200:
            raise SystemExit(f"pipelines answered {status}")
        found = json.loads(body)
        pipelines = found["items"] if isinstance(found, dict) else found
        pipeline = min(p["id"] for p in pipelines)
        status, body = api.request("GET", f"/api/v1/sales/deals?limit=50&pipeline_id={pipeline}")
        deals = json.loads(body)["items"]
        if status != 200 or not deals:
            raise SystemExit(f"no deals to open as {email}: {status}")
        deal = deals[len(deals) // 2]["id"]
        owner = deals[0].get("owner_id")
        out[f"board, scope {scope}"] = (browser, f"/sales/deals/board?pipeline_id={pipeline}")
        if scope == "all" and owner:
            out["board filtered by owner, scope all"] = (
                browser,
                f"/sales/deals/board?pipeline_id={pipeline}&owner_id={owner}",
            )
            out["board filtered by source, scope all"] = (
                browser,
                f"/sales/deals/board?pipeline_id={pipeline}&source=website",
            )
        out[f"deal card, scope {scope}"] = (browser, f"/sales/deals/{deal}")
        out[f"deals API list, scope {scope}"] = (api, "/api/v1/sales/deals?limit=50")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="/tmp/sales-pages.sqlite3", help="SQLite file")
    parser.add_argument("--instance", default="bench/data/instance")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--name", default="sales-pages")
    parser.add_argument("--note", default="", help="recorded in the results (e.g. the code run)")
    args = parser.parse_args()
    if args.requests < 50:
        parser.error("--requests must be at least 50 for a p99")
    database = f"sqlite:///{Path(args.database).resolve()}"
    env = dict(
        os.environ, DATABASE_URL=database, CRM_INSTANCE_PATH=str(Path(args.instance).resolve())
    )
    load_before = [round(x, 2) for x in os.getloadavg()]
    results: dict = {"endpoints": {}}
    with served(env) as (port, pid):
        for name, (client, path) in endpoints(port).items():
            row = measure(client, path, args.requests, args.warmup)
            row["path"] = path
            results["endpoints"][name] = row
            print(
                f"{name:36} p50 {row['p50']:6.1f}  p95 {row['p95']:6.1f}  p99 {row['p99']:6.1f}",
                flush=True,
            )
        results["rss_mb_per_worker"] = rss_mb(pid)
    import platform
    import sqlite3

    results["machine"] = {
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "database": "sqlite",
    }
    results["requests"] = args.requests
    results["commit"] = _commit()
    results["note"] = args.note
    results["load_average_before"] = load_before
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(results, indent=2))
    print("| endpoint | p50 ms | p95 ms | p99 ms |\n| --- | --- | --- | --- |")
    for name, row in results["endpoints"].items():
        print(f"| {name} | {row['p50']:.1f} | {row['p95']:.1f} | {row['p99']:.1f} |")
    print(f"load average before {load_before}, after {results['load_average_after']}")


if __name__ == "__main__":
    main()
