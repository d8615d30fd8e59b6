"""Measure the client import: rows per second for a realistic CSV, first run and re-run.

    python bench/import_rate.py --rows 100000
    python bench/import_rate.py --rows 100000 --database sqlite:///bench/data/copy.sqlite3

Writes a semicolon-separated UTF-8 file as Excel saves it (names in Latin and Cyrillic
script, phones typed in several formats, e-mails, tax ids, statuses by label, tags, a
city, a contact person for some rows, and one bad row in 200), uploads it and runs the
import job in this process, timing each step; then runs the same file again (every row is
found as a duplicate and skipped). Without --database it uses a new SQLite file; with
one it imports into that database (use a copy of a generated one to import next to a
million clients). Prints the figures and writes them to bench/results/import.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LATIN = ["Nord", "Vest", "Alfa", "Terra", "Lux", "Agro", "Tehno", "Casa", "Delta", "Orion"]
CYRILLIC = ["Ромашка", "Север", "Восток", "Альфа", "Терра", "Окна", "Двери", "Вектор"]
FORMS = ["SRL", "SA", "GmbH", "LLC", "ООО", "АО", "ИП"]
FIRST = ["Ivan", "Maria", "Andrei", "Elena", "Thomas", "Иван", "Мария", "Ольга"]
LAST = ["Popescu", "Rusu", "Müller", "Schmidt", "Иванов", "Смирнова", "Кузнецов"]
CITIES = ["Chișinău", "Bălți", "București", "Köln", "München", "Москва", "Казань"]
STATUSES = ["Lead", "Prospect", "Customer", "lead", "customer"]
TAGS = ["vip", "windows", "doors", "окна", "b2b", "retail"]


def make_csv(rows: int, seed: int) -> bytes:
    rng = random.Random(seed)
    lines = ["Name;Phone;E-mail;Tax id;Status;Tags;City;Contact person;Position"]
    for n in range(rows):
        words = CYRILLIC if n % 3 == 0 else LATIN
        name = f"{rng.choice(words)} {rng.choice(words)} {n} {rng.choice(FORMS)}"
        number = f"{rng.randrange(100, 999)}{rng.randrange(1000, 9999)}"
        phone = rng.choice(
            [
                f"+373 22 {number[1:4]} {number[4:]}",
                f"+49 (30) {number}",
                f"+7 495 {number[:3]}-{number[3:5]}-{number[5:]}",
                f"+373{rng.randrange(60, 79)}{number[1:]}",
            ]
        )
        email = f"office{n}@example{n % 97}.com"
        tax_id = f"{1_000_000_000 + n}" if rng.random() < 0.5 else ""
        tags = ", ".join(rng.sample(TAGS, rng.randrange(0, 3)))
        contact, position = "", ""
        if rng.random() < 0.3:
            contact = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            position = rng.choice(["director", "buyer", "директор"])
        if n % 200 == 199:
            email = "not an e-mail"
        lines.append(
            ";".join(
                [
                    name,
                    phone,
                    email,
                    tax_id,
                    rng.choice(STATUSES),
                    tags,
                    rng.choice(CITIES),
                    contact,
                    position,
                ]
            )
        )
    return ("\n".join(lines) + "\n").encode("utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--database", help="default: a new SQLite file")
    parser.add_argument("--name", default="import", help="results file name")
    parser.add_argument(
        "--first-run-only", action="store_true", help="leave out the re-run (for profiling)"
    )
    args = parser.parse_args()

    import sqlalchemy as sa

    from core import create_app
    from core import db as database

    database.sqlite_cache_kib = 256 * 1024  # as `crm worker` runs jobs
    from core.cli import ensure_admin_role, upgrade_core
    from core.clients.imports import services
    from core.clients.imports.models import ClientImport
    from core.clients.models import Client
    from core.db import db
    from core.plugin_system import services as plugin_services
    from core.users import services as user_services
    from core.users.models import Role, User

    folder = Path(tempfile.mkdtemp(prefix="crm-import-bench-"))
    database = args.database or f"sqlite:///{folder / 'crm.sqlite3'}"
    app = create_app(
        {
            "INSTANCE_PATH": str(folder / "instance"),
            "SQLALCHEMY_DATABASE_URI": database,
            "SECRET_KEY": "bench",
            "CRM_JOBS_IMMEDIATE": True,
            "CRM_PASSWORD_HASH_COST": "low",
        }
    )
    content = make_csv(args.rows, args.seed)
    results: dict[str, float | int | str] = {
        "rows": args.rows,
        "file_mb": round(len(content) / 1048576, 1),
    }
    with app.app_context():
        upgrade_core(app)
        plugin_services.sync_discovered(app)
        ensure_admin_role()
        user = db.session.execute(sa.select(User).order_by(User.id).limit(1)).scalar_one_or_none()
        if user is None:
            admin = db.session.execute(sa.select(Role).filter_by(is_admin=True)).scalar_one()
            user = user_services.create_user(
                "bench@example.com", "Bench", "bench-password-1", roles=[admin]
            )
        results["clients_before"] = db.session.execute(sa.select(sa.func.count(Client.id))).scalar()
        for label in ("first run",) if args.first_run_only else ("first run", "re-run"):
            started = time.perf_counter()
            job = services.upload(content, "bench.csv", user)
            uploaded = time.perf_counter()
            load = os.getloadavg()[0]
            cpu = time.process_time()
            helper = resource.getrusage(resource.RUSAGE_CHILDREN)
            services.start(job, {"on_duplicate": "skip"})
            finished = time.perf_counter()
            cpu = time.process_time() - cpu
            after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the helper has ended
            helper_cpu = after.ru_utime + after.ru_stime - helper.ru_utime - helper.ru_stime
            db.session.rollback()  # end the read snapshot taken before the job committed
            job = db.session.get(ClientImport, job.id)
            assert job.status == "done", (job.status, job.message)
            seconds = finished - uploaded
            key = label.replace(" ", "_").replace("-", "_")
            results[f"{key}_upload_s"] = round(uploaded - started, 2)
            results[f"{key}_s"] = round(seconds, 2)
            results[f"{key}_rows_per_s"] = round(job.processed / seconds)
            results[f"{key}_cpu_s"] = round(cpu, 2)
            results[f"{key}_helper_cpu_s"] = round(helper_cpu, 2)
            results[f"{key}_load_before"] = round(load, 2)
            results[f"{key}_load_after"] = round(os.getloadavg()[0], 2)
            print(
                f"{label}: upload and count {uploaded - started:.2f} s; import {seconds:.2f} s "
                f"({cpu:.2f} s CPU, helper process {helper_cpu:.2f} s; load average {load:.2f}) "
                f"= {job.processed / seconds:,.0f} rows/s "
                f"(created {job.created_count:,}, "
                f"skipped {job.skipped_count:,}, failed {job.failed_count:,})"
            )
        # The peak resident memory of this (the writing) process, in MiB (Linux: KiB).
        results["writer_max_rss_mb"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        )
        results["clients_after"] = db.session.execute(sa.select(sa.func.count(Client.id))).scalar()
    from suite import results_dir

    out = results_dir() / f"{args.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
