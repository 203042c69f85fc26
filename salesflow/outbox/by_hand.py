"""What people do to one item: `outbox retry` and `outbox cancel` (and the pages' retry)."""

from __future__ import annotations

import sqlite3

from salesflow.errors import UserError
from salesflow.outbox.claims import is_stale
from salesflow.outbox.shown import noun
from salesflow.store import outbox
from salesflow.store.db import transaction
from salesflow.store.session import Store


def requeue(store: Store, row: sqlite3.Row) -> None:
    """`outbox retry`: a failed, retrying, cancelled or abandoned message goes at the next
    delivery, with its attempts counted afresh."""
    if row["status"] == "sending" and not is_stale(store, row):
        raise UserError(f"{noun(row)} is being sent by a pass right now")
    if row["status"] not in ("failed", "retrying", "cancelled", "sending"):
        raise UserError(f"{noun(row)} is {row['status']}; only failed, retrying,"
                        " cancelled or abandoned sending messages are retried")  # fmt: skip
    with transaction(store.conn):
        outbox.requeue(store, row["id"])


def cancel(store: Store, row: sqlite3.Row) -> None:
    """`outbox cancel`: a message that has not left (and is not leaving right now) stays."""
    if row["status"] == "sending" and not is_stale(store, row):
        raise UserError(f"{noun(row)} is being sent by a pass right now: too late")
    if row["status"] not in ("queued", "retrying", "failed", "sending"):
        raise UserError(f"{noun(row)} is {row['status']}: too late")
    with transaction(store.conn):
        outbox.cancel(store, row["id"], row["status"])
