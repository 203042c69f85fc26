"""A Store: the database connection, the project it belongs to, and the time it acts at."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from salesflow.config.model import Project
from salesflow.store.db import BUSY_TIMEOUT, connect, inserted_id
from salesflow.store.wakeups import RETURNING_ID, RETURNING_NOTHING
from salesflow.values import stored_instant


@dataclass
class Store:
    conn: sqlite3.Connection
    project: Project
    now: datetime
    event_depth: int = 0  # > 0 while a workflow run acts: how deep in a chain of events
    # while a run acts: whether an event of a kind (without a key: always new) is recorded
    # already processed, as no workflow would react to it (engine/process.py sets it)
    settles: Callable[[str], bool] | None = None
    _stamped: tuple[datetime | None, str] = field(default=(None, ""), repr=False)

    @classmethod
    def open(cls, project: Project, now: datetime, busy_timeout: float = BUSY_TIMEOUT) -> Store:
        return cls(connect(project.database, busy_timeout), project, now)

    @property
    def stamp(self) -> str:
        """Now, as the store writes instants (formatted once per `now`: a pass writes it
        hundreds of thousands of times)."""
        if self._stamped[0] is not self.now:
            self._stamped = (self.now, stored_instant(self.now))
        return self._stamped[1]

    def record_event(
        self, kind: str, subject_type: str | None, subject_id: int | None, data: dict, key=None
    ) -> int | None:
        """Record an event for the workflows, in the caller's transaction; an event whose
        idempotency key was seen before is ignored (None). A new one wakes the workers that
        listen (store/wakeups.py) once the caller commits."""
        return inserted_id(
            self.conn, _INSERT_EVENT,
            (kind, key, subject_type, subject_id, _as_json(data), self.stamp, self.event_depth,
             self.stamp if key is None and self.settles and self.settles(kind) else None),
            RETURNING_ID,
        )  # fmt: skip

    def record_events(self, kind: str, keyed: list[tuple[str | None, dict]]) -> int:
        """Record events of one kind without a subject, (key, data) each, in one statement;
        how many were new (the others' keys were seen before)."""
        stamp, depth = self.stamp, self.event_depth
        rows = [(kind, key, None, None, _as_json(data), stamp, depth, None) for key, data in keyed]
        return self.conn.executemany(
            _INSERT_EVENT + RETURNING_NOTHING[self.conn.dialect], rows
        ).rowcount


# json.dumps(data, ensure_ascii=False), without a new encoder per call (an ingest encodes
# one per submission)
_as_json = json.JSONEncoder(ensure_ascii=False).encode
_INSERT_EVENT = (
    "INSERT INTO events (type, key, subject_type, subject_id, data, created_at, depth,"
    " processed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING"
)
