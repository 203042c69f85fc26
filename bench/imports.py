"""Benchmark: `salesflow import` of a 100,000-row CSV against a floor doing the same work.

The floor (bench/floor_import.py) writes what salesflow writes — the contacts, their emails'
case folded, the day-first dates as ISO instants, a `contact.created` event for each new one,
the rejects file — into salesflow's own schema with its settings (a copy of a freshly
migrated empty database: every index, WAL, synchronous=NORMAL), in one transaction with
executemany. Both start from that copy:
(a) the first import (the floor and `salesflow import`, each into its own empty copy);
(b) the same file again, each over the database its own first import left: both write nothing.
After each case every table's rows, the contacts' values and the events' data must be the
same in both databases, or no ratio is printed. Floor and import alternate (paired); whole
commands, start-up included (the project's cache made by one untimed import first).
Targets, by the median: (a) and (b) ≤ 1.5× the floor. Then the peak memory of importing
1,000,000 rows, and 100,000: < 80 MB, and within 10 MB of each other.

    .venv/bin/python bench/imports.py [--rows 100000] [--memory-rows 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

from common import (
    PYTHON,
    Row,
    RowsDiffer,
    attempt,
    demo_project,
    fresh,
    paired,
    peak_mb,
    print_table,
    ratio_row,
    salesflow,
    same_rows,
    timed,
)

FLOOR = Path(__file__).with_name("floor_import.py")
MIGRATED = "import sys; from pathlib import Path; from salesflow.store.db import connect;" \
           " connect(Path(sys.argv[1])).close()"  # fmt: skip
FIRST = ["Julie", "Inès", "Œdipe", "Chloé", "François", "Zoé", "Anaïs", "Jean-Baptiste", "Maëlle"]
LAST = ["Martin", "Bréval", "Lefèvre", "Dubois", "Müller", "Noël", "Çelik", "Goüin", "Le Gall"]
CONTENTS = {  # what must be alike beyond the counts
    "contacts": "SELECT email, first_name, last_name, phone, company, owner, source, tags,"
    " fields, created_at, updated_at FROM contacts ORDER BY email",
    "events": "SELECT c.email, e.type, e.data, e.created_at FROM events e"
    " JOIN contacts c ON c.id = e.subject_id ORDER BY c.email, e.type",
}


def make_csv(path: Path, rows: int) -> None:
    """A French Excel export: cp1252, semicolons, day-first dates; 1 % duplicates (another
    case of an earlier email), 0.5 % bad emails."""
    rng = random.Random(11)
    with path.open("w", encoding="cp1252", newline="") as file:
        file.write("Prénom;Nom;Adresse e-mail;Téléphone;Société;Date du cours d'essai\r\n")
        for n in range(rows):
            roll = rng.random()
            if roll < 0.005:
                email = f"pas-une-adresse-{n}"
            elif roll < 0.015 and n:
                email = f"Prospect.{rng.randrange(n)}@Example.org"
            else:
                email = f"prospect.{n}@example.org"
            day = f"{rng.randrange(1, 29):02}/{rng.randrange(1, 13):02}/2027 18:30"
            phone = f"0{rng.randrange(10**8, 10**9)}"
            name = f"{rng.choice(FIRST)};{rng.choice(LAST)}"
            file.write(f"{name};{email};{phone};Chorale n°{n % 50};{day}\r\n")


def same_contents(real: Path, floor: Path, what: str) -> None:
    """Every table's rows (common.same_rows), then the contacts and events themselves."""
    same_rows(real, floor, what)
    for table, sql in CONTENTS.items():
        if _read(real, sql) != _read(floor, sql):
            raise RowsDiffer(f"{what}: the floor's {table} differ from salesflow's: no ratio")


def _read(database: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def measure(scratch: Path, rows: int, memory_rows: int, runs: int) -> list[Row]:
    data = scratch / "prospects.csv"
    make_csv(data, rows)
    empty = scratch / "empty.db"
    timed([PYTHON, "-c", MIGRATED, empty])
    floor_db = scratch / "floor.db"
    project = demo_project(scratch / "project")
    database = project / "salesflow.db"
    command = salesflow(project, "import", data)

    def emptied(target: Path) -> None:
        fresh(target)
        shutil.copy(empty, target)

    def floor() -> float:
        return timed([PYTHON, FLOOR, data, floor_db])

    def floor_first() -> float:
        emptied(floor_db)
        return floor()

    def first() -> float:
        emptied(database)
        return timed(command)

    def again() -> float:
        return timed(command)

    def case(measure: str, pair) -> list[Row]:
        def rows_of() -> list[Row]:
            ratios = paired(*pair, runs)
            same_contents(database, floor_db, measure)
            return [ratio_row(measure, "csv + executemany, same rows", ratios, 1.5)]

        return attempt(measure, "≤ 1.5× (median)", rows_of)

    first()  # untimed: the project validated and cached, as any later command finds it
    results = case(f"import {rows:,} rows, empty database", (floor_first, first))
    results += case(f"import {rows:,} rows again (writes nothing)", (floor, again))
    if memory_rows:

        def peaks() -> list[Row]:
            return [_memory(scratch, project, rows, memory_rows, emptied)]

        results += attempt(f"import {memory_rows:,} rows: peak memory", "< 80 MB, flat", peaks)
    return results


def _memory(scratch: Path, project: Path, rows: int, memory_rows: int, emptied) -> Row:
    """Peak memory of importing `memory_rows` rows into an empty database, and `rows`."""
    peaks = []
    for count, name in ((rows, "prospects.csv"), (memory_rows, "big.csv")):
        data = scratch / name
        if not data.exists():
            make_csv(data, count)
        emptied(project / "salesflow.db")
        peaks.append(peak_mb(salesflow(project, "import", data)))
    small, big = peaks
    met = big < 80 and big - small <= 10
    figure = f"{big:.0f} MB ({rows:,} rows: {small:.0f} MB)"
    return Row(f"import {memory_rows:,} rows: peak memory", "—", figure,
               "< 80 MB, within 10 MB", met)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--memory-rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        rows = measure(Path(scratch), args.rows, args.memory_rows, args.runs)
    print_table(rows)
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
