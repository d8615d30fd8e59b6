"""The whole benchmark of issue 6 in one run, and the table of its targets.

`bench/run.py --all` measures the pages and API over HTTP (bench/run.py itself), then runs
the rate benchmarks one after the other as separate processes on the same generated data:
the streamed CSV export (bench/export_rate.py), the duplicate scan (bench/dupscan.py),
invoice PDFs in two processes at once, as two workers would, and e-mails to a loopback
SMTP server (bench/documents_rate.py), and last, because it adds clients, the CSV import
next to the generated registry (bench/import_rate.py). Each writes its own JSON file; this
module collects them into ``<name>-summary.json`` and prints the issue's table of targets
with the measured figure, the target and whether it is met (and by how much it is missed).

``compare(old, new)`` (bench/compare.py) shows what got more than 20 % worse between two
result files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MIB_TO_MB = 1.048576


def results_dir() -> Path:
    """Where the benchmarks write their JSON (``BENCH_RESULTS_DIR``, default bench/results)."""
    folder = Path(os.environ.get("BENCH_RESULTS_DIR") or ROOT / "bench" / "results")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _script(name: str, *args: str, env: dict[str, str]) -> None:
    command = [sys.executable, str(ROOT / "bench" / name), *args]
    print(f"$ {' '.join(command[1:])}", flush=True)
    subprocess.run(command, env=env, check=True, cwd=ROOT)


def _read(name: str) -> dict[str, Any]:
    return json.loads((results_dir() / f"{name}.json").read_text())


def run_rates(database: str, instance: str, name: str, sizes: dict[str, int]) -> dict[str, Any]:
    """Run the rate benchmarks on ``database`` (a copy: the import writes to it)."""
    env = dict(os.environ, BENCH_RESULTS_DIR=str(results_dir()), CRM_INSTANCE_PATH=instance)
    rates: dict[str, Any] = {}
    _script("export_rate.py", "--database", database, "--name", f"{name}-export", env=env)
    rates["export"] = _read(f"{name}-export")
    _script(
        "dupscan.py", "--database", database, "--instance", instance,
        "--name", f"{name}-dupscan", env=env,
    )  # fmt: skip
    rates["dupscan"] = _read(f"{name}-dupscan")
    # Two processes at once, as the two web workers of `crm run` would render documents.
    command = [sys.executable, str(ROOT / "bench" / "documents_rate.py")]
    print("$ documents_rate.py (two processes at once)", flush=True)
    running = [
        subprocess.Popen(
            [
                *command,
                "--invoices",
                str(sizes["invoices"]),
                "--mails",
                str(sizes["mails"]),
                "--name",
                f"{name}-documents-{n}",
            ],
            env=env,
            cwd=ROOT,
        )  # fmt: skip
        for n in (1, 2)
    ]
    for process in running:
        if process.wait() != 0:
            raise SystemExit("documents_rate.py failed")
    parts = [_read(f"{name}-documents-{n}") for n in (1, 2)]
    rates["documents"] = {
        "invoices_per_s": round(sum(p["invoices_per_s"] for p in parts), 1),
        "invoices_per_s_one_process": min(p["invoices_per_s"] for p in parts),
        "mails_per_s": round(sum(p["mails_per_s"] for p in parts), 1),
        "pdf_kib": parts[0]["pdf_kib"],
    }
    _script(
        "import_rate.py", "--rows", str(sizes["import_rows"]), "--database", database,
        "--name", f"{name}-import", env=env,
    )  # fmt: skip
    rates["import"] = _read(f"{name}-import")
    return rates


def _worst(endpoints: dict[str, dict], pick: Callable[[str], bool]) -> tuple[float | None, str]:
    chosen = {k: v["p95"] for k, v in endpoints.items() if pick(k)}
    if not chosen:
        return None, ""
    name = max(chosen, key=chosen.get)
    return chosen[name], name


def _is_list_or_search(name: str) -> bool:
    return name.startswith(("client list,", "search:"))


def _is_card_or_board(name: str) -> bool:
    return name.startswith(("client card", "deal card", "sales board"))


def _is_report(name: str) -> bool:
    return name.startswith(("report: funnel", "report: ABC"))


def targets(http: dict[str, Any], rates: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The issue's table: what, measured, target, unit, met (None: not measured)."""
    endpoints = http.get("endpoints", {})
    rows: list[dict[str, Any]] = []

    def add(what, measured, target, unit, lower_is_better, detail=""):
        met = None
        if measured is not None:
            met = measured < target if lower_is_better else measured >= target
        rows.append(
            {
                "what": what,
                "measured": measured,
                "target": target,
                "unit": unit,
                "lower_is_better": lower_is_better,
                "met": met,
                "detail": detail,
            }
        )

    value, name = _worst(endpoints, _is_list_or_search)
    add("client list pages, all searches", value, 15, "ms", True, f"worst p95: {name}")
    value, name = _worst(endpoints, _is_card_or_board)
    add("client card, deal card, pipeline board", value, 25, "ms", True, f"worst p95: {name}")
    add(
        "client list throughput",
        endpoints.get("client list, first page", {}).get("rps"),
        500,
        "requests/s",
        False,
    )
    add(
        "API client detail throughput",
        endpoints.get("API client detail", {}).get("rps"),
        800,
        "requests/s",
        False,
    )
    value, name = _worst(endpoints, _is_report)
    add("funnel or ABC report over a year of deals", value, 500, "ms", True, f"worst p95: {name}")
    if rates is not None:
        imported = rates["import"]
        add(
            "CSV import with validation and normalisation",
            imported.get("first_run_rows_per_s"),
            20_000,
            "rows/s",
            False,
            f"{imported.get('rows', 0):,} rows next to {imported.get('clients_before', 0):,}",
        )
        exported = rates["export"]
        add(
            "streamed CSV export",
            exported.get("all_rows_per_s"),
            100_000,
            "rows/s",
            False,
            f"{exported.get('all_rows', 0):,} rows",
        )
        scan = rates["dupscan"]
        add(
            "duplicate scan over the registry",
            scan.get("seconds"),
            60,
            "s",
            True,
            f"{scan.get('clients', 0):,} clients",
        )
        add(
            "invoice PDF generation",
            rates["documents"]["invoices_per_s"],
            100,
            "documents/s",
            False,
            "two processes at once",
        )
    rss = http.get("rss_mb_per_worker") or []
    add(
        "memory per worker, every plugin enabled (MB = 10^6 bytes)",
        round(max(rss) * MIB_TO_MB, 1) if rss else None,
        120,
        "MB",
        True,
        f"RSS {', '.join(f'{r} MiB' for r in rss)}",
    )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| what | measured | target | met |", "| --- | --- | --- | --- |"]
    for row in rows:
        measured, target = row["measured"], row["target"]
        if measured is None:
            shown, verdict = "not measured", "—"
        else:
            shown = (
                f"{measured:,.1f} {row['unit']}"
                if measured < 100
                else (f"{measured:,.0f} {row['unit']}")
            )
            if row["met"]:
                verdict = "✔"
            elif row["lower_is_better"]:
                verdict = f"✘ ({(measured / target - 1) * 100:.0f} % over)"
            else:
                verdict = f"✘ ({measured / target * 100:.0f} % of it)"
        sign = "<" if row["lower_is_better"] else "≥"
        detail = f" ({row['detail']})" if row["detail"] else ""
        wanted = f"{sign} {target:,} {row['unit']}"
        lines.append(f"| {row['what']}{detail} | {shown} | {wanted} | {verdict} |")
    return "\n".join(lines)


