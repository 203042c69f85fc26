"""Rejected submissions, kept as they were received: from the web (`serve`), `ingest` and
the inbox. A reject is `open` until a retry takes it in after a fix of the form (`retried`,
with the event it became); nothing a sender posted is ever dropped.
"""

from __future__ import annotations

import sqlite3

from salesflow.errors import NotFound
from salesflow.store.session import Store
from salesflow.values import read_instant

OPEN = "retried_at IS NULL"
_WHERE = {"open": OPEN, "retried": "retried_at IS NOT NULL"}


def add(store: Store, source: str, form: str | None, body: str, error: str) -> int:
    """Keep one rejected submission, in the caller's transaction."""
    return store.conn.execute(
        "INSERT INTO rejects (source, form, received_at, body, error) VALUES (?, ?, ?, ?, ?)"
        " RETURNING id",
        (source, form, store.stamp, body, error),
    ).fetchone()[0]


def add_many(store: Store, source: str, form: str | None, kept: list[tuple[str, str]]) -> None:
    """Keep a file's rejected submissions, (body, error) each, in one statement — except those
    an earlier ingest of the same source kept and nobody retried yet (the file read again:
    the same submissions, not new ones; within one file, each is kept)."""
    store.conn.executemany(
        "INSERT INTO rejects (source, form, received_at, body, error) SELECT ?, ?, ?, ?, ?"
        " WHERE NOT EXISTS (SELECT 1 FROM rejects WHERE source = ? AND body = ?"
        f" AND form IS NOT DISTINCT FROM ? AND received_at != ? AND {OPEN})",
        [(source, form, store.stamp, body, error, source, body, form, store.stamp)
         for body, error in kept],
    )  # fmt: skip


def listing(store: Store, wanted: str | None = None, limit: int = 100) -> list[sqlite3.Row]:
    """Rejects, newest first; only those in status `wanted` if given."""
    where = f" WHERE {_WHERE[wanted]}" if wanted else ""
    return store.conn.execute(
        f"SELECT * FROM rejects{where} ORDER BY id DESC LIMIT ?", (limit,)
    ).fetchall()


def get(store: Store, reject_id: int) -> sqlite3.Row:
    row = store.conn.execute("SELECT * FROM rejects WHERE id = ?", (reject_id,)).fetchone()
    if row is None:
        raise NotFound(f"no reject #{reject_id} (see `salesflow rejects list`)")
    return row


def mark_retried(store: Store, reject_id: int, event_id: int | None) -> None:
    store.conn.execute(
        "UPDATE rejects SET retried_at = ?, event_id = ? WHERE id = ?",
        (store.stamp, event_id, reject_id),
    )


def count_open(store: Store) -> int:
    return store.conn.execute(f"SELECT count(*) FROM rejects WHERE {OPEN}").fetchone()[0]


def public(row: sqlite3.Row, store: Store, with_body: bool = False) -> dict:
    zone = store.project.timezone
    data = {
        "id": row["id"], "source": row["source"], "form": row["form"],
        "status": "retried" if row["retried_at"] else "open",
        "received_at": read_instant(row["received_at"], zone).isoformat(),
        "error": row["error"], "event_id": row["event_id"],
    }  # fmt: skip
    if with_body:
        data["body"] = row["body"]
    return data
