"""Benchmark: 10,000 trial-form submissions through the demo workflow (contact, welcome
email rendered, owner, deal, notification, wait), then the same again with 1,000,000
finished runs already in the database. Target: the second rate within 1.5× of the first
(the cost per event does not grow with history).

    .venv/bin/python bench/engine.py [--forms 10000] [--history 1000000]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import SALESFLOW, demo_project

NOW = "2026-11-22T10:00"


def salesflow(project: Path, *args: str) -> float:
    began = time.perf_counter()
    subprocess.run([SALESFLOW, "--project", project, "--now", NOW, *args], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - began


def submissions(path: Path, prefix: str, count: int) -> Path:
    batch = [{"submissionId": f"{prefix}{n}", "email": f"{prefix}{n}@example.org",
              "prenom": "Inès", "nom": "Bréval", "telephone": "0612345678",
              "date_essai": "2026-12-05T18:30"} for n in range(count)]  # fmt: skip
    path.write_text(json.dumps(batch))
    return path


def add_finished_runs(database: Path, count: int) -> None:
    connection = sqlite3.connect(database)
    rows = (
        ("essai-formulaire", "h", "contact", n + 1_000_000, None, None, 0, "done",
         "2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z")
        for n in range(count)
    )  # fmt: skip
    connection.executemany(
        "INSERT INTO runs (workflow, workflow_hash, subject, contact_id, deal_id, event_id,"
        " depth, status, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    connection.commit()
    connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forms", type=int, default=10_000)
    parser.add_argument("--history", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        project = demo_project(scratch / "project")
        salesflow(
            project,
            "ingest",
            "--form",
            "cours-essai",
            submissions(scratch / "a.json", "a", args.forms),
        )
        first = salesflow(project, "process")
        add_finished_runs(project / "salesflow.db", args.history)
        salesflow(
            project,
            "ingest",
            "--form",
            "cours-essai",
            submissions(scratch / "b.json", "b", args.forms),
        )
        second = salesflow(project, "process")
        runs = (
            sqlite3.connect(project / "salesflow.db")
            .execute("SELECT count(*) FROM runs WHERE status = 'waiting'")
            .fetchone()[0]
        )
    rate_first, rate_second = args.forms / first, args.forms / second
    print(f"{args.forms:,} submissions → {runs:,} waiting runs in all")
    print(f"empty history:             {first:6.2f} s  {rate_first:7.0f} runs/s")
    print(f"{args.history:,} finished runs: {second:6.2f} s  {rate_second:7.0f} runs/s")
    ratio = second / first
    print(f"ratio {ratio:.2f} (target ≤ 1.5): {'ok' if ratio <= 1.5 else 'TOO SLOW'}")
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
