"""Time the duplicate scan over a generated database: clients per second and seconds per stage.

    python bench/generate.py --database sqlite:///bench/data/crm.sqlite3 --clients 1000000
    python bench/dupscan.py --database sqlite:///bench/data/crm.sqlite3

Upgrades the database to the newest schema first (a database generated before the
duplicate finder existed gets its tables), then runs the scan job the way `crm worker`
runs it and prints the clients scanned, the pairs and skipped groups, the seconds of each
stage and clients per second. `--copy-from FILE` copies a SQLite file to --database first,
so a shared generated database is never written to.

The generator draws names from a few dozen words, so most of its names are shared by
hundreds of clients and skipped as too common. `--unique-names` appends a distinct
six-letter tag to every stored name key (in the copy!), which makes nearly every name
distinct: the worst case for the name comparison, closer to a real registry.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="e.g. sqlite:////tmp/crm.sqlite3")
    parser.add_argument("--copy-from", help="a SQLite file to copy to --database first")
    parser.add_argument("--unique-names", action="store_true")
    parser.add_argument("--instance", default="bench/data/instance")
    parser.add_argument("--name", default="dupscan", help="results file name")
    args = parser.parse_args()
    if args.database.startswith("sqlite:///"):
        path = Path(args.database[len("sqlite:///") :]).resolve()
        args.database = f"sqlite:///{path}"
        if args.copy_from:
            source = Path(args.copy_from).resolve()
            if source == path:
                parser.error("--copy-from and --database are the same file")
            started = time.perf_counter()
            shutil.copyfile(source, path)
            print(f"copied {source} in {time.perf_counter() - started:.1f} s", flush=True)
    elif args.copy_from:
        parser.error("--copy-from needs a SQLite --database")

    Path(args.instance).mkdir(parents=True, exist_ok=True)
    os.environ["DATABASE_URL"] = args.database
    os.environ.setdefault("CRM_INSTANCE_PATH", str(Path(args.instance).resolve()))
    from core import create_app
    from core import db as database
    from core.cli import upgrade_core
    from core.clients.dupscan import scan
    from core.clients.dupscan.models import DuplicateScan
    from core.db import db

    database.sqlite_cache_kib = 256 * 1024  # as `crm worker` runs jobs
    app = create_app({"CRM_PASSWORD_HASH_COST": "low"})
    with app.app_context():
        upgrade_core(app)
        if args.unique_names:
            started = time.perf_counter()
            # printf('%06x', ...) on SQLite, to_hex on PostgreSQL would differ: SQLite only.
            if db.engine.dialect.name != "sqlite":
                parser.error("--unique-names works on SQLite copies only")
            with db.engine.begin() as conn:
                conn.exec_driver_sql(
                    "UPDATE clients SET name_key = name_key || ' ' || "
                    "printf('%06x', (id * 2654435761) % 16777216)"
                )
            print(f"made names unique in {time.perf_counter() - started:.1f} s", flush=True)
        record = DuplicateScan(status="queued", skipped=[], message="")
        db.session.add(record)
        db.session.commit()
        scan_id = record.id
        db.session.remove()
        started = time.perf_counter()
        result = scan.run(scan_id)
        seconds = time.perf_counter() - started
        db.engine.dispose()
    clients = result["clients"]
    print(
        f"scanned {clients:,} clients in {seconds:.1f} s = {clients / seconds:,.0f} clients/s; "
        f"{result['pairs']:,} open pairs, {result['groups_skipped']:,} groups skipped"
        + (" (pairs truncated)" if result["truncated"] else "")
    )
    print("seconds per stage: " + ", ".join(f"{k} {v}" for k, v in result["seconds"].items()))
    from suite import results_dir

    results = {
        "clients": clients,
        "seconds": round(seconds, 2),
        "clients_per_s": round(clients / seconds),
        "pairs": result["pairs"],
        "groups_skipped": result["groups_skipped"],
        "truncated": result["truncated"],
        "stage_seconds": result["seconds"],
    }
    (results_dir() / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
