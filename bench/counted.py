"""One `salesflow` command run in this process, counting what its database connections are
asked to run, by statement text; written to OUTPUT as JSON: {"statements": {sql: n},
"round_trips": {sql: n}}.

Counted where the store calls its connection (`execute`, `executemany`), on both engines, so
a statement is known by its text with placeholders. A statement is one `execute`, or one row
of an `executemany`; a round trip is one `execute`, or one `executemany` (psycopg sends its
rows in one pipeline; on SQLite nothing travels, the count says what PostgreSQL would wait
for).

    python bench/counted.py OUTPUT.json [salesflow arguments…]
"""

import atexit
import json
import os
import sys
from collections import Counter

from salesflow.cli import main
from salesflow.store import db

statements: Counter = Counter()
round_trips: Counter = Counter()


def tally(sql: str, rows: int) -> None:
    text = " ".join(sql.split())
    statements[text] += rows
    round_trips[text] += 1


def count_calls(connection_class: type) -> type:
    """`connection_class` with its execute and executemany counted."""

    class Counted(connection_class):
        def execute(self, sql, parameters=()):
            tally(sql, 1)
            return super().execute(sql, parameters)

        def executemany(self, sql, rows):
            rows = list(rows)
            tally(sql, len(rows))
            return super().executemany(sql, rows)

    return Counted


def write(output: str) -> None:
    with open(output, "w", encoding="utf-8") as file:
        json.dump({"statements": statements, "round_trips": round_trips}, file)


if os.environ.get("SALESFLOW_DB", "").startswith("postgresql"):
    from salesflow.store import postgres

    postgres.Connection = count_calls(postgres.Connection)
else:
    db.Connection = count_calls(db.Connection)
atexit.register(write, sys.argv[1])
sys.argv = ["salesflow", *sys.argv[2:]]
main()
