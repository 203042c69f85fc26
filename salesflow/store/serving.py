"""What a running `salesflow serve` leaves for `salesflow check`: the database it opened (a
file's device and inode, a PostgreSQL database's system identifier and OID) and the 503s it
answered.

The database cannot hold "the database was deleted", so this is a small JSON file per serve
process in the project's `.salesflow/` folder. The process holds a lock on its file while it
runs (the lock dies with it, even when it is killed), so `check` tells a running serve from
one that stopped without trusting a pid. A serve that stops cleanly without a 503 removes its
file; files of stopped ones are read for their 503s for a week, then removed by the next serve.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from salesflow.config.locate import CACHE_DIR
from salesflow.config.model import Project, shown
from salesflow.values import read_instant, stored_instant

KEPT_FOR = timedelta(days=7)  # how long a stopped serve's 503s are reported
SAVE_EVERY = 1.0  # seconds between two writes of the file while 503s go on


@dataclass
class Unavailable:
    """The 503s a serve answered for faults of the environment."""

    count: int
    first: datetime
    last: datetime
    reason: str


@dataclass
class ServeRecord:
    """A serve process as `check` sees it."""

    pid: int
    started: datetime
    running: bool
    database: str
    identity: tuple[int, int] | None
    unavailable: Unavailable | None


class ServeState:
    """The state file of this serve process, locked for as long as it runs."""

    def __init__(self, project: Project, started: datetime, identity: tuple[int, int] | None):
        self.path = project.root / CACHE_DIR / f"serve-{os.getpid()}.json"
        # the database as messages name it: a password in SALESFLOW_DB is not written here
        self.record = {"pid": os.getpid(), "started": stored_instant(started),
                       "database": shown(project.database), "identity": identity,
                       "unavailable": None}  # fmt: skip
        _prune(project, started)
        try:
            self.path.parent.mkdir(exist_ok=True)
            self.file = self.path.open("w")
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file = None  # a project folder we cannot write to: check knows less
        self.save()

    def unavailable(self, now: datetime, reason: str) -> None:
        """Count one more 503, at `now`; written down at most once a second."""
        seen = self.record["unavailable"] or {"count": 0, "first": stored_instant(now)}
        seen.update(count=seen["count"] + 1, last=stored_instant(now), reason=reason)
        self.record["unavailable"] = seen
        if time.monotonic() - self.saved >= SAVE_EVERY:
            self.save()

    def save(self) -> None:
        self.saved = time.monotonic()
        if self.file is None:
            return
        try:
            self.file.seek(0)
            self.file.truncate()
            self.file.write(json.dumps(self.record))
            self.file.flush()
        except OSError:
            pass  # a full disk: the 503s are in the log

    def close(self) -> None:
        """At a clean stop: nothing to tell without 503s."""
        if self.file is None:
            return
        if self.record["unavailable"] is None:
            self.path.unlink(missing_ok=True)
        else:
            self.save()
        self.file.close()


def serve_records(project: Project) -> list[ServeRecord]:
    """Every serve that left a state file, running or stopped."""
    records = []
    for path in sorted((project.root / CACHE_DIR).glob("serve-*.json")):
        try:
            with path.open() as file:
                data = json.loads(file.read())
                running = _locked(file)
        except (OSError, ValueError):
            continue
        records.append(_record(data, running, project))
    return records


def _record(data: dict, running: bool, project: Project) -> ServeRecord:
    seen = data.get("unavailable")
    zone = project.timezone
    unavailable = seen and Unavailable(
        seen["count"], read_instant(seen["first"], zone), read_instant(seen["last"], zone),
        seen["reason"],
    )  # fmt: skip
    identity = tuple(data["identity"]) if data.get("identity") else None
    return ServeRecord(data["pid"], read_instant(data["started"], zone), running,
                       data["database"], identity, unavailable)  # fmt: skip


def _locked(file) -> bool:
    """Whether a running serve holds the lock on this file."""
    try:
        fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(file, fcntl.LOCK_UN)
    return False


def _prune(project: Project, now: datetime) -> None:
    """Remove the files of stopped serves whose last 503 is older than KEPT_FOR."""
    for record in serve_records(project):
        last = record.unavailable.last if record.unavailable else record.started
        if not record.running and now - last > KEPT_FOR:
            (project.root / CACHE_DIR / f"serve-{record.pid}.json").unlink(missing_ok=True)
