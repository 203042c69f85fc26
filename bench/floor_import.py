"""The floor of `salesflow import` of the bench's prospects file: the same rows written into
salesflow's own schema, and nothing else.

It reads the cp1252, semicolon CSV with `csv`, folds each email's case and checks it with
salesflow's pattern (a bad one goes to a rejects file, with the same reason), converts the
day-first trial date to an ISO instant in the project's zone (each distinct text once), then
in one transaction upserts the contacts with one `executemany` — a known email only fills
its blanks, so a duplicate row or a second import writes nothing — and writes a
`contact.created` event for each contact it created, in one INSERT … SELECT. The database is
salesflow's (migrated, every index), with salesflow's settings: WAL, synchronous=NORMAL.
Run on its own database again, it is the floor of importing the same file a second time.

    python bench/floor_import.py PROSPECTS.csv DATABASE
"""

import csv
import json
import re
import sqlite3
import sys
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

NOW = "2026-11-22T09:00:00Z"  # the bench's --now, as salesflow stores it
ZONE = ZoneInfo("Europe/Paris")  # the demo project's timezone
EMAIL = re.compile(  # salesflow.values.EMAIL
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
UPSERT = (
    "INSERT INTO contacts (email, first_name, last_name, phone, company, fields, created_at,"
    f" updated_at) VALUES (?, ?, ?, ?, ?, ?, '{NOW}', '{NOW}') ON CONFLICT (email) DO UPDATE SET"
    " first_name = coalesce(contacts.first_name, excluded.first_name),"
    " last_name = coalesce(contacts.last_name, excluded.last_name),"
    " phone = coalesce(contacts.phone, excluded.phone),"
    " company = coalesce(contacts.company, excluded.company),"
    " fields = json_patch(excluded.fields, contacts.fields), updated_at = excluded.updated_at"
    " WHERE (excluded.first_name IS NOT NULL AND contacts.first_name IS NULL)"
    " OR (excluded.last_name IS NOT NULL AND contacts.last_name IS NULL)"
    " OR (excluded.phone IS NOT NULL AND contacts.phone IS NULL)"
    " OR (excluded.company IS NOT NULL AND contacts.company IS NULL)"
    " OR (json_extract(excluded.fields, '$.date_essai') IS NOT NULL"
    " AND json_extract(contacts.fields, '$.date_essai') IS NULL)"
)
EVENTS = (
    "INSERT INTO events (type, subject_type, subject_id, data, created_at)"
    " SELECT 'contact.created', 'contact', id, '{\"email\": ' || json_quote(email)"
    f' || \', "source": null, "by": "import"}}\', \'{NOW}\' FROM contacts WHERE id > ? ORDER BY id'
)


@lru_cache(maxsize=4096)
def fields(text: str) -> str:
    """`18/08/2027 18:30` → `{"date_essai": "2027-08-18T18:30:00+02:00"}`."""
    day, month, rest = text.split("/")
    year, _, clock = rest.partition(" ")
    hour, minute = clock.split(":")
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), tzinfo=ZONE)
    return json.dumps({"date_essai": moment.isoformat()})


def contacts(rows, rejects):
    for row in rows:
        email = row[2].strip().lower()
        if not EMAIL.match(email):
            rejects.writerow([*row, f"'{row[2].strip()}' is not an email address"])
            continue
        yield (email, row[0].strip() or None, row[1].strip() or None, row[3].strip() or None,
               row[4].strip() or None, fields(row[5].strip()))  # fmt: skip


def main(data: str, database: str) -> None:
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA temp_store = MEMORY")
    rejected = f"{database}.rejected.csv"
    with open(data, encoding="cp1252", newline="") as file, \
            open(rejected, "w", encoding="cp1252", newline="") as out:  # fmt: skip
        rows = csv.reader(file, delimiter=";")
        rejects = csv.writer(out, delimiter=";")
        rejects.writerow([*next(rows), "error"])
        connection.execute("BEGIN IMMEDIATE")
        before = connection.execute("SELECT coalesce(max(id), 0) FROM contacts").fetchone()[0]
        connection.executemany(UPSERT, contacts(rows, rejects))
        connection.execute(EVENTS, (before,))
        connection.execute("COMMIT")
    connection.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
