"""Benchmark: 1, 2 and 4 `salesflow process` processes started together on one PostgreSQL
database, draining the same backlog (600 submissions through the demo workflow, and the
events these raise): submissions a second, and each item handled once — runs started per
event, emails queued per run step, deals made per contact: every duplicate is counted and
must be 0, and no event may be left pending. Rounds alternate 1, 2, 4, 1, 2, 4…; the medians
are shown. (On a 2-core machine 4 processes cannot be faster than 2.)

    .venv/bin/python bench/workers.py [--submissions 600] [--workers 1,2,4] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import ingest
from common import Failed, Row, attempt, demo_project, print_table, salesflow, timed
from databases import PostgreSQL, postgres_server

TIMEOUT = 600  # seconds a drain may take before the bench gives up on it
EXTRA = "SELECT CAST(coalesce(sum(n - 1), 0) AS bigint) FROM (SELECT count(*) AS n FROM {}) AS x"
DUPLICATES = {  # what a second worker would do twice, each counted beyond the first
    "runs": EXTRA.format("runs GROUP BY workflow, event_id"),
    "emails": EXTRA.format("outbox GROUP BY run_id, step"),
    "deals": EXTRA.format("deals GROUP BY contact_id"),
}
TARGET = "0 duplicates, 0 pending"
WORKERS = [1, 2, 4]
PENDING = "SELECT count(*) FROM events WHERE processed_at IS NULL"


def drain(project: Path, database: PostgreSQL, workers: int) -> float:
    """Seconds until `workers` processes started together have all finished."""
    began = time.perf_counter()
    processes = [
        subprocess.Popen(salesflow(project, "process"), env=database.env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(workers)
    ]  # fmt: skip
    errors = []
    try:
        for process in processes:
            left = TIMEOUT - (time.perf_counter() - began)
            _, error = process.communicate(timeout=max(left, 1))
            if process.returncode:
                errors.append(error.decode(errors="replace").strip().splitlines()[-1:])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    if errors:
        raise Failed(f"{len(errors)} of {workers} processes failed: {' '.join(errors[0])}")
    return time.perf_counter() - began


def counted(database: PostgreSQL) -> dict[str, int]:
    """Duplicates of each kind, and events left pending."""
    connection = database.connect()
    try:
        found = {name: connection.execute(sql).fetchone()[0] for name, sql in DUPLICATES.items()}
        found["pending"] = connection.execute(PENDING).fetchone()[0]
    finally:
        connection.close()
    return found


def measure(scratch: Path, database: PostgreSQL, submissions: int = 600,
            workers: list[int] = WORKERS, runs: int = 3) -> list[Row]:  # fmt: skip
    project = demo_project(scratch / "workers")
    forms = ingest.write_submissions(scratch / "backlog.json", submissions)
    first = ingest.write_submissions(scratch / "first.json", 1)
    seconds: dict[int, list[float]] = {count: [] for count in workers}
    found = {count: Counter() for count in workers}  # duplicates of all rounds, summed
    for _ in range(runs):
        for count in workers:
            database.fresh()  # then a project that has run once: its stages are known
            timed(salesflow(project, "ingest", "--form", "cours-essai", first), database.env)
            timed(salesflow(project, "process"), database.env)
            timed(salesflow(project, "ingest", "--form", "cours-essai", forms), database.env)
            seconds[count].append(drain(project, database, count))
            found[count].update(counted(database))
    alone = statistics.median(seconds[workers[0]])
    rows = []
    for count in workers:
        median = statistics.median(seconds[count])
        twice = sum(n for name, n in found[count].items() if name != "pending")
        rows.append(Row(
            f"process {submissions:,} submissions, {count} worker{'s' * (count > 1)} on"
            f" PostgreSQL: duplicates {found[count]['runs']} runs, {found[count]['emails']}"
            f" emails, {found[count]['deals']} deals; {found[count]['pending']} pending",
            f"{workers[0]} worker {alone:.2f} s",
            f"{submissions / median:.0f} submissions/s (speed-up {alone / median:.2f}×)",
            TARGET,
            twice == 0 and found[count]["pending"] == 0,
        ))  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=600)
    parser.add_argument("--workers", type=lambda text: [int(n) for n in text.split(",")],
                        default=WORKERS)  # fmt: skip
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, postgres_server() as server:
        if server is None:
            return 0
        database = PostgreSQL(server, "workers")
        rows = attempt(f"process with {args.workers} workers on PostgreSQL", TARGET,
                       lambda: measure(Path(scratch), database, args.submissions, args.workers,
                                       args.runs))  # fmt: skip
    print_table(rows)
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
