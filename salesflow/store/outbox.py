"""The `outbox` table: emails and `http` steps' requests, queued in a step's transaction,
claimed by a delivery pass under a lease, marked with what became of them.

Every mark after a claim holds only while the item is still the pass's own (`claimed_by`):
an item cancelled by hand, or taken over after its lease ran out, is no longer the pass's
to mark."""

from __future__ import annotations

import json
import sqlite3

from salesflow.errors import NotFound
from salesflow.store.db import inserted_id
from salesflow.store.queues import LOCKED, SENDABLE_MESSAGES
from salesflow.store.session import Store
from salesflow.values import read_instant

_STILL_CLAIMED = "id = ? AND status = 'sending' AND claimed_by IS NOT DISTINCT FROM ?"
# Leases are measured on the database's clock, which every host using it shares (SQLite's
# 'now' is its one host's wall clock), as a stored instant `?` seconds from now.
_STORED_INSTANT = 'YYYY-MM-DD"T"HH24:MI:SS"Z"'  # values.stored_instant, in PostgreSQL's words
_CLOCK = {
    "sqlite": "strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ? || ' seconds')",
    "postgresql": "to_char(now() AT TIME ZONE 'UTC' + CAST(? AS integer) * interval '1 second',"
    f" '{_STORED_INSTANT}')",
}


def public(row: sqlite3.Row, store: Store) -> dict:
    """An item as lists show it (its whole content: outbox.shown.full)."""
    zone = store.project.timezone
    moments = {
        name: (read_instant(row[name], zone).isoformat() if row[name] else None)
        for name in ("created_at", "sent_at", "next_attempt_at")
    }
    data = {
        "id": row["id"], "message_id": row["message_id"], "to": row["to_addr"],
        "to_name": row["to_name"], "subject": row["subject"], "status": row["status"],
        "attempts": row["attempts"], "last_error": row["last_error"], "run_id": row["run_id"],
        "step": row["step"], "kind": row["kind"], "response": row["response"], **moments,
    }  # fmt: skip
    if row["status"] not in ("queued", "retrying"):
        data["next_attempt_at"] = None
    return data


def add_email(
    store: Store,
    run_id: int | None,
    step: str | None,
    message_id: str,
    sender: str,
    reply_to: str | None,
    to: tuple[str | None, str],
    parts: tuple[str, str, str | None],
    headers: dict,
    attachments: list[dict],
) -> int:
    """Queue an email in the caller's transaction; its outbox id. `parts`: (subject, text,
    html)."""
    name, address = to
    subject, text, html = parts
    return inserted_id(
        store.conn,
        "INSERT INTO outbox (run_id, step, message_id, sender, reply_to, to_addr, to_name,"
        " subject, text, html, headers, attachments, status, created_at, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
        (
            run_id, step, message_id, sender, reply_to, address, name, subject, text, html,
            json.dumps(headers), json.dumps(attachments), store.stamp, store.stamp,
        ),
    )  # fmt: skip


def add_request(
    store: Store,
    run_id: int | None,
    step: str | None,
    key: str,
    method: str,
    shown_url: str,
    request: dict,
    body: str,
) -> int:
    """Queue a request in the caller's transaction (`key`: its Idempotency-Key; `request`:
    its URL and headers as pieces; `shown_url` the URL as people read it); its outbox id."""
    return inserted_id(
        store.conn,
        "INSERT INTO outbox (kind, run_id, step, message_id, to_addr, subject, text, request,"
        " status, created_at, next_attempt_at)"
        " VALUES ('http', ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
        (
            run_id, step, key, shown_url, method, body,
            json.dumps(request, ensure_ascii=False), store.stamp, store.stamp,
        ),
    )  # fmt: skip


def holders(store: Store) -> list[str]:
    """Who holds `sending` claims (a pass each)."""
    rows = store.conn.execute(
        "SELECT DISTINCT claimed_by FROM outbox WHERE status = 'sending' AND claimed_by IS NOT NULL"
    ).fetchall()
    return [row[0] for row in rows]


def clock(store: Store) -> str:
    """Now on the leases' clock (the database's), as a stored instant."""
    return store.conn.execute(f"SELECT {_CLOCK[store.conn.dialect]}", (0,)).fetchone()[0]


