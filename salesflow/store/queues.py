"""The work queues' due conditions, written once: the workers claim by them, `salesflow run`'s
quick path and `serve` ask with them whether anything is due, and `check` counts by them.

The checks are single indexed `LIMIT 1` queries: they answer without loading the engine.

Claiming, on two engines: on SQLite a claim is a read inside the write transaction
(`BEGIN IMMEDIATE`): one writer at a time, so the next one finds the work done. On
PostgreSQL several hosts read at once, so a claim locks the rows it reads (`FOR UPDATE SKIP
LOCKED`, `LOCKED` below): another worker skips them instead of waiting, and sees them again
only once the holder committed (done) or aborted (a killed process: its locks go with its
connection, and the work with them)."""

from __future__ import annotations

from salesflow.store.session import Store

PENDING_EVENTS = "processed_at IS NULL AND failed_at IS NULL"
FAILED_EVENTS = "failed_at IS NOT NULL AND processed_at IS NULL"  # until retried
ACTIVE = ("running", "waiting")  # a run under way
ACTIVE_RUNS = f"status IN {ACTIVE}"  # the tuple reads as SQL: status IN ('running', 'waiting')
RESUMABLE_RUNS = "status = 'waiting' AND wake_at <= ?"  # ? = now, stored
SENDABLE_MESSAGES = "status IN ('queued', 'retrying') AND next_attempt_at <= ?"  # ? = now
_IN_HAND = f"(({SENDABLE_MESSAGES}) OR status = 'sending')"  # sending: by a pass that may have died
LOCKED = {"sqlite": "", "postgresql": " FOR UPDATE SKIP LOCKED"}  # ends a claim's SELECT
# Ends a SELECT of rows the caller changes next, which another worker may hold (a run it is
# resuming): wait for it, then read them as it left them (PostgreSQL checks the conditions
# again on the new rows, so a run it finished is no longer found active).
HELD = {"sqlite": "", "postgresql": " FOR UPDATE"}
_KIND = {None: "", "email": "kind = 'email' AND ", "http": "kind = 'http' AND "}


def _exists(store: Store, table: str, condition: str, *params) -> bool:
    query = f"SELECT 1 FROM {table} WHERE {condition} LIMIT 1"
    return store.conn.execute(query, params).fetchone() is not None


def events_pending(store: Store) -> bool:
    return _exists(store, "events", PENDING_EVENTS)


def runs_resumable(store: Store) -> bool:
    return _exists(store, "runs", RESUMABLE_RUNS, store.stamp)


def messages_due(store: Store, kind: str | None = None) -> bool:
    """Outbox rows (of `kind`: email or http; else both) to send now, or being sent."""
    return _exists(store, "outbox", f"{_KIND[kind]}{_IN_HAND}", store.stamp)
