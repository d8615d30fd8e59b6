"""Show what got more than 20 % worse between two benchmark result files.

    python bench/compare.py bench/results/sqlite-summary.json /tmp/new/sqlite-summary.json
    python bench/compare.py OLD.json NEW.json --threshold 0.1

Works on any file the benchmarks write (bench/run.py, the rate scripts, the summary of
`bench/run.py --all`): latencies (p50/p95/p99), seconds and memory are worse when they
grow, requests/s and rows/s when they shrink; counts and load averages are not compared.
Exits 1 when something regressed by more than the threshold, 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite import compare  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--threshold", type=float, default=0.20, help="0.20 = 20 %%")
    args = parser.parse_args()
    try:
        old, new = (json.loads(path.read_text()) for path in (args.old, args.new))
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    worse = compare(old, new, args.threshold)
    for line in worse:
        print(f"worse: {line}")
    if not worse:
        print(f"nothing is more than {args.threshold:.0%} worse")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
