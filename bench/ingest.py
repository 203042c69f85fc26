"""Benchmark: form submissions, as the user runs them (whole commands, start-up included),
each against its floor in the same run, alternating:

- `salesflow ingest` of 10,000 flat submissions vs bench/floor_ingest.py (target ≤ 4×);
- peak memory of `ingest` of 100,000 submissions, as a JSON array and as JSON Lines
  (target ≤ 80 MB, and flat: within 10 MB of the peak at 10,000).

    .venv/bin/python bench/ingest.py [--submissions 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from common import (
    PYTHON,
    REPO,
    Row,
    demo_project,
    fresh,
    paired,
    peak_mb,
    print_table,
    ratio_row,
    salesflow,
    timed,
)


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
    database, floor_db = project / "salesflow.db", scratch / "floor.db"
    data = write_submissions(scratch / "submissions.json", count)
    ingest = salesflow(project, "ingest", "--form", "cours-essai", data)

    def floor(script: str):
        return lambda: fresh(floor_db) or timed([PYTHON, REPO / "bench" / script, data, floor_db])

    def ingest_alone() -> float:
        fresh(database)
        return timed(ingest)

    rows = [
        ratio_row(f"ingest {count:,} flat submissions", "floor_ingest.py",
                  paired(floor("floor_ingest.py"), ingest_alone, runs), 4),
    ]  # fmt: skip
    for kind, lines in (("JSON array", False), ("JSON Lines", True)):
        peaks = []
        for size in (count, count * 10):
            fresh(database)
            path = write_submissions(scratch / f"peak-{size}.json", size, lines)
            peaks.append(peak_mb(salesflow(project, "ingest", "--form", "cours-essai", path)))
        small, large = peaks
        rows.append(Row(f"ingest {count * 10:,} submissions, {kind}: peak memory", "—",
                        f"{large:.0f} MB ({count:,}: {small:.0f} MB)", "≤ 80 MB, flat",
                        large <= 80 and large - small <= 10))  # fmt: skip
    return rows


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
