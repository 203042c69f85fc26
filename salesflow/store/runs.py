"""Workflow runs (`runs`) and their trace (`run_steps`): what the engine writes as runs
advance, and what people read of them (`runs show`, the deal page).

A run's subject is its contact, or its deal (a ticket's run keeps the ticket in `deal_id`);
`cursor` is its path of step ids as JSON, `anchor` what a waiting wait_until follows (JSON:
the field, and the step's path)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from salesflow.errors import NotFound
from salesflow.store.db import inserted_id
from salesflow.store.queues import ACTIVE_RUNS, HELD, LOCKED, RESUMABLE_RUNS
from salesflow.store.session import Store
from salesflow.values import read_instant, stored_instant


def get(store: Store, run_id: int) -> sqlite3.Row:
    run = store.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if run is None:
        raise NotFound(f"no run #{run_id} (see `salesflow runs list`)")
    return run


def start(
    store: Store,
    workflow_id: str,
    workflow_hash: str,
    subject: str | None,
    cursor: list[str] | None,
    *,
    contact_id: int | None = None,
    deal_id: int | None = None,
    event_id: int | None = None,
    depth: int = 0,
) -> dict[str, Any]:
    """A new running run at `cursor`: its row, as written (the engine goes on with it
    without reading it back)."""
    row = {
        "workflow": workflow_id, "workflow_hash": workflow_hash, "subject": subject,
        "contact_id": contact_id, "deal_id": deal_id, "event_id": event_id, "depth": depth,
        "status": "running", "cursor": json.dumps(cursor), "started_at": store.stamp,
        "updated_at": store.stamp,
    }  # fmt: skip
    run_id = inserted_id(
        store.conn,
        "INSERT INTO runs (workflow, workflow_hash, subject, contact_id, deal_id, event_id,"
        " depth, status, cursor, started_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        tuple(row.values()),
    )
    return {"id": run_id, **row, "reason": None, "wake_at": None, "anchor": None}


def enrolled(
    store: Store,
    workflow_id: str,
    subject: str,
    subject_id: int,
    *,
    active_only: bool,
    other_than: int | None = None,
) -> int | None:
    """A run of this subject (its deal for a deal or ticket, else its contact) in the
    workflow, other than `other_than` (`active_only`: running or waiting).

    The caller is about to enrol the subject if there is none, so on PostgreSQL its
    transaction first takes the subject's place in the workflow (a lock held until it ends):
    a worker enrolling the same subject at the same moment waits, then sees this run (on
    SQLite the write lock already makes every writer take turns)."""
    if store.conn.dialect == "postgresql":
        store.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
            (f"enrol:{workflow_id}:{subject}:{subject_id}",),
        )
    column = "contact_id" if subject == "contact" else "deal_id"
    statuses = f"AND {ACTIVE_RUNS}" if active_only else ""
    row = store.conn.execute(
        f"SELECT id FROM runs WHERE workflow = ? AND subject = ? AND {column} = ?"
        f" AND id IS DISTINCT FROM ? {statuses} LIMIT 1",
        (workflow_id, subject, subject_id, other_than),
    ).fetchone()
    return row[0] if row else None


def save(
    store: Store,
    run_id: int,
    status: str,
    *,
    cursor: list[str] | None,
    reason: str | None,
    contact_id: int | None,
    deal_id: int | None,
    wake: datetime | None = None,
    anchor: str | None = None,
) -> None:
    """The run's whole state after a step: where it stands, why, when it wakes, its records."""
    store.conn.execute(
        "UPDATE runs SET status = ?, cursor = ?, reason = ?, wake_at = ?, anchor = ?,"
        " contact_id = ?, deal_id = ?, updated_at = ? WHERE id = ?",
        (
            status, json.dumps(cursor) if cursor else None, reason,
            stored_instant(wake) if wake else None, anchor, contact_id, deal_id, store.stamp,
            run_id,
        ),
    )  # fmt: skip


def end(store: Store, run_id: int, status: str, reason: str) -> None:
    """Ended (cancelled or failed) where it stands."""
    store.conn.execute(
        "UPDATE runs SET status = ?, reason = ?, wake_at = NULL, updated_at = ? WHERE id = ?",
        (status, reason, store.stamp, run_id),
    )


