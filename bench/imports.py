"""Benchmark: `salesflow import` of a 100,000-row CSV against a floor measured in the same run.

(a) floor: a bare Python process reading the file with csv.reader and upserting every row
    with sqlite3 executemany(... ON CONFLICT DO UPDATE) in one transaction;
(b) `salesflow import` of the file into an empty database (whole command, start-up included);
(c) `salesflow import` of the same file again.
Targets: (b) ≤ 3× floor, (c) ≤ 2× floor. Then the peak memory of importing 1,000,000 rows
(target < 150 MB).

    .venv/bin/python bench/imports.py [--rows 100000] [--memory-rows 1000000]
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SALESFLOW = Path(sys.executable).parent / "salesflow"
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


def project_in(folder: Path) -> Path:
    folder.mkdir()
    shutil.copy(REPO / "salesflow.yaml", folder)
    shutil.copytree(REPO / "pipelines", folder / "pipelines")
    shutil.copytree(REPO / "workflows", folder / "workflows")
    subprocess.run([SALESFLOW, "--project", folder, "validate"], check=True, capture_output=True)
    return folder


def timed(command: list) -> float:
    began = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def best_of(runs: int, prepare, command: list) -> float:
    times = []
    for _ in range(runs):
        prepare()
        times.append(timed(command))
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--memory-rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        data = scratch / "prospects.csv"
        make_csv(data, args.rows)
        print(f"{args.rows:,} rows, {data.stat().st_size / 1e6:.1f} MB")
        floor_db = scratch / "floor.db"
        floor = best_of(args.runs, lambda: floor_db.unlink(missing_ok=True),
                        [sys.executable, "-c", FLOOR, data, floor_db])  # fmt: skip
        project = project_in(scratch / "project")
        database = project / "salesflow.db"

        def empty() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)

        command = [SALESFLOW, "--project", project, "--now", "2026-11-22T10:00", "import", data]
        first = best_of(args.runs, empty, command)
        again = best_of(args.runs, lambda: None, command)
        print(f"(a) floor: csv + sqlite3 executemany upsert  {floor:6.2f} s")
        print(f"(b) salesflow import, empty database        {first:6.2f} s  {first / floor:4.1f}×"
              " (target ≤ 3×)")  # fmt: skip
        print(f"(c) salesflow import, same file again       {again:6.2f} s  {again / floor:4.1f}×"
              " (target ≤ 2×)")  # fmt: skip
        ok = first <= 3 * floor and again <= 2 * floor
        if args.memory_rows:
            big = scratch / "big.csv"
            make_csv(big, args.memory_rows)
            empty()
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            seconds = timed([*command[:-1], big])
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            note = "" if peak > before else " (at most; an earlier child peaked higher)"
            print(f"{args.memory_rows:,} rows: {seconds:.1f} s, peak memory {peak / 1024:.0f} MB"
                  f"{note} (< 150 MB)")  # fmt: skip
            ok = ok and peak / 1024 < 150
        print("ok" if ok else "TARGET MISSED")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
