"""Benchmark: PostgreSQL against SQLite, paired in the same run on the same machine: the same
whole commands (start-up included) on the same demo project, alternating SQLite, PostgreSQL,
SQLite…, each into a fresh database that has its tables and nothing else (databases.py):

- `salesflow ingest` of 10,000 submissions;
- `salesflow process` of 1,000 (the demo workflow: contact, welcome email, owner, deal,
  notification, wait, and the events these raise);
- `salesflow import` of a 100,000-row CSV;
- the board page (`GET /` of `serve --no-worker`) with 100,000 open deals;
- `serve --no-worker` taking form posts at fixed rates (100 and 200 a second): p99 latency
  counted from each post's due time (bench/serve.py's open loop);
- and the statements one submission costs through the demo workflow on each (each one a
  round trip on PostgreSQL: bench/statements.py, alone, shows which).

Each ratio is PostgreSQL's figure over SQLite's, pair by pair (min / median). There is no
floor and no target: the pair is the comparison. A command that fails on either engine is
shown failed (and `make bench` exits 1).

    .venv/bin/python bench/engines.py [--submissions 10000] [--processed 1000]
        [--rows 100000] [--deals 100000] [--rates 100,200] [--seconds 5] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import board
import imports
import ingest
import serve
import statements
from common import (
    Failed,
    Pair,
    Row,
    attempt,
    demo_project,
    free_port,
    paired,
    print_table,
    salesflow,
)
from common import timed as timed_command
from databases import PostgreSQL, SQLite, postgres_server

SHOWN = "none: the pair is the comparison"


def compared(measure: str, pair: Pair, unit: str = "s") -> Row:
    """A row: SQLite's best figure, and PostgreSQL's over SQLite's, pair by pair."""
    shown = f"{pair.floor:.2f} s" if unit == "s" else f"{pair.floor * 1000:.1f} ms"
    return Row(
        measure,
        f"SQLite {shown}",
        f"{min(pair.ratios):.2f}× / {statistics.median(pair.ratios):.2f}×",
        SHOWN,
        True,
    )


def timed(command: list, database: SQLite | PostgreSQL) -> float:
    """Seconds `command` took on `database`; a failure says on which engine."""
    try:
        return timed_command(command, database.env)
    except Failed as error:
        raise Failed(f"{database.name}: {error}") from None


def commands(scratch: Path, sqlite: SQLite, postgresql: PostgreSQL, options) -> list[Row]:
    """ingest, process and import, whole commands, each into a fresh database."""
    project = demo_project(scratch / "project")
    forms = ingest.write_submissions(scratch / "forms.json", options.submissions)
    fewer = ingest.write_submissions(scratch / "fewer.json", options.processed)
    csv = scratch / "prospects.csv"
    imports.make_csv(csv, options.rows)

    def ingest_all(database) -> float:
        database.fresh()
        return timed(salesflow(project, "ingest", "--form", "cours-essai", forms), database)

    def process_all(database) -> float:
        database.fresh()
        timed(salesflow(project, "ingest", "--form", "cours-essai", fewer), database)
        return timed(salesflow(project, "process"), database)

    def import_all(database) -> float:
        database.fresh()
        return timed(salesflow(project, "import", csv), database)

    cases = {
        f"ingest {options.submissions:,} submissions": ingest_all,
        f"process {options.processed:,} submissions (demo workflow)": process_all,
        f"import {options.rows:,} rows, empty database": import_all,
    }

    def compare(measure: str, run: Callable[[SQLite | PostgreSQL], float]) -> list[Row]:
        pair = paired(lambda: run(sqlite), lambda: run(postgresql), options.runs)
        return [compared(measure, pair)]

    rows = []
    for measure, run in cases.items():
        rows += attempt(measure, SHOWN, partial(compare, measure, run))
    return rows


@contextlib.contextmanager
def serving(project: Path, database: SQLite | PostgreSQL) -> Iterator[int]:
    """`salesflow serve --no-worker` on `database`, answering on the port given."""
    port = free_port()
    command = serve.serve_command(project, port, "--no-worker")
    try:
        server = serve.started(command, port, database.env)
    except Failed as error:
        raise Failed(f"{database.name}: {error}") from None
    try:
        yield port
    finally:
        server.terminate()
        server.wait(30)


