"""The events queue as people look at it: listing, one event, and what to do with a failed one.

An event is `pending` until a pass handles it, then `processed`; one whose handling raised is
`failed` with its error, skipped by later passes until `retry` puts it back (after a fix) or
`cancel` sets it aside.
"""

from __future__ import annotations

import json
import sqlite3

from salesflow.errors import NotFound, UserError
from salesflow.store.db import transaction
from salesflow.store.queues import FAILED_EVENTS, LOCKED, PENDING_EVENTS
from salesflow.store.session import Store
from salesflow.values import read_instant

STATUSES = ("pending", "processed", "failed")
_WHERE = {
    "pending": PENDING_EVENTS,
    "processed": "processed_at IS NOT NULL",
    "failed": FAILED_EVENTS,
}


def status(row: sqlite3.Row) -> str:
    if row["processed_at"]:
        return "processed"
    return "failed" if row["failed_at"] else "pending"


def listing(store: Store, wanted: str | None = None, limit: int = 100) -> list[sqlite3.Row]:
    """Events, newest first; only those in status `wanted` if given."""
    where = f" WHERE {_WHERE[wanted]}" if wanted else ""
    return store.conn.execute(
        f"SELECT * FROM events{where} ORDER BY id DESC LIMIT ?", (limit,)
    ).fetchall()


def get(store: Store, event_id: int) -> sqlite3.Row:
    row = find(store, event_id)
    if row is None:
        raise NotFound(f"no event #{event_id} (see `salesflow events list`)")
    return row


def find(store: Store, event_id: int) -> sqlite3.Row | None:
    return store.conn.execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()


# One event pass at a time on PostgreSQL: events are handled in the order they happened, so
# that a cancellation (event 250) always meets the run its cause (event 150) started — which
# two hosts taking batches side by side would not see, each in its own transaction. Runs and
# the outbox are claimed in parallel (queues.LOCKED); SQLite has one writer anyway.
_EVENT_PASS = {
    "sqlite": None,
    "postgresql": "SELECT pg_try_advisory_xact_lock(hashtextextended('salesflow events', 0))",
}


def pending_batch(store: Store, limit: int) -> list[sqlite3.Row]:
    """The oldest pending events, in the order they happened, claimed for the caller's
    transaction (queues.LOCKED): the pass handles and marks them in it, so the claim ends
    with the commit, or with the abort of a pass that died. None while another host's pass
    holds the events (PostgreSQL): it takes these too, in order."""
    one_pass = _EVENT_PASS[store.conn.dialect]
    if one_pass and not store.conn.execute(one_pass).fetchone()[0]:
        return []
    return store.conn.execute(
        f"SELECT * FROM events WHERE {PENDING_EVENTS} ORDER BY id LIMIT ?"
        f"{LOCKED[store.conn.dialect]}",
        (limit,),
    ).fetchall()


def mark_processed(store: Store, event_id: int, note: str | None) -> None:
    store.conn.execute(
        "UPDATE events SET processed_at = ?, note = ? WHERE id = ?",
        (store.stamp, note, event_id),
    )


def mark_processed_many(store: Store, done: list[tuple[int, str | None]]) -> None:
    """Mark these events processed, (id, note) each, in one executemany."""
    if done:
        store.conn.executemany(
            "UPDATE events SET processed_at = ?, note = ? WHERE id = ?",
            [(store.stamp, note, event_id) for event_id, note in done],
        )


def mark_idle_processed(store: Store, event_ids: list[int]) -> None:
    """Mark these events processed, without a note, in one executemany (one round trip on
    PostgreSQL, where psycopg pipelines it)."""
    if event_ids:
        store.conn.executemany(
            "UPDATE events SET processed_at = ?, note = NULL WHERE id = ?",
            [(store.stamp, event_id) for event_id in event_ids],
        )


def mark_failed(store: Store, event_id: int, reason: str) -> None:
    store.conn.execute(
        "UPDATE events SET failed_at = ?, error = ? WHERE id = ?",
        (store.stamp, reason, event_id),
    )


def public(row: sqlite3.Row, store: Store) -> dict:
    zone = store.project.timezone
    moments = {
        name: (read_instant(row[name], zone).isoformat() if row[name] else None)
        for name in ("created_at", "processed_at", "failed_at")
    }
    subject = f"{row['subject_type']} #{row['subject_id']}" if row["subject_type"] else None
    return {
        "id": row["id"], "type": row["type"], "key": row["key"], "subject": subject,
        "status": status(row), "data": _data(row["data"]), **moments,
        "error": row["error"], "note": row["note"],
    }  # fmt: skip


def _data(text: str):
    """An event's data; text that is not JSON (a row another tool wrote) as it is."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def retry(store: Store, event_ids: list[int] | None) -> int:
    """Failed events (these, or all of them) back to pending; how many."""
    clause, params = _failed(store, event_ids)
    with transaction(store.conn):
        return store.conn.execute(
            f"UPDATE events SET failed_at = NULL WHERE {clause}", params
        ).rowcount


def cancel(store: Store, event_ids: list[int]) -> int:
    """Failed events set aside for good: processed, with a note; how many."""
    clause, params = _failed(store, event_ids)
    with transaction(store.conn):
        return store.conn.execute(
            f"UPDATE events SET processed_at = ?, note = 'cancelled by hand: ' || error"
            f" WHERE {clause}",
            (store.stamp, *params),
        ).rowcount


def _failed(store: Store, event_ids: list[int] | None) -> tuple[str, tuple]:
    for event_id in event_ids or ():
        row = get(store, event_id)
        if status(row) != "failed":
            raise UserError(f"event #{event_id} is {status(row)}; only failed events are retried"
                            " or cancelled")  # fmt: skip
    if event_ids is None:
        return _WHERE["failed"], ()
    return f"id IN ({', '.join('?' * len(event_ids))})", tuple(event_ids)


def id_by_key(store: Store, key: str) -> int:
    """The id of the event recorded with this idempotency key (one is, the caller knows)."""
    return store.conn.execute("SELECT id FROM events WHERE key = ?", (key,)).fetchone()[0]


def mark_all_processed(store: Store) -> int:
    """Every event not processed yet (pending or failed) marked processed now, in the
    caller's transaction: a clean slate for `workflows test`; how many."""
    return store.conn.execute(
        "UPDATE events SET processed_at = ? WHERE processed_at IS NULL", (store.stamp,)
    ).rowcount
