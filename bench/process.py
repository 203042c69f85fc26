"""Benchmark: trial-form submissions through the demo workflow, as the user runs them —
`salesflow ingest --form cours-essai` then `salesflow process`, whole commands, start-ups
included — against bench/floor_engine.py (the same rows in salesflow's own schema, the same
renders, one transaction), alternating. Target: ≤ 3× (median). After each pair, every
table's row count must match (`common.same_rows`), and the contacts' emails, the outbox's
recipients and subjects and the runs' states too: else no ratio.

    .venv/bin/python bench/process.py [--submissions 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

from common import (
    PYTHON,
    REPO,
    Row,
    RowsDiffer,
    attempt,
    demo_project,
    fresh,
    paired,
    print_table,
    ratio_row,
    salesflow,
    same_rows,
    timed,
)
from ingest import write_submissions

from salesflow.config.cache import load_project
from salesflow.store.db import connect, created_marker

TARGET = 3
WORKFLOW = "essai-formulaire"
# What must read the same in both databases, beyond the row counts.
SAME = (
    "SELECT email FROM contacts ORDER BY id",
    "SELECT to_addr, to_name, subject, step, text, html, headers FROM outbox ORDER BY id",
    "SELECT status, cursor, wake_at FROM runs ORDER BY id",
    "SELECT step, outcome, detail FROM run_steps WHERE step <> 'bienvenue' ORDER BY id",
    "SELECT type, subject_id, processed_at IS NULL FROM events ORDER BY id",
)


def same_values(real: Path, floor: Path) -> None:
    """Refuse a ratio unless a few telling columns read the same (cheap: one query each)."""
    for query in SAME:
        found, wanted = (sqlite3.connect(path).execute(query).fetchall() for path in (floor, real))
        if found != wanted:
            raise RowsDiffer(f"the floor's rows differ from salesflow's in: {query}")


def empty_database(path: Path) -> Path:
    """A database salesflow created (its whole schema), with nothing in it."""
    connect(path).close()
    return path


def measure(scratch: Path, count: int, runs: int) -> list[Row]:
    measure_name = f"ingest + process {count:,} submissions (demo workflow)"
    return attempt(measure_name, f"≤ {TARGET}× (median)",
                   lambda: [_measure(scratch, count, runs, measure_name)])  # fmt: skip


def _measure(scratch: Path, count: int, runs: int, name: str) -> Row:
    project = demo_project(scratch / "project")
    database, floor_db = project / "salesflow.db", scratch / "floor.db"
    data = write_submissions(scratch / "submissions.json", count)
    empty = empty_database(scratch / "empty.db")
    content_hash = load_project(project).workflows[WORKFLOW].content_hash
    script = [PYTHON, REPO / "bench" / "floor_engine.py", data, floor_db, project, content_hash]

    def floor() -> float:
        fresh(floor_db)
        shutil.copy(empty, floor_db)
        return timed(script)

    def real() -> float:
        fresh(database)
        created_marker(database).unlink(missing_ok=True)
        return timed(salesflow(project, "ingest", "--form", "cours-essai", data)) + timed(
            salesflow(project, "process")
        )

    def checked_real() -> float:
        seconds = real()
        same_rows(database, floor_db, name)
        same_values(database, floor_db)
        return seconds

    return ratio_row(name, "floor_engine.py", paired(floor, checked_real, runs), TARGET)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        rows = measure(Path(scratch), args.submissions, args.runs)
    print_table(rows)
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