def board_page(scratch: Path, sqlite: SQLite, postgresql: PostgreSQL, options) -> Row:
    """GET / with `deals` open deals, each engine's server in turn."""
    project = demo_project(scratch / "board")
    for database in (sqlite, postgresql):
        database.fresh()
        board.fill(project, database.connect(), options.deals, database.env)
    with serving(project, sqlite) as first, serving(project, postgresql) as second:
        clients = [board.signed_in(f"http://127.0.0.1:{port}") for port in (first, second)]
        for client in clients:
            board.page_time(client)  # the first compiles the templates
        times = [(board.page_time(clients[0]), board.page_time(clients[1]))
                 for _ in range(options.runs * 4)]  # fmt: skip
    pair = Pair(min(a for a, _ in times), [b / a for a, b in times])
    return compared(f"board page (GET /), {options.deals:,} open deals", pair, "ms")


def posts(scratch: Path, sqlite: SQLite, postgresql: PostgreSQL, options) -> list[Row]:
    """Form posts at fixed rates to each engine's server in turn: p99 latency, errors."""
    project = demo_project(scratch / "posts")
    for database in (sqlite, postgresql):
        database.fresh()
    rows = []
    with serving(project, sqlite) as first, serving(project, postgresql) as second:
        for rate in options.rates:
            loads = [
                (asyncio.run(serve.open_loop(first, rate, options.seconds)),
                 asyncio.run(serve.open_loop(second, rate, options.seconds)))
                for _ in range(options.runs)
            ]  # fmt: skip
            rows.append(rate_row(rate, loads))
    return rows


def rate_row(rate: int, loads: list[tuple[serve.Load, serve.Load]]) -> Row:
    ratios = [ours.percentile(0.99) / floor.percentile(0.99) for floor, ours in loads]
    first, second = loads[-1]
    errors = [sum((load[n].errors for load in loads), Counter()) for n in (0, 1)]
    return Row(
        f"serve {rate} posts/s: PostgreSQL p50 {second.percentile(0.5) * 1000:.1f} ms,"
        f" p99 {second.percentile(0.99) * 1000:.1f} ms, {serve.said(errors[1])}",
        f"SQLite p99 {first.percentile(0.99) * 1000:.1f} ms, {serve.said(errors[0])}",
        f"{min(ratios):.2f}× / {statistics.median(ratios):.2f}×",
        SHOWN,
        True,
    )


def statements_per_submission(scratch: Path, sqlite: SQLite, postgresql: PostgreSQL,
                              submissions: int = 100) -> list[Row]:  # fmt: skip
    """Statements one submission costs through the demo workflow (bench/statements.py: each
    a round trip on PostgreSQL), in a batch of `submissions`, on each engine."""
    rows = []
    for database in (sqlite, postgresql):
        database.fresh()
        project = demo_project(scratch / f"statements-{database.name}")
        per = statements.count(project, submissions, database.env["SALESFLOW_DB"]).per_submission()
        phases = ", ".join(f"{phase} {per[phase]:.1f}" for phase in statements.PHASES)
        rows.append(Row(f"statements per submission through the demo workflow, {database.name}",
                        "—", f"{per['total']:.1f} ({phases})", "(shown)", True))  # fmt: skip
    return rows


def measure(scratch: Path, sqlite: SQLite, postgresql: PostgreSQL, options) -> list[Row]:
    """Every case, PostgreSQL against SQLite."""
    return [
        *commands(scratch, sqlite, postgresql, options),
        *attempt("board page (GET /)", SHOWN,
                 lambda: [board_page(scratch, sqlite, postgresql, options)]),
        *attempt("serve, posts at fixed rates", SHOWN,
                 lambda: posts(scratch, sqlite, postgresql, options)),
        *attempt("statements per submission", "(shown)",
                 lambda: statements_per_submission(scratch, sqlite, postgresql)),
    ]  # fmt: skip


def options_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument("--processed", type=int, default=1_000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--rates", type=lambda text: [int(r) for r in text.split(",")],
                        default=[100, 200])  # fmt: skip
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--runs", type=int, default=5)
    return parser


def main() -> int:
    options = options_parser().parse_args()
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch, postgres_server() as server:
        if server is None:
            return 0
        sqlite, postgresql = SQLite(Path(scratch)), PostgreSQL(server, "engines")
        rows = measure(Path(scratch), sqlite, postgresql, options)
    print_table(rows)
    print(f"({time.monotonic() - began:.0f} s)")
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
