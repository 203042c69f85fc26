"""What `salesflow plan` reads and writes: its scratch copy of the database (the real one is
only ever opened for reading), what a tick wrote there after a mark, and when something is
next due."""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from salesflow.config.model import DatabaseUrl, shown
from salesflow.errors import EnvironmentFault, UserError
from salesflow.store.copy import throwaway_copy
from salesflow.store.db import Connection, connect, connect_unchanged, refuse_lost
from salesflow.store.session import Store
from salesflow.values import read_instant, stored_instant


def scratch_copy(database: Path | DatabaseUrl, path: Path) -> Connection:
    """A SQLite copy of the project's database at `path`, brought to the current schema;
    the database itself is only read (a PostgreSQL one as it is, not even migrated)."""
    if isinstance(database, DatabaseUrl):
        source = connect_unchanged(database)
        try:
            throwaway_copy(source, path).close()
        finally:
            source.close()
    else:
        _copy_file(database, path)
    try:
        return connect(path)
    except EnvironmentFault as error:  # a database of a newer salesflow: said of the database
        raise EnvironmentFault(str(error).replace(str(path), shown(database), 1)) from None


def _copy_file(database: Path, path: Path) -> None:
    """SQLite's online backup of the file, leaving nothing behind. While its WAL holds
    nothing (no -wal beside it, or an empty one) the file is read as immutable: no -shm or
    -wal is created beside it (a read-only folder, such as a CI artifact, would refuse them)
    — and read again the usual way if someone wrote to it meanwhile. Otherwise it is read
    the usual way, what its WAL holds included."""
    if not database.is_file() or database.stat().st_size == 0:
        refuse_lost(database)
        raise UserError(f"{database}: no database yet, so nothing is waiting: nothing to plan")
    before = _written(database)
    if before[-1] in (None, 0):
        with contextlib.suppress(sqlite3.DatabaseError):  # a page torn by that writer
            _backup(database, path, "mode=ro&immutable=1")
            if _written(database) == before:
                return
        path.unlink(missing_ok=True)
    _backup(database, path, "mode=ro")


def _written(database: Path) -> tuple[int, int, int | None]:
    """The file's size and last write, and its WAL's size (None without one)."""
    status = database.stat()
    wal = database.with_name(f"{database.name}-wal")
    return status.st_size, status.st_mtime_ns, wal.stat().st_size if wal.exists() else None


def _backup(database: Path, path: Path, options: str) -> None:
    source = sqlite3.connect(f"{database.resolve().as_uri()}?{options}", uri=True,
                             factory=Connection)  # fmt: skip
    try:
        throwaway_copy(source, path).close()
    finally:
        source.close()


@dataclass(frozen=True)
class Marks:
    """The last row of each table the plan reads effects from, before a tick."""

    steps: int
    events: int
    runs: int


def marks(store: Store) -> Marks:
    one = store.conn.execute(
        "SELECT (SELECT coalesce(max(id), 0) FROM run_steps),"
        " (SELECT coalesce(max(id), 0) FROM events), (SELECT coalesce(max(id), 0) FROM runs)"
    ).fetchone()
    return Marks(*one)


_STEPS = (
    "SELECT s.id, s.run_id, s.step, s.action, s.outcome, s.detail, r.workflow, r.status,"
    " r.contact_id, r.deal_id, c.email AS contact_email, d.pipeline, d.title AS deal_title"
    " FROM run_steps s JOIN runs r ON r.id = s.run_id"
    " LEFT JOIN contacts c ON c.id = r.contact_id LEFT JOIN deals d ON d.id = r.deal_id"
)


def steps_since(store: Store, mark: Marks) -> list[sqlite3.Row]:
    """The trace lines written after the mark, in order, with their run's subject."""
    return store.conn.execute(f"{_STEPS} WHERE s.id > ? ORDER BY s.id", (mark.steps,)).fetchall()


