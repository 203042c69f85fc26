"""How many statements one submission costs through the demo workflow (the trial-lesson form:
contact, welcome email, owner, deal, notification, wait), by phase: taken in (serve's POST),
processed (the worker's pass), delivered (the eml-folder transport). On PostgreSQL each
statement is a round trip: the cost the issue says to watch. Counted as the store's calls to
its connection (execute and executemany; BEGIN, COMMIT and savepoints included), alone and
per submission in a batch of `--batch` (a pass's fixed statements spread over its events).

    .venv/bin/python bench/statements.py [--database postgresql://…] [--batch 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from common import demo_project

from salesflow.clock import now as project_now
from salesflow.config.cache import load_project
from salesflow.engine.process import Processor
from salesflow.ingest.forms import FormReader, receive
from salesflow.outbox.delivery import deliver
from salesflow.store.session import Store

NOW = "2026-11-22T10:00"
PHASES = ("taken in", "processed", "delivered")


class Counting:
    """A connection that counts the statements sent through it, by phase."""

    def __init__(self, connection) -> None:
        self.connection, self.phase, self.counts = connection, "", Counter()

    def execute(self, sql, params=()):
        self.counts[self.phase] += 1
        return self.connection.execute(sql, params)

    def executemany(self, sql, rows):
        self.counts[self.phase] += 1
        return self.connection.executemany(sql, rows)

    def __getattr__(self, name):
        return getattr(self.connection, name)


@dataclass
class Cost:
    submissions: int
    counts: Counter

    def per_submission(self) -> dict[str, float]:
        per = {phase: self.counts[phase] / self.submissions for phase in PHASES}
        return {**per, "total": sum(per.values())}


def count(project_root: Path, submissions: int, database: str | None = None) -> Cost:
    """Take in `submissions` trial-form posts (one transaction each, as serve does), then one
    pass processes them and one delivers their emails; the statements of each phase."""
    project = load_project(project_root, database)
    store = Store.open(project, project_now(NOW, project.timezone))
    counting = Counting(store.conn)
    store.conn = counting
    reader = FormReader(project, "cours-essai")
    try:
        counting.phase = "taken in"
        for n in range(submissions):
            payload = {"submissionId": f"s{n}", "email": f"ines{n}@example.org",
                       "prenom": "Inès", "nom": "Bréval", "telephone": "0612345678",
                       "date_essai": "2026-12-05T18:30"}  # fmt: skip
            receive(store, reader, payload, "web:cours-essai")
        counting.phase = "processed"
        assert Processor(store).run().runs == submissions
        counting.phase = "delivered"
        assert deliver(store).sent == 2 * submissions  # the welcome and the owner's notice
    finally:
        counting.connection.close()
    return Cost(submissions, counting.counts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="postgresql://… (an empty database); else SQLite")
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    print(f"{'statements per submission':<28}" + "".join(f"{p:>11}" for p in (*PHASES, "total")))
    for size in (1, args.batch):
        with tempfile.TemporaryDirectory() as scratch:
            root = demo_project(Path(scratch) / "project")
            cost = count(root, size, args.database)
        label = "alone" if size == 1 else f"in a batch of {size}"
        shown = "".join(f"{value:>11.1f}" for value in cost.per_submission().values())
        print(f"{label:<28}{shown}")
        if args.database:
            break  # the database is not emptied between the two
    return 0


if __name__ == "__main__":
    sys.exit(main())
