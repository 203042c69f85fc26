"""`make bench`: the performance targets in one table — measure, floor, ratio (min / median),
target, met or not. Each measure is a bench of its own in this folder, runnable alone with
its options; bench/engine.py, tick.py, delivery.py and validate.py check other targets.

    .venv/bin/python bench/all.py [--runs 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import board
import imports
import ingest
import reports
import startup
from common import print_table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in ("ingest", "startup", "imports", "reports", "board"):
            (Path(scratch) / name).mkdir()
        rows += ingest.measure(Path(scratch) / "ingest", 10_000, args.runs)
        rows += startup.measure(Path(scratch) / "startup", args.runs * 4)
        rows += imports.measure(Path(scratch) / "imports", 100_000, 1_000_000, args.runs)
        rows += reports.measure(Path(scratch) / "reports", 100_000, 1_000_000, args.runs)
        rows += board.measure(Path(scratch) / "board", 100_000, args.runs * 4)
    print_table(rows)
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
