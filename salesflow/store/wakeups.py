"""Waking `serve`'s workers when an event is recorded, wherever it is recorded.

On PostgreSQL every event recorded through the store's `record_event(s)` (forms, ingest, the
engine's events) notifies the channel `salesflow_events` (with `pg_notify` in the INSERT's
RETURNING list: no statement more, and the notification is sent by the commit that makes the
events visible, never before nor for a rolled-back one; an import's INSERT … SELECT of a
file's events does not, and is found by the next look, within a second); every
`serve` worker LISTENs on a connection of its own and looks for work at once. So a submission
taken in by another host, another `serve` or a `salesflow ingest` is handled within a pass,
not at the next look. SQLite has no such channel: there a worker is woken by its own server's
requests (web/site.py) and looks every second for what other processes wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from salesflow.config.model import DatabaseUrl

CHANNEL = "salesflow_events"
_NOTIFY = f"pg_notify('{CHANNEL}', '')"
# What ends an INSERT INTO events on PostgreSQL: the new event's id (RETURNING_ID; SQLite
# reads it from the cursor) or nothing (RETURNING_NOTHING, per engine) and the notification,
# once per new event inside the statement (PostgreSQL folds the same notification of one
# transaction into one).
RETURNING_ID = f" RETURNING id, {_NOTIFY}"
RETURNING_NOTHING = {"sqlite": "", "postgresql": f" RETURNING {_NOTIFY}"}


class Listener:
    """A connection of its own LISTENing on the channel; None of it on SQLite. It connects
    (again) when first waited on and after it was lost: its caller catches the error, closes
    it, and waits on it again later."""

    def __init__(self, url: DatabaseUrl, timeout: float):
        self.url = url
        self.timeout = timeout
        self.raw: Any = None  # psycopg's connection while listening

    def wait(self, seconds: float) -> bool:
        """Whether events were recorded: True when notified within `seconds` (after the first
        notification, the others already in are read too), and when it has just connected
        (events may have been recorded while nobody listened)."""
        if self.raw is None:
            from salesflow.store.postgres import connect  # only a PostgreSQL project's

            self.raw = connect(self.url, self.timeout).raw
            self.raw.execute(f"LISTEN {CHANNEL}")
            return True
        if not any(True for _ in self.raw.notifies(timeout=seconds, stop_after=1)):
            return False
        for _ in self.raw.notifies(timeout=0):  # those that came with it: one wake for all
            pass
        return True

    def close(self) -> None:
        if self.raw is not None:
            raw, self.raw = self.raw, None
            raw.close()


def listener(database: Path | DatabaseUrl, timeout: float) -> Listener | None:
    """A listener for the project's database, or None on SQLite (no channel to listen on)."""
    return Listener(database, timeout) if isinstance(database, DatabaseUrl) else None
