"""Benchmark: `salesflow run` with nothing to do (what cron starts every minute), whole
command, against bench/floor_idle.py (load the cached project, open the database, one
indexed query), alternating. Target: ≤ 2× by the median. And `salesflow tick` with nothing
to do against that `run`: ≤ 1.2× (a cron line may start either).

    .venv/bin/python bench/startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from common import PYTHON, REPO, Row, demo_project, paired, print_table, ratio_row, timed
from common import salesflow as command


def measure(scratch: Path, runs: int) -> list[Row]:
    project = demo_project(scratch / "project")
    idle = command(project, "run")
    subprocess.run(idle, check=True, stdout=subprocess.DEVNULL)  # database, cache, schedules
    pair = paired(lambda: timed([PYTHON, REPO / "bench" / "floor_idle.py", project]),
                  lambda: timed(idle), runs)  # fmt: skip
    tick = paired(lambda: timed(idle), lambda: timed(command(project, "tick")), runs)
    return [
        ratio_row("run with nothing to do", "floor_idle.py", pair, 2),
        ratio_row("tick with nothing to do", "run with nothing to do", tick, 1.2),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        rows = measure(Path(scratch), args.runs)
    print_table(rows)
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