def cancel_missed(store: Store, run_id: int, reason: str) -> None:
    """A scheduled run whose slot was missed (catch_up: none): cancelled before a step."""
    store.conn.execute(
        "UPDATE runs SET status = 'cancelled', reason = ? WHERE id = ?", (reason, run_id)
    )


def mark_resumed(store: Store, run_id: int) -> None:
    store.conn.execute("UPDATE runs SET status = 'running', wake_at = NULL WHERE id = ?", (run_id,))


def mark_retried(store: Store, run_id: int) -> None:
    store.conn.execute("UPDATE runs SET status = 'running', reason = NULL WHERE id = ?", (run_id,))


def resumable(store: Store, limit: int) -> list[int]:
    """Waiting runs whose time has come, soonest first, claimed for the caller's transaction
    (queues.LOCKED), in which they are resumed."""
    rows = store.conn.execute(
        f"SELECT id FROM runs WHERE {RESUMABLE_RUNS} ORDER BY wake_at, id LIMIT ?"
        f"{LOCKED[store.conn.dialect]}",
        (store.stamp, limit),
    ).fetchall()
    return [run_id for (run_id,) in rows]


def active_of(
    store: Store, workflow_id: str, contact_id: int | None, deal_id: int | None
) -> list[int]:
    """Running or waiting runs in the workflow of this deal, or of this contact, held for
    the caller's transaction (queues.HELD: it cancels them)."""
    rows = store.conn.execute(
        f"SELECT id FROM runs WHERE workflow = ? AND {ACTIVE_RUNS}"
        f" AND (deal_id = ? OR contact_id = ?){HELD[store.conn.dialect]}",  # = NULL: no row
        (workflow_id, deal_id, contact_id),
    ).fetchall()
    return [run_id for (run_id,) in rows]


def is_active(store: Store, run_id: int) -> bool:
    """Whether the run is running or waiting, held for the caller's transaction (which ends
    it)."""
    row = store.conn.execute(
        f"SELECT 1 FROM runs WHERE id = ? AND {ACTIVE_RUNS}{HELD[store.conn.dialect]}", (run_id,)
    ).fetchone()
    return row is not None


def anchored(store: Store, record: str, subject_id: int, anchors: list[str]) -> list[sqlite3.Row]:
    """Waiting runs of this contact (or deal, or ticket) whose wait follows one of `anchors`
    (`deal.date_essai`…), held for the caller's transaction (queues.HELD: it reschedules
    them)."""
    column = "contact_id" if record == "contact" else "deal_id"
    dialect = store.conn.dialect
    return store.conn.execute(
        f"SELECT * FROM runs WHERE status = 'waiting' AND {column} = ?"
        f" AND {_ANCHOR_FIELD[dialect]} IN ({', '.join('?' * len(anchors))}){HELD[dialect]}",
        (subject_id, *anchors),
    ).fetchall()


_ANCHOR_FIELD = {
    "sqlite": "json_extract(anchor, '$.field')",
    "postgresql": "CAST(anchor AS jsonb) ->> 'field'",
}


def reschedule(store: Store, run_id: int, wake: datetime) -> None:
    store.conn.execute("UPDATE runs SET wake_at = ? WHERE id = ?", (stored_instant(wake), run_id))


# Another version of the file than the current one, as a range on either side of it: read
# off the index (workflow, status, workflow_hash) of migration 22, where `<>` would read
# every waiting run of the workflow.
_ON_OLDER_FILE = "workflow = ? AND status = 'waiting' AND (workflow_hash < ? OR workflow_hash > ?)"
# Asked as two EXISTS: as one, SQLite reads the whole (workflow, status) range of the index
# (90 ms at 1,000,000 waiting runs, against 6 µs).
_ANY_ON_OLDER_FILE = (
    "SELECT EXISTS (SELECT 1 FROM runs WHERE workflow = ? AND status = 'waiting'"
    " AND workflow_hash < ?) OR EXISTS (SELECT 1 FROM runs WHERE workflow = ?"
    " AND status = 'waiting' AND workflow_hash > ?)"
)