def claim_slice(
    store: Store, holder: str, lease: int, kind: str, dead: list[str], limit: int
) -> list[sqlite3.Row]:
    """Take up to `limit` items of one kind for `holder` for `lease` seconds: the due queued
    or retrying ones, and `sending` ones whose lease ran out or whose holder is among `dead`.
    The caller holds the write transaction; on PostgreSQL the items are locked as they are
    read, and those another pass is claiming at the same moment are skipped."""
    marks = ", ".join("?" * len(dead)) or "NULL"
    moved = _CLOCK[store.conn.dialect]  # the database's now, moved by a parameter
    return store.conn.execute(
        f"UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_until = {moved}"
        f" WHERE id IN (SELECT id FROM outbox WHERE kind = ? AND (({SENDABLE_MESSAGES})"
        f"   OR (status = 'sending' AND (claimed_until <= {moved}"
        f"   OR claimed_by IN ({marks})))) ORDER BY id LIMIT ?{LOCKED[store.conn.dialect]})"
        " RETURNING *",
        (holder, lease, kind, store.stamp, 0, *dead, limit),
    ).fetchall()


def give_back(store: Store, holder: str) -> None:
    """The items `holder` claimed and did not finish go back to their queue at once."""
    store.conn.execute(
        "UPDATE outbox SET status = CASE WHEN attempts > 0 THEN 'retrying' ELSE 'queued' END,"
        " claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ? AND status = 'sending'",
        (holder,),
    )


def renew(store: Store, holder: str, lease: int) -> None:
    """Every claim of `holder` lasts `lease` seconds more from now."""
    store.conn.execute(
        f"UPDATE outbox SET claimed_until = {_CLOCK[store.conn.dialect]}"
        " WHERE claimed_by = ? AND status = 'sending'",
        (lease, holder),
    )


def still_mine(store: Store, item: int, holder: str, lease: int) -> bool:
    """Renew one item's claim for `lease` seconds from now, if `holder` still has it."""
    return bool(
        store.conn.execute(
            f"UPDATE outbox SET claimed_until = {_CLOCK[store.conn.dialect]} WHERE id = ?"
            " AND claimed_by = ? AND status = 'sending'",
            (lease, item, holder),
        ).rowcount
    )


def mark_sent(store: Store, item: int, holder: str, response: str) -> bool:
    """`sent`, with the other end's answer; False when the claim was no longer `holder`'s
    (the item is left as it is)."""
    return bool(
        store.conn.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1,"
            " last_error = NULL, response = ?, claimed_by = NULL, claimed_until = NULL"
            " WHERE id = ? AND claimed_by = ?",
            (store.stamp, response, item, holder),
        ).rowcount
    )


def note_error(store: Store, item: int, error: str) -> None:
    store.conn.execute("UPDATE outbox SET last_error = ? WHERE id = ?", (error, item))


def mark_retrying(store: Store, row: sqlite3.Row, attempts: int, error: str, at: str) -> bool:
    """`retrying` at `at` after `attempts` attempts, if the claim in `row` still holds."""
    return bool(
        store.conn.execute(
            "UPDATE outbox SET status = 'retrying', attempts = ?, last_error = ?,"
            " next_attempt_at = ?, claimed_by = NULL, claimed_until = NULL"
            f" WHERE {_STILL_CLAIMED}",
            (attempts, error, at, row["id"], row["claimed_by"]),
        ).rowcount
    )


def mark_failed(store: Store, row: sqlite3.Row, error: str) -> bool:
    """`failed` for good, if the claim in `row` still holds."""
    return bool(
        store.conn.execute(
            "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?,"
            f" claimed_by = NULL, claimed_until = NULL WHERE {_STILL_CLAIMED}",
            (error, row["id"], row["claimed_by"]),
        ).rowcount
    )


def requeue(store: Store, item: int) -> None:
    """Queued again, due now, its attempts counted afresh."""
    store.conn.execute(
        "UPDATE outbox SET status = 'queued', next_attempt_at = ?, attempts = 0,"
        " claimed_by = NULL, claimed_until = NULL WHERE id = ?",
        (store.stamp, item),
    )


def cancel(store: Store, item: int, status: str) -> None:
    """`cancelled`, if it is still `status`."""
    store.conn.execute(
        "UPDATE outbox SET status = 'cancelled', claimed_by = NULL, claimed_until = NULL"
        " WHERE id = ? AND status = ?",
        (item, status),
    )


def get(store: Store, message: int) -> sqlite3.Row:
    row = store.conn.execute("SELECT * FROM outbox WHERE id = ?", (message,)).fetchone()
    if row is None:
        raise NotFound(f"no message #{message} (see `salesflow outbox list`)")
    return row


# --- Listing for the CLI (outbox list) ---


def listing(store: Store, status: str | None = None, kind: str | None = None) -> list[sqlite3.Row]:
    """Messages and requests, newest first, of this status and kind if given."""
    filters = [(name, value) for name, value in (("status", status), ("kind", kind)) if value]
    where = " AND ".join(f"{name} = ?" for name, _ in filters)
    return store.conn.execute(
        f"SELECT * FROM outbox{' WHERE ' + where if where else ''} ORDER BY id DESC",
        [value for _, value in filters],
    ).fetchall()
