"""Benchmark: form submissions, as the user runs them (whole commands, start-up included),
each against its floor in the same run, alternating:

- `salesflow ingest` of 100,000 flat submissions vs bench/floor_ingest.py, which writes the
  same events (same normalised data, keys, created_at) into salesflow's own schema with its
  settings, in one transaction (target ≤ 2.5×); both start from a copy of the same migrated,
  empty database, and no ratio is printed unless they leave the same rows;
- peak memory of `ingest` of 100,000 submissions, as a JSON array and as JSON Lines
  (target ≤ 80 MB, and flat: within 10 MB of the peak at 10,000).

    .venv/bin/python bench/ingest.py [--submissions 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
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
    paired,
    peak_mb,
    print_table,
    ratio_row,
    salesflow,
    same_rows,
    timed,
)
from databases import SQLite

PEAKS = (10_000, 100_000)  # submissions in the memory rows: flat from the one to the other


def write_submissions(path: Path, count: int, lines: bool = False) -> Path:
    """The demo's flat trial-lesson form, `count` times: a JSON array, or JSON Lines."""
    batch = ({"submissionId": f"s{n}", "email": f"prospect.{n}@example.org", "prenom": "Inès",
              "nom": "Bréval", "telephone": "0612345678", "date_essai": "2026-12-05T18:30"}
             for n in range(count))  # fmt: skip
    with path.open("w", encoding="utf-8") as file:
        if lines:
            file.writelines(json.dumps(item, ensure_ascii=False) + "\n" for item in batch)
        else:
            json.dump(list(batch), file, ensure_ascii=False)
    return path


def measure(scratch: Path, count: int, runs: int) -> list[Row]:
    project = demo_project(scratch / "project")
    for folder in ("real", "floor"):
        (scratch / folder).mkdir()
    real, floor_db = SQLite(scratch / "real"), SQLite(scratch / "floor")
    data = write_submissions(scratch / "submissions.json", count)
    ingest = salesflow(project, "ingest", "--form", "cours-essai", data)

    def floor() -> float:
        floor_db.fresh()
        return timed([PYTHON, REPO / "bench" / "floor_ingest.py", data, floor_db.path])

    def ingest_alone() -> float:
        real.fresh()
        return timed(ingest, real.env)

    def ratio() -> list[Row]:
        pair = paired(floor, ingest_alone, runs)
        same_events(real.path, floor_db.path, f"ingest {count:,}")
        return [ratio_row(f"ingest {count:,} flat submissions", "floor_ingest.py", pair, 2.5)]

    rows = attempt(f"ingest {count:,} flat submissions", "≤ 2.5× (median)", ratio)
    for kind, lines in (("JSON array", False), ("JSON Lines", True)):
        peaks = []
        for size in PEAKS:
            real.fresh()
            path = write_submissions(scratch / f"peak-{size}.json", size, lines)
            command = salesflow(project, "ingest", "--form", "cours-essai", path)
            peaks.append(peak_mb(["env", f"SALESFLOW_DB={real.path}", *command]))
        small, large = peaks
        rows.append(Row(f"ingest {PEAKS[1]:,} submissions, {kind}: peak memory", "—",
                        f"{large:.0f} MB ({PEAKS[0]:,}: {small:.0f} MB)", "≤ 80 MB, flat",
                        large <= 80 and large - small <= 10))  # fmt: skip
    return rows


def same_events(real: Path, floor: Path, what: str) -> None:
    """Refuse a ratio unless the floor left the same rows as salesflow, table by table, and
    the same events: type, key, normalised data, created_at, depth, in the same order."""
    same_rows(real, floor, what)
    wanted, found = _events(real), _events(floor)
    if found != wanted:
        first = next(n for n, (a, b) in enumerate(zip(found, wanted, strict=True)) if a != b)
        raise RowsDiffer(f"{what}: the floor's event {first + 1} differs from salesflow's"
                         f" ({found[first]} vs {wanted[first]}): no ratio")  # fmt: skip


def _events(database: Path) -> list[tuple]:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return connection.execute(
            "SELECT type, key, subject_type, subject_id, data, created_at, depth, processed_at"
            " FROM events ORDER BY id"
        ).fetchall()
    finally:
        connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        rows = measure(Path(scratch), args.submissions, args.runs)
    print_table(rows)
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
