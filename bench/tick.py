"""Benchmark: `salesflow tick` with 1,000,000 waiting runs of which none is due, against
1,000 waiting runs (target: ratio ≤ 1.5 — due work is found by index, not by scanning);
then 10,000 runs falling due at once: the rate they resume and queue their reminder, with
a profile of where the time goes.

    .venv/bin/python bench/tick.py [--waiting 1000000] [--due 10000]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import SALESFLOW, demo_project


def project_in(folder: Path) -> Path:
    demo_project(folder)
    subprocess.run([SALESFLOW, "--project", folder, "--now", "2026-11-22T10:00", "tick"],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return folder


def add_waiting_runs(database: Path, count: int, wake: str, contacts: bool = False) -> None:
    """`count` runs of the trial-lesson workflow parked before their reminder."""
    connection = sqlite3.connect(database)
    start = connection.execute("SELECT coalesce(max(id), 0) FROM contacts").fetchone()[0]
    if contacts:
        connection.executemany(
            "INSERT INTO contacts (email, first_name, fields, created_at, updated_at)"
            " VALUES (?, 'Inès', ?, '2026-11-20T09:00:00Z', '2026-11-20T09:00:00Z')",
            ((f"p{start + n}@example.org", json.dumps({"date_essai": "2026-12-05T18:30:00+01:00"}))
             for n in range(count)),
        )  # fmt: skip
    rows = (
        ("essai-formulaire", "h", "contact", start + n + 1 if contacts else None, 0, "waiting",
         '["rappel"]', wake, "2026-11-20T09:00:00Z", "2026-11-20T09:00:00Z")
        for n in range(count)
    )  # fmt: skip
    connection.executemany(
        "INSERT INTO runs (workflow, workflow_hash, subject, contact_id, depth, status, cursor,"
        " wake_at, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    connection.commit()
    connection.close()


def timed_tick(project: Path, now: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([SALESFLOW, "--project", project, "--now", now, "tick"], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    args = parser.parse_args()
    now = "2026-11-23T10:00"
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        small, large = project_in(scratch / "small"), project_in(scratch / "large")
        add_waiting_runs(small / "salesflow.db", 1_000, "2026-12-04T17:30:00Z")
        add_waiting_runs(large / "salesflow.db", args.waiting, "2026-12-04T17:30:00Z")
        few, many = timed_tick(small, now), timed_tick(large, now)
        ratio = many / few
        print(f"tick, 1,000 waiting runs, none due:      {few * 1000:6.0f} ms")
        print(f"tick, {args.waiting:,} waiting runs, none due: {many * 1000:6.0f} ms")
        print(f"ratio {ratio:.2f} (target ≤ 1.5): {'ok' if ratio <= 1.5 else 'TOO SLOW'}")

        due = project_in(scratch / "due")
        add_waiting_runs(due / "salesflow.db", args.due, "2026-12-04T17:30:00Z", contacts=True)
        rate = _profiled_tick(due, "2026-12-04T18:31", args.due)
        print(f"{args.due:,} runs due at once: resumed and their reminder queued at {rate:.0f}/s")
    return 0 if ratio <= 1.5 else 1


def _profiled_tick(project: Path, now: str, count: int) -> float:
    """Tick in this process under cProfile (delivery left out: that is bench/delivery.py)."""
    from salesflow.config.cache import load_project
    from salesflow.engine.tick import tick
    from salesflow.store.session import Store
    from salesflow.values import parse_datetime

    loaded = load_project(project)
    store = Store.open(loaded, parse_datetime(now, loaded.locale, loaded.timezone))
    profile = cProfile.Profile()
    began = time.perf_counter()
    profile.enable()
    result = tick(store, send=False)
    profile.disable()
    seconds = time.perf_counter() - began
    assert result.resumed == count, result.summary()
    report = io.StringIO()
    pstats.Stats(profile, stream=report).sort_stats("tottime").print_stats(12)
    print("where the time goes (tottime, under the profiler):")
    print("\n".join(line for line in report.getvalue().splitlines()[6:] if line.strip()))
    return count / seconds


if __name__ == "__main__":
    sys.exit(main())
