"""Benchmark: planning 14 days over 10,000 waiting runs against ticking a copy of the same
database for real, at the moments the plan visited, with the `.eml` transport (target ≤ 3×,
median); and the real database's bytes unchanged by every plan.

The data: the demo's trial-lesson form submitted 10,000 times, the lessons spread over the
coming two weeks at the club's two class times (18:30 and 20:00), taken in and ticked once
(welcome emails sent): 10,000 runs wait for their reminder, 24 h before the lesson, at 26
distinct wake-ups, and the Monday review fires twice.

Measured in-process, the same on both sides: `engine.plan.plan` (its scratch copy included)
against `engine.tick.tick` with delivery at each moment, on a fresh copy of the database
(made outside the time), its emails written as `.eml` files; each side in a Python process
of its own, timed once salesflow is imported and the project loaded. Not whole commands:
the floor would be 29 commands against the plan's one, and their start-ups would flatter
the plan (whole commands measured once, 10,000 runs: 0.13×). The real `salesflow plan`
command runs once (the moments come from its --json), and its time is printed.

    .venv/bin/python bench/plan.py [--waiting 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from common import (
    NOW,
    PYTHON,
    Failed,
    Row,
    demo_project,
    paired,
    print_table,
    ratio_row,
    salesflow,
)

TARGET = 3
DAYS = 14
CLASS_TIMES = ("18:30", "20:00")


def lesson_times() -> list[str]:
    """The lessons' slots: every evening from the day after tomorrow to the plan's last day,
    so that each reminder (24 h before) falls inside the 14 days."""
    first = date.fromisoformat(NOW[:10]) + timedelta(days=2)
    days = [first + timedelta(days=n) for n in range(DAYS - 1)]
    return [f"{day}T{time}" for day in days for time in CLASS_TIMES]


def waiting_project(folder: Path, count: int) -> Path:
    """The demo project with `count` trial lessons booked and welcomed, reminders waiting."""
    project = demo_project(folder)
    slots = lesson_times()
    submissions = [{"submissionId": f"s{n}", "email": f"prospect.{n}@example.org",
                    "prenom": "Inès", "nom": f"Bréval {n}", "telephone": "0612345678",
                    "date_essai": slots[n % len(slots)]} for n in range(count)]  # fmt: skip
    data = folder.parent / "submissions.json"
    data.write_text(json.dumps(submissions, ensure_ascii=False), encoding="utf-8")
    for command in (("ingest", "--form", "cours-essai", data), ("tick",)):
        subprocess.run(salesflow(project, *command), check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(project / "outbox")  # the welcome emails: not the bench's
    connection = sqlite3.connect(project / "salesflow.db")
    waiting = connection.execute("SELECT count(*) FROM runs WHERE status = 'waiting'")
    assert waiting.fetchone()[0] == count, "every submission should wait for its reminder"
    connection.close()
    return project


def digest(database: Path) -> str:
    return hashlib.sha256(database.read_bytes()).hexdigest()


def copy_of(project: Path, target: Path) -> Path:
    """A copy of the project (configuration and database, no outbox) at `target`, made anew;
    the database is read only, as the plan reads it."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(project, target, ignore=shutil.ignore_patterns("salesflow.db*", "outbox"))
    source = sqlite3.connect(f"{(project / 'salesflow.db').as_uri()}?mode=ro", uri=True)
    copy = sqlite3.connect(target / "salesflow.db")
    source.backup(copy)
    source.close()
    copy.close()
    return target


def inside(side: str, project: Path, moments: list[str]) -> float:
    """Seconds `side` takes in this process, salesflow imported and the project loaded:
    the plan from the first moment, or a tick (with delivery) at each moment."""
    from salesflow.config.cache import load_project
    from salesflow.engine.plan import plan
    from salesflow.engine.tick import tick
    from salesflow.store.session import Store

    loaded = load_project(project)
    instants = [datetime.fromisoformat(moment) for moment in moments]
    began = time.perf_counter()
    if side == "plan":
        plan(loaded, instants[0], instants[0] + timedelta(days=DAYS))
    else:
        for moment in instants:
            store = Store.open(loaded, moment)
            tick(store)
            store.conn.close()
    return time.perf_counter() - began


def timed_inside(side: str, project: Path, moments: Path) -> float:
    done = subprocess.run([PYTHON, __file__, "--inside", side, project, moments],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        raise Failed((done.stderr.strip().splitlines() or ["(no message)"])[-1])
    return float(done.stdout)


def measure(scratch: Path, count: int, runs: int) -> list[Row]:
    project = waiting_project(scratch / "project", count)
    database = project / "salesflow.db"
    before = digest(database)
    command = salesflow(project, "plan", "--days", str(DAYS), "--json")
    began = time.perf_counter()
    planned = json.loads(subprocess.run(command, check=True, capture_output=True).stdout)
    took = time.perf_counter() - began
    moments = planned["moments"]
    listed = scratch / "moments.json"
    listed.write_text(json.dumps(moments))
    floor = scratch / "floor"
    changed = [digest(database)] if digest(database) != before else []

    def planned_alone() -> float:
        seconds = timed_inside("plan", project, listed)
        if digest(database) != before:
            changed.append(digest(database))
        return seconds

    pair = paired(lambda: timed_inside("ticks", copy_of(project, floor), listed), planned_alone,
                  runs)  # fmt: skip
    written = len(list((floor / "outbox").glob("*.eml")))
    counts = ", ".join(f"{number} {kind}" for kind, number in planned["counts"].items())
    print(f"salesflow plan --days {DAYS} --json: {took:.2f} s (once, start-up included);"
          f" {len(moments)} moments, {counts}; the ticks wrote {written} .eml files")  # fmt: skip
    if written < planned["counts"].get("email", 0):
        raise Failed("the ticks sent fewer emails than the plan foresaw: not the same work")
    others = sorted(path.name for path in project.glob("salesflow.db?*"))
    beside = f"beside it: {', '.join(others)}" if others else "nothing beside it"
    return [
        ratio_row(f"plan {DAYS} days over {count:,} waiting runs (in-process)",
                  f"{len(moments)} ticks (.eml)", pair, TARGET),
        Row(f"the real database's bytes after {runs + 1} plans", "—",
            f"changed: SHA-256 {changed[0][:16]}…" if changed else f"unchanged ({beside})",
            "unchanged", not changed),
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    inner = ("SIDE", "PROJECT", "MOMENTS")  # one side, timed in this process (not for people)
    parser.add_argument("--inside", nargs=3, metavar=inner, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        side, project, moments = args.inside
        print(inside(side, Path(project), json.loads(Path(moments).read_text())))
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        rows = measure(Path(scratch), args.waiting, args.runs)
    print_table(rows)
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
