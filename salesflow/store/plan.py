"""What `salesflow plan` reads and writes: its scratch copy of the database (the real one is
only ever opened for reading), what a tick wrote there after a mark, and when something is
next due."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from salesflow.config.model import DatabaseUrl
from salesflow.errors import UserError
from salesflow.store.copy import throwaway_copy
from salesflow.store.db import Connection, connect, connect_unchanged, open_read_only
from salesflow.store.session import Store
from salesflow.values import read_instant, stored_instant


def scratch_copy(database: Path | DatabaseUrl, path: Path) -> Connection:
    """A SQLite copy of the project's database at `path`, brought to the current schema;
    the database itself is opened read-only (SQLite) or as it is (PostgreSQL)."""
    source = (
        connect_unchanged(database) if isinstance(database, DatabaseUrl)
        else open_read_only(database)
    )  # fmt: skip
    if source is None:
        raise UserError(f"{database}: no database yet, so nothing is waiting: nothing to plan")
    try:
        throwaway_copy(source, path).close()
    finally:
        source.close()
    return connect(path)


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
