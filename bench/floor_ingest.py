"""The floor of `salesflow ingest --form cours-essai`: the rows it writes, and nothing else.

Into a copy of salesflow's migrated, empty database (its schema, indexes and triggers), with
salesflow's settings (WAL, synchronous = NORMAL, foreign keys, temp_store in memory): the
JSON array read whole with `json`, each submission normalised as the demo form says, the
plain way (email stripped and lower-cased, text stripped, the trial's date-time in the
project's zone, key `form:cours-essai:<submissionId>`), and one `form.submitted` event per
submission written with one `executemany`, in one transaction — the same `data` JSON, key,
created_at and depth as salesflow's.

    python bench/floor_ingest.py SUBMISSIONS.json DATABASE
"""

import json
import sqlite3
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Europe/Paris")  # the demo project's timezone
CREATED_AT = "2026-11-22T09:00:00Z"  # the bench's --now (10:00 in Paris), as salesflow stores it


def event(submission: dict) -> tuple[str, str]:
    """(key, data) of one submission of the demo's flat trial-lesson form."""
    data = {
        "form": "cours-essai",
        "email": submission["email"].strip().lower(),
        "prenom": submission["prenom"].strip(),
        "nom": submission["nom"].strip(),
        "telephone": submission["telephone"].strip(),
        "date_essai": datetime.fromisoformat(submission["date_essai"].strip())
        .replace(tzinfo=ZONE)
        .isoformat(),
    }
    return f"form:cours-essai:{submission['submissionId']}", json.dumps(data, ensure_ascii=False)


def main(submissions_path: str, database: str) -> None:
    with open(submissions_path, encoding="utf-8") as file:
        submissions = json.load(file)
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA temp_store = MEMORY")
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany(
        "INSERT INTO events (type, key, subject_type, subject_id, data, created_at, depth)"
        f" VALUES ('form.submitted', ?, NULL, NULL, ?, '{CREATED_AT}', 0)"
        " ON CONFLICT (key) DO NOTHING",
        map(event, submissions),
    )
    connection.execute("COMMIT")
    connection.close()


if __name__ == "__main__":
    main(*sys.argv[1:3])
