"""Measure the streamed CSV export of the client list: rows per second over HTTP.

    cp /work/bench-data/clients-1m.sqlite3 /tmp/export-1m.sqlite3
    python bench/export_rate.py --database sqlite:////tmp/export-1m.sqlite3

Signs in through the API as a generated manager with scope "all" (bench/generate.py's
manager1@bench.example) and reads `GET /api/v1/clients/export` to the end through the
WSGI app in this process (the response is streamed in chunks, as gunicorn would send it),
counting rows and bytes; the network is left out. Also exports one manager's own clients
(scope "own"). The copy's roles that may list clients are given the export permission.
Prints the figures with the CPU time this process spent and the load average (on a busy
machine, with other work on both cores, the CPU time says more than the wall time) and
writes them to bench/results/<name>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def export(client, token: str) -> tuple[int, int, float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    response = client.get(
        "/api/v1/clients/export?format=csv",
        headers={"Authorization": f"Bearer {token}"},
        buffered=False,
    )
    assert response.status_code == 200, response.status_code
    size = lines = 0
    for chunk in response.response:
        data = chunk if isinstance(chunk, bytes) else chunk.encode()
        size += len(data)
        lines += data.count(b"\n")
    response.close()
    # the header line is no client
    return lines - 1, size, time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="a generated database (a copy)")
    parser.add_argument("--name", default="export")
    args = parser.parse_args()

    from core import create_app
    from core.cli import upgrade_core

    folder = Path(tempfile.mkdtemp(prefix="crm-export-bench-"))
    app = create_app(
        {
            "INSTANCE_PATH": str(folder / "instance"),
            "SQLALCHEMY_DATABASE_URI": args.database,
            "SECRET_KEY": "bench",
        }
    )
    with app.app_context():
        upgrade_core(app)
        # The generated managers' roles may list clients but not export them: in this copy,
        # they may.
        from core.db import db
        from core.users.models import Role

        for role in db.session.query(Role).all():
            if "clients.view" in (role.permissions or []):
                role.permissions = sorted({*role.permissions, "clients.export"})
        db.session.commit()
    client = app.test_client()
    results: dict[str, float | int] = {}
    for label, email in (("all", "manager1@bench.example"), ("own", "manager2@bench.example")):
        answer = client.post(
            "/api/v1/auth/token", json={"email": email, "password": "bench-password-1"}
        )
        assert answer.status_code == 201, answer.get_json()
        rows, size, seconds, cpu = export(client, answer.get_json()["token"])
        results[f"{label}_rows"] = rows
        results[f"{label}_mb"] = round(size / 1048576, 1)
        results[f"{label}_s"] = round(seconds, 2)
        results[f"{label}_rows_per_s"] = round(rows / seconds)
        results[f"{label}_cpu_s"] = round(cpu, 2)
        results["load_average_1min"] = round(os.getloadavg()[0], 2)
        print(
            f"scope {label}: {rows:,} rows, {size / 1048576:.1f} MB in {seconds:.1f} s "
            f"= {rows / seconds:,.0f} rows/s ({cpu:.1f} s of CPU; load average "
            f"{os.getloadavg()[0]:.2f})"
        )
    from suite import results_dir

    out = results_dir() / f"{args.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
