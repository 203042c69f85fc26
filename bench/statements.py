"""Benchmark: how many statements one form submission costs through the demo workflow —
`ingest`, then `process` (contact, welcome email, owner, deal, notification, wait, and the
events these raise) — on SQLite and on PostgreSQL, where each round trip to the server is a
wait. Counted by bench/counted.py for 100 and for 200 submissions, each into a fresh database:
the difference, divided by 100, leaves out what a command does once (start, schema check).

Prints the totals per submission (in `make bench`), and alone the statements that cost the
most, per submission, on each engine: where one stands out (one a row where one a batch
would do), that is the round trip to remove.

    .venv/bin/python bench/statements.py [--submissions 100] [--top 15]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

import ingest
from common import PYTHON, REPO, Row, attempt, demo_project, print_table, salesflow, timed
from databases import PostgreSQL, SQLite, postgres_server

STEPS = (("ingest", "--form", "cours-essai"), ("process",))
SHOWN = "(shown)"


def counted(project: Path, database: SQLite | PostgreSQL, forms: Path, scratch: Path) -> dict:
    """Statements and round trips of `ingest forms` then `process`, into a fresh database,
    by command and statement text."""
    database.fresh()
    counts = {}
    for step in STEPS:
        output = scratch / f"{step[0]}.json"
        arguments = [*step, forms] if step[0] == "ingest" else step
        timed([PYTHON, REPO / "bench" / "counted.py", output,
               *salesflow(project, *arguments)[1:]], database.env)  # fmt: skip
        counts[step[0]] = json.loads(output.read_text())
    return counts


def per_submission(scratch: Path, database: SQLite | PostgreSQL, submissions: int) -> dict:
    """{command: {"statements": Counter, "round_trips": Counter}}, per submission."""
    project = demo_project(scratch / f"project-{database.name}")
    runs = [
        counted(project, database, ingest.write_submissions(scratch / f"{n}.json", n), scratch)
        for n in (submissions, submissions * 2)
    ]
    fewer, more = runs
    return {
        command: {kind: difference(more[command][kind], fewer[command][kind], submissions)
                  for kind in ("statements", "round_trips")}
        for command in fewer
    }  # fmt: skip


def difference(more: dict, fewer: dict, submissions: int) -> Counter:
    """What `submissions` more cost, statement by statement, per submission."""
    return Counter({sql: (more.get(sql, 0) - fewer.get(sql, 0)) / submissions
                    for sql in more.keys() | fewer.keys()})  # fmt: skip


def totals(database: SQLite | PostgreSQL, counts: dict) -> Row:
    said = ", ".join(
        f"{command} {sum(kinds['statements'].values()):.1f}"
        f" ({sum(kinds['round_trips'].values()):.1f} round trips)"
        for command, kinds in counts.items()
    )
    statements = sum(sum(kinds["statements"].values()) for kinds in counts.values())
    trips = sum(sum(kinds["round_trips"].values()) for kinds in counts.values())
    return Row(
        f"statements per submission, ingest + process, {database.name}",
        "—",
        f"{statements:.1f}, {trips:.1f} round trips: {said}",
        SHOWN,
        True,
    )


def costliest(database: SQLite | PostgreSQL, counts: dict, top: int) -> None:
    print(f"\n{database.name}: statements per submission (round trips), costliest first")
    rows = [(kinds["statements"][sql], kinds["round_trips"][sql], command, sql)
            for command, kinds in counts.items() for sql in kinds["statements"]]  # fmt: skip
    for statements, trips, command, sql in sorted(rows, reverse=True)[:top]:
        print(f"  {statements:5.2f} ({trips:5.2f})  {command:8} {sql[:110]}")


def measure(scratch: Path, databases: list, submissions: int, top: int = 0) -> list[Row]:
    rows = []
    for database in databases:

        def count(database=database) -> list[Row]:
            counts = per_submission(scratch, database, submissions)
            if top:
                costliest(database, counts, top)
            return [totals(database, counts)]

        rows += attempt(f"statements per submission, {database.name}", SHOWN, count)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, postgres_server() as server:
        databases = [SQLite(Path(scratch))]
        if server is not None:
            databases.append(PostgreSQL(server, "statements"))
        rows = measure(Path(scratch), databases, args.submissions, args.top)
    print()
    print_table(rows)
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
