"""Benchmark: `salesflow import` of a 100,000-row CSV against a floor measured in the same run.

(a) floor: a bare Python process reading the file with csv.reader and upserting every row
    with sqlite3 executemany(... ON CONFLICT DO UPDATE) in one transaction;
(b) `salesflow import` of the file into an empty database (whole command, start-up included);
(c) `salesflow import` of the same file again.
Alternating floor and import (paired). Targets, by the median: (b) ≤ 3× floor, (c) ≤ 2×
floor. Then the peak memory of importing 1,000,000 rows
(target < 150 MB).

    .venv/bin/python bench/imports.py [--rows 100000] [--memory-rows 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

from common import (
    PYTHON,
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

FIRST = ["Julie", "Inès", "Œdipe", "Chloé", "François", "Zoé", "Anaïs", "Jean-Baptiste", "Maëlle"]
LAST = ["Martin", "Bréval", "Lefèvre", "Dubois", "Müller", "Noël", "Çelik", "Goüin", "Le Gall"]
FLOOR = """
import csv, sqlite3, sys
connection = sqlite3.connect(sys.argv[2])
connection.execute("CREATE TABLE IF NOT EXISTS contacts (id INTEGER PRIMARY KEY, email TEXT UNIQUE,"
                   " first_name TEXT, last_name TEXT, phone TEXT, company TEXT, date_essai TEXT)")
with open(sys.argv[1], encoding="cp1252", newline="") as file:
    rows = csv.reader(file, delimiter=";")
    next(rows)
    with connection:
        connection.executemany(
            "INSERT INTO contacts (first_name, last_name, email, phone, company, date_essai)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (email) DO UPDATE SET"
            " first_name = excluded.first_name, last_name = excluded.last_name,"
            " phone = excluded.phone, company = excluded.company, date_essai = excluded.date_essai",
            (row[:6] for row in rows),
        )
"""


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


def measure(scratch: Path, rows: int, memory_rows: int, runs: int) -> list[Row]:
    data = scratch / "prospects.csv"
    make_csv(data, rows)
    floor_db = scratch / "floor.db"
    project = demo_project(scratch / "project")
    database = project / "salesflow.db"
    command = salesflow(project, "import", data)

    def floor() -> float:
        fresh(floor_db)
        return timed([PYTHON, "-c", FLOOR, data, floor_db])

    def first() -> float:
        fresh(database)
        return timed(command)

    results = [
        ratio_row(f"import {rows:,} rows, empty database", "csv + executemany upsert",
                  paired(floor, first, runs), 3),
        ratio_row(f"import {rows:,} rows again", "csv + executemany upsert",
                  paired(floor, lambda: timed(command), runs), 2),
    ]  # fmt: skip
    if memory_rows:
        big = scratch / "big.csv"
        make_csv(big, memory_rows)
        fresh(database)
        peak = peak_mb(salesflow(project, "import", big))
        results.append(Row(f"import {memory_rows:,} rows: peak memory", "—", f"{peak:.0f} MB",
                           "< 150 MB", peak < 150))  # fmt: skip
    return results


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