def summarise(name: str, http: dict[str, Any], rates: dict[str, Any] | None) -> dict[str, Any]:
    summary = {"targets": targets(http, rates), "http": http, "rates": rates}
    (results_dir() / f"{name}-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(table(summary["targets"]))
    return summary


def _flatten(data: Any, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(data, dict):
        if "what" in data and "measured" in data:  # a summary's target row
            if isinstance(data["measured"], int | float):
                direction = "lower" if data["lower_is_better"] else "higher"
                out[f"target: {data['what']} [{direction}]"] = float(data["measured"])
            return out
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
    elif isinstance(data, list):
        if all(isinstance(v, int | float) for v in data) and "rss" in prefix:
            out[prefix.rstrip(".") + " max"] = float(max(data)) if data else 0.0
        else:
            for i, value in enumerate(data):
                out.update(_flatten(value, f"{prefix}{i}."))
    elif isinstance(data, int | float) and not isinstance(data, bool):
        out[prefix.rstrip(".")] = float(data)
    return out


def _direction(key: str) -> str | None:
    """Whether a lower or a higher value of the figure at ``key`` is better (None: it is a
    count or a setting, not a figure to compare)."""
    if key.endswith("[lower]"):
        return "lower"
    if key.endswith("[higher]"):
        return "higher"
    last = key.rsplit(".", 1)[-1].lower()
    if "load_average" in key:
        return None
    if last == "rps" or last.endswith("per_s"):
        return "higher"
    if "rss" in key or last in ("p50", "p95", "p99", "best", "median"):
        return "lower"
    if last.endswith(("_s", "seconds", "_ms")) or last == "seconds":
        return "lower"
    return None


def compare(old: dict[str, Any], new: dict[str, Any], threshold: float = 0.20) -> list[str]:
    """Lines describing every figure more than ``threshold`` worse in ``new`` than in
    ``old`` (latencies, seconds and memory up; rates down); empty when none is."""
    before, after = _flatten(old), _flatten(new)
    worse = []
    for key in sorted(before.keys() & after.keys()):
        direction = _direction(key)
        a, b = before[key], after[key]
        if direction is None or a <= 0:
            continue
        change = (b - a) / a
        if (direction == "lower" and change > threshold) or (
            direction == "higher" and change < -threshold
        ):
            worse.append(f"{key}: {a:g} -> {b:g} ({change * 100:+.0f} %)")
    return worse
