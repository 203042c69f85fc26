"""The floor of `salesflow ingest`: parse a JSON array of submissions with `json` and insert
one event per submission with `executemany`, in one transaction, into a table shaped like
salesflow's events (unique idempotency key, index for the pending ones).

    python bench/floor_ingest.py SUBMISSIONS.json DATABASE
"""

import json
import sqlite3
import sys

with open(sys.argv[1], encoding="utf-8") as file:
    submissions = json.load(file)
connection = sqlite3.connect(sys.argv[2])
connection.executescript(
    "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, type TEXT NOT NULL, key TEXT,"
    " data TEXT NOT NULL, created_at TEXT NOT NULL, processed_at TEXT);"
    "CREATE UNIQUE INDEX IF NOT EXISTS events_key ON events (key);"
    "CREATE INDEX IF NOT EXISTS events_pending ON events (processed_at, id);"
)
with connection:
    connection.executemany(
        "INSERT INTO events (type, key, data, created_at) VALUES ('form.submitted', ?, ?,"
        " '2026-11-22T09:00:00Z') ON CONFLICT (key) DO NOTHING",
        ((f"form:cours-essai:{s['submissionId']}", json.dumps(s)) for s in submissions),
    )