def any_on_older_file(store: Store, workflow_id: str, content_hash: str) -> bool:
    """Whether a waiting run of the workflow started under another version of its file."""
    found = store.conn.execute(
        _ANY_ON_OLDER_FILE, (workflow_id, content_hash, workflow_id, content_hash)
    ).fetchone()[0]
    return bool(found)


def waiting_on_older_file(
    store: Store, workflow_id: str, content_hash: str, limit: int
) -> list[sqlite3.Row]:
    """Waiting runs of the workflow that started under another version of its file, held
    for the caller's transaction (which recomputes the wake-up of those whose wait follows
    a date, and marks them all with `content_hash`)."""
    return store.conn.execute(
        f"SELECT * FROM runs WHERE {_ON_OLDER_FILE} LIMIT ?{HELD[store.conn.dialect]}",
        (workflow_id, content_hash, content_hash, limit),
    ).fetchall()


def mark_file_version(store: Store, run_ids: list[int], content_hash: str) -> None:
    """These runs now follow `content_hash`'s version of their workflow's file."""
    store.conn.executemany(
        "UPDATE runs SET workflow_hash = ? WHERE id = ?", [(content_hash, i) for i in run_ids]
    )


def write_trace(store: Store, rows: Iterable[tuple]) -> None:
    """Trace rows (run_id, step, action, outcome, detail, at), in one statement."""
    store.conn.executemany(
        "INSERT INTO run_steps (run_id, step, action, outcome, detail, at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )


def public(run: sqlite3.Row, store: Store) -> dict:
    """A run as the CLI and the pages show it (its contact's email when the row has it)."""
    zone = store.project.timezone
    wake = read_instant(run["wake_at"], zone)
    return {
        "id": run["id"],
        "workflow": run["workflow"],
        "status": run["status"],
        "reason": run["reason"],
        "contact_id": run["contact_id"],
        "contact": run["contact_email"] if "contact_email" in run.keys() else None,  # noqa: SIM118
        "deal_id": run["deal_id"],
        "next_step": "/".join(json.loads(run["cursor"])) if run["cursor"] else None,
        "wake_at": wake.isoformat() if wake else None,
        "started_at": read_instant(run["started_at"], zone).isoformat(),
        "updated_at": read_instant(run["updated_at"], zone).isoformat(),
    }


def trace(store: Store, run_id: int) -> list[dict]:
    """Everything the run's steps did, in order."""
    rows = store.conn.execute(
        "SELECT * FROM run_steps WHERE run_id = ? ORDER BY id", (run_id,)
    ).fetchall()
    zone = store.project.timezone
    return [
        {"at": read_instant(row["at"], zone).isoformat(), "step": row["step"],
         "action": row["action"], "outcome": row["outcome"], "detail": row["detail"]}
        for row in rows
    ]  # fmt: skip


# --- Listings for the CLI (runs list/show, workflows list) ---


def listing(
    store: Store,
    workflow: str | None = None,
    status: str | None = None,
    contact_id: int | None = None,
    soonest_first: bool = False,
) -> list[sqlite3.Row]:
    """Runs with their contact's email, newest first (or soonest to wake first), filtered by
    workflow, status and contact."""
    clauses, params = [], []
    for column, value in (("r.workflow", workflow), ("r.status", status),
                          ("r.contact_id", contact_id)):  # fmt: skip
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    order = "r.wake_at, r.id" if soonest_first else "r.id DESC"
    return store.conn.execute(
        "SELECT r.*, c.email AS contact_email FROM runs r"
        f" LEFT JOIN contacts c ON c.id = r.contact_id{where} ORDER BY {order}",
        params,
    ).fetchall()


def with_contact(store: Store, run_id: int) -> sqlite3.Row | None:
    """One run with its contact's email (for `public`), None if there is no such run."""
    return store.conn.execute(
        "SELECT r.*, c.email AS contact_email FROM runs r"
        " LEFT JOIN contacts c ON c.id = r.contact_id WHERE r.id = ?",
        (run_id,),
    ).fetchone()


def active_by_workflow(store: Store) -> dict[str, int]:
    """How many runs are under way (running or waiting), by workflow id."""
    return dict(
        store.conn.execute(
            f"SELECT workflow, count(*) FROM runs WHERE {ACTIVE_RUNS} GROUP BY workflow"
        ).fetchall()
    )
