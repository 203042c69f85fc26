"""`make bench`: the performance targets in one table — measure, floor, ratio (min / median),
target, met or not. Each measure is a bench of its own in this folder, runnable alone with
its options; bench/engine.py, tick.py, delivery.py and validate.py check other targets.
Then PostgreSQL against SQLite (engines.py: no floor, the pair is the comparison), 1, 2 and
4 workers on PostgreSQL (workers.py) and the statements a submission costs on each engine
(in engines.py), on a throwaway PostgreSQL server; skipped, with one line, where none can
start.

    .venv/bin/python bench/all.py [--runs 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import board
import classify
import engines
import imports
import inbound
import ingest
import maildir
import plan
import process
import reports
import serve
import startup
import today
import workers
from common import Row, attempt, print_table
from databases import PostgreSQL, SQLite, postgres_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in ("ingest", "startup", "imports", "reports", "board", "today", "maildir"):
            (Path(scratch) / name).mkdir()
        rows += ingest.measure(Path(scratch) / "ingest", 100_000, args.runs)
        rows += process.measure(Path(scratch) / "process", 10_000, args.runs)
        rows += startup.measure(Path(scratch) / "startup", args.runs * 4)
        rows += imports.measure(Path(scratch) / "imports", 100_000, 1_000_000, args.runs)
        rows += reports.measure(Path(scratch) / "reports", 100_000, 1_000_000, args.runs)
        rows += board.measure(Path(scratch) / "board", 100_000, args.runs * 4)
        rows += today.measure(Path(scratch) / "today", 100_000, args.runs)
        rows += maildir.measure(Path(scratch) / "maildir", 10_000, args.runs)
        rows += classify.measure(10_000, args.runs)[0]
        mailbox = Path(scratch) / "inbound"  # its rows refused (a failed row) when they differ
        rows += attempt("inbound: poll 10,000 Maildir messages", f"≤ {inbound.TARGET:g}× (median)",
                        lambda: inbound.measure(mailbox, 10_000, args.runs)[0])  # fmt: skip
        rows += attempt(
            "plan 14 days over 10,000 waiting runs",
            f"≤ {plan.TARGET}× (median)",
            lambda: plan.measure(Path(scratch) / "plan", 10_000, args.runs),
        )
        rows += attempt("serve: post → welcome email queued", f"p99 ≤ {serve.TARGET:g}×",
                        lambda: serve.measure(Path(scratch) / "serve"))  # fmt: skip
        rows += postgresql(Path(scratch), args.runs)
    print_table(rows)
    return 0 if all(row.met for row in rows) else 1


def postgresql(scratch: Path, runs: int) -> list[Row]:
    """The PostgreSQL rows, or none where no server can start here."""
    with postgres_server() as server:
        if server is None:
            return []
        sqlite = SQLite(scratch)
        options = engines.options_parser().parse_args(["--runs", str(runs)])
        return [
            *engines.measure(scratch / "engines", sqlite, PostgreSQL(server, "engines"), options),
            *attempt("workers on PostgreSQL", workers.TARGET,
                     lambda: workers.measure(scratch, PostgreSQL(server, "workers"))),
        ]  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