def runs_started_since(store: Store, mark: Marks) -> list[sqlite3.Row]:
    return store.conn.execute(
        "SELECT r.id, r.workflow, r.status, r.contact_id, r.deal_id, c.email AS contact_email,"
        " d.pipeline, d.title AS deal_title FROM runs r"
        " LEFT JOIN contacts c ON c.id = r.contact_id LEFT JOIN deals d ON d.id = r.deal_id"
        " WHERE r.id > ? ORDER BY r.id",
        (mark.runs,),
    ).fetchall()


def stalls_since(store: Store, mark: Marks) -> list[sqlite3.Row]:
    """The deals and tickets flagged stalled after the mark."""
    return store.conn.execute(
        "SELECT e.type, e.subject_id, e.data, d.title, d.pipeline, c.email AS contact_email"
        " FROM events e LEFT JOIN deals d ON d.id = e.subject_id"
        " LEFT JOIN contacts c ON c.id = d.contact_id"
        " WHERE e.id > ? AND e.type IN ('deal.stalled', 'ticket.stalled') ORDER BY e.id",
        (mark.events,),
    ).fetchall()


def next_wake(store: Store) -> datetime | None:
    """When the next waiting run wakes, after now."""
    row = store.conn.execute(
        "SELECT min(wake_at) FROM runs WHERE status = 'waiting' AND wake_at > ?", (store.stamp,)
    ).fetchone()
    return read_instant(row[0], store.project.timezone)


_A_SECOND = timedelta(seconds=1)  # instants are stored to the second


def next_quiet_end(store: Store, pipeline: str, stage: str, rot: timedelta) -> datetime | None:
    """The next moment after now when an open record of this stage may become stalled: its
    stage entry or last completed task `rot` ago, or an open task of it coming due (nothing
    planned any more)."""
    since = stored_instant(store.now - rot)
    row = store.conn.execute(
        "SELECT (SELECT min(stage_entered_at) FROM deals WHERE status = 'open'"
        " AND pipeline = ? AND stage = ? AND stage_entered_at > ?),"
        " (SELECT min(t.done_at) FROM tasks t JOIN deals d ON d.id = t.deal_id"
        " WHERE d.status = 'open' AND d.pipeline = ? AND d.stage = ? AND t.done_at > ?),"
        " (SELECT min(t.due_at) FROM tasks t JOIN deals d ON d.id = t.deal_id"
        " WHERE d.status = 'open' AND d.pipeline = ? AND d.stage = ? AND t.done_at IS NULL"
        " AND t.due_at > ?)",
        (pipeline, stage, since, pipeline, stage, since, pipeline, stage, store.stamp),
    ).fetchone()
    zone = store.project.timezone
    moments = [read_instant(row[0], zone), read_instant(row[1], zone)]
    # stalled means quiet for *longer* than rot (reports' `<`): a second after
    candidates = [moment + rot + _A_SECOND for moment in moments if moment is not None]
    if row[2] is not None:
        candidates.append(read_instant(row[2], zone))
    return min(candidates, default=None)


def waiting_deliveries(store: Store, until: datetime) -> list[sqlite3.Row]:
    """Emails and requests already queued or retrying, due by `until` (the plan takes them as
    delivered at their next attempt), with their run's subject."""
    return store.conn.execute(
        "SELECT o.id, o.kind, o.to_addr, o.subject, o.step, o.next_attempt_at, r.workflow,"
        " r.contact_id, r.deal_id, c.email AS contact_email, d.pipeline, d.title AS deal_title"
        " FROM outbox o LEFT JOIN runs r ON r.id = o.run_id"
        " LEFT JOIN contacts c ON c.id = r.contact_id LEFT JOIN deals d ON d.id = r.deal_id"
        " WHERE o.status IN ('queued', 'retrying', 'sending')"
        " AND coalesce(o.next_attempt_at, o.created_at) <= ? ORDER BY o.id",
        (stored_instant(until),),
    ).fetchall()
