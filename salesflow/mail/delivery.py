"""Delivering the outbox, after the transactions that queued it have committed.

A pass claims a bounded slice of the due messages in one write transaction (`sending`,
`claimed_by` this pass, `claimed_until` a lease in real time), so two overlapping passes never
take the same message. The pass renews its lease before each message and sends a message only
if the claim is still its own; it marks it `sent` with the same condition, and says so when
the claim was lost. A claim is taken over only when its lease ran out or its process is gone
(a pass killed mid-way). Leases follow the real clock, not `--now`: they are about processes,
and a jump of the business clock must never make a live pass's claim look expired.

Each message fails alone: one that cannot be built (a header the email package refuses) or
that a transport rejects in an unexpected way is `failed` with the reason, never left
`sending`; the pass goes on. Temporary failures (connection refused, timeout, 4xx) →
`retrying` with exponential backoff; permanent ones (5xx for a recipient) → `failed` with
the server's reply; after `email.max_attempts` attempts → `failed`.

The one window left: killed after the server accepted a message but before the mark, the
message goes again, with the same Message-ID (at-least-once; the README says so).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from salesflow.config.model import EmailSettings
from salesflow.engine.due import SENDABLE_MESSAGES
from salesflow.errors import UserError
from salesflow.mail.mime import build
from salesflow.mail.transports import (
    ConnectionLost,
    PermanentFailure,
    TemporaryFailure,
    transport_for,
)
from salesflow.store.db import describe, fault_advice, transaction
from salesflow.store.session import Store
from salesflow.values import read_instant, stored_instant

CLAIM = timedelta(minutes=10)
RENEW_EVERY = timedelta(minutes=1)
SLICE = 500  # messages claimed at a time when no rate limit bounds the slice
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)
HOST = socket.gethostname()


@dataclass
class DeliveryResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"sent": self.sent, "retrying": self.retrying, "failed": self.failed,
                "errors": self.errors}  # fmt: skip


def backoff(attempts: int) -> timedelta:
    """1 min, 2, 4, 8 … after each failed attempt, at most 6 h."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_RETRY)


def slice_size(settings: EmailSettings) -> int:
    """How many messages a pass claims at once: with a rate limit, what it can send in half
    its lease (so it never outlives it even without renewing); else SLICE."""
    rate = settings.smtp.rate_limit if settings.transport == "smtp" and settings.smtp else None
    if not rate:
        return SLICE
    return max(1, int(rate * CLAIM.total_seconds() / 60 / 2))


def _lease() -> str:
    return stored_instant(datetime.now(UTC) + CLAIM)


def _holder_alive(holder: str) -> bool:
    """A claim's holder is alive unless it ran on this host and its process is gone."""
    host, pid, _token = [*holder.rsplit(":", 2), "", ""][:3]
    if host != HOST or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _dead_holders(store: Store) -> list[str]:
    """Holders of `sending` claims whose process is gone: their messages can be taken."""
    rows = store.conn.execute(
        "SELECT DISTINCT claimed_by FROM outbox WHERE status = 'sending' AND claimed_by IS NOT NULL"
    ).fetchall()
    return [row[0] for row in rows if not _holder_alive(row[0])]


def claim(store: Store, holder: str, limit: int) -> list:
    """Take a slice of the due messages for this pass, atomically: queued or retrying ones
    that are due, and `sending` ones whose lease ran out or whose holder died."""
    with transaction(store.conn):
        dead = _dead_holders(store)
        marks = ", ".join("?" * len(dead)) or "NULL"
        return store.conn.execute(
            "UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_until = ? WHERE id IN"
            f" (SELECT id FROM outbox WHERE ({SENDABLE_MESSAGES})"
            "   OR (status = 'sending' AND (claimed_until <= ?"
            f"   OR claimed_by IN ({marks}))) ORDER BY id LIMIT ?) RETURNING *",
            (holder, _lease(), store.stamp, stored_instant(datetime.now(UTC)), *dead, limit),
        ).fetchall()


def deliver(store: Store, limit: int | None = None, transport=None) -> DeliveryResult:
    """One delivery pass over the due messages, a slice at a time."""
    result = DeliveryResult()
    holder = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    size = slice_size(store.project.email)
    rate_limited = size != SLICE
    while True:
        messages = sorted(claim(store, holder, min(size, limit or size)), key=lambda r: r["id"])
        if not messages:
            return result
        transport = transport or transport_for(store.project.email)
        try:
            _send_slice(store, holder, messages, transport, result)
        except BaseException:  # wrong settings (no password…), a full disk, Ctrl-C
            with contextlib.suppress(sqlite3.Error):
                _give_back(store, holder)
            raise
        if limit is not None:
            limit -= len(messages)
        if rate_limited or limit == 0 or len(messages) < size:
            return result  # a rate-limited pass sends one slice; the next pass takes the rest


def _send_slice(store: Store, holder: str, messages: list, transport, result) -> None:
    try:
        with transport.session() as send:
            renewed = datetime.now(UTC)
            for index, row in enumerate(messages):
                if datetime.now(UTC) - renewed >= RENEW_EVERY:
                    _renew_all(store, holder)
                    renewed = datetime.now(UTC)
                if not _still_mine(store, holder, row):
                    result.errors.append(f"message #{row['id']}: no longer claimed by this pass"
                                         " (cancelled, or taken over); not sent by it")  # fmt: skip
                    continue
                try:
                    message = build(row, store.project)
                except Exception as error:  # a header the email package refuses…
                    _fail(store, row, f"cannot be built: {describe(error)}", result)
                    continue
                try:
                    detail = send(message, _file_name(row, store))
                except ConnectionLost as error:
                    for later in messages[index:]:
                        _retry(store, later, str(error), result)
                    return
                except TemporaryFailure as error:
                    _retry(store, row, str(error), result)
                except PermanentFailure as error:
                    _fail(store, row, str(error), result)
                except Exception as error:
                    if fault_advice(error):
                        raise
                    _fail(store, row, describe(error), result)
                else:
                    _sent(store, holder, row, detail, result)
    except TemporaryFailure as error:  # the server could not be reached at all
        for row in messages:
            _retry(store, row, str(error), result)


def _give_back(store: Store, holder: str) -> None:
    """Messages this pass claimed and did not finish go back to their queue at once."""
    store.conn.execute(
        "UPDATE outbox SET status = CASE WHEN attempts > 0 THEN 'retrying' ELSE 'queued' END,"
        " claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ? AND status = 'sending'",
        (holder,),
    )


def _renew_all(store: Store, holder: str) -> None:
    store.conn.execute(
        "UPDATE outbox SET claimed_until = ? WHERE claimed_by = ? AND status = 'sending'",
        (_lease(), holder),
    )


def _still_mine(store: Store, holder: str, row) -> bool:
    """Renew this message's lease, if the claim is still this pass's."""
    return bool(
        store.conn.execute(
            "UPDATE outbox SET claimed_until = ? WHERE id = ? AND claimed_by = ?"
            " AND status = 'sending'",
            (_lease(), row["id"], holder),
        ).rowcount
    )


def _file_name(row, store: Store) -> str:
    created = read_instant(row["created_at"], store.project.timezone)
    return f"{created:%Y%m%d-%H%M%S}-{row['id']}"


def _sent(store: Store, holder: str, row, detail: str, result: DeliveryResult) -> None:
    marked = store.conn.execute(
        "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1,"
        " last_error = NULL, claimed_by = NULL, claimed_until = NULL"
        " WHERE id = ? AND claimed_by = ?",
        (store.stamp, row["id"], holder),
    ).rowcount
    result.sent += 1
    if not marked:  # the claim was taken over while the server took the message
        note = "sent, but its claim had been taken over by another pass: it may arrive twice"
        store.conn.execute("UPDATE outbox SET last_error = ? WHERE id = ?", (note, row["id"]))
        result.errors.append(f"message #{row['id']} to {row['to_addr']}: {note}")


# A pass records what happened to a message only while it still holds it (cancelled by
# hand, or taken over after its lease: then the message is no longer this pass's to mark).
_STILL_CLAIMED = "id = ? AND status = 'sending' AND claimed_by IS ?"


def _retry(store: Store, row, error: str, result: DeliveryResult) -> None:
    attempts = row["attempts"] + 1
    if attempts >= store.project.email.max_attempts:
        _fail(store, row, f"{error} (after {attempts} attempts)", result)
        return
    if not store.conn.execute(
        "UPDATE outbox SET status = 'retrying', attempts = ?, last_error = ?,"
        " next_attempt_at = ?, claimed_by = NULL, claimed_until = NULL"
        f" WHERE {_STILL_CLAIMED}",
        (attempts, error, stored_instant(store.now + backoff(attempts)), row["id"],
         row["claimed_by"]),
    ).rowcount:  # fmt: skip
        return
    result.retrying += 1
    result.errors.append(f"message #{row['id']} to {row['to_addr']}: {error} (will retry)")


def _fail(store: Store, row, error: str, result: DeliveryResult) -> None:
    if not store.conn.execute(
        "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?,"
        f" claimed_by = NULL, claimed_until = NULL WHERE {_STILL_CLAIMED}",
        (error, row["id"], row["claimed_by"]),
    ).rowcount:
        return
    result.failed += 1
    result.errors.append(f"message #{row['id']} to {row['to_addr']}: {error} (failed)")


def _is_stale(row) -> bool:
    """A `sending` message whose pass is gone or whose lease ran out."""
    if row["claimed_until"] and row["claimed_until"] <= stored_instant(datetime.now(UTC)):
        return True
    return not row["claimed_by"] or not _holder_alive(row["claimed_by"])


def requeue(store: Store, row) -> None:
    """`outbox retry`: a failed, retrying, cancelled or abandoned message goes at the next
    delivery, with its attempts counted afresh."""
    if row["status"] == "sending" and not _is_stale(row):
        raise UserError(f"message #{row['id']} is being sent by a pass right now")
    if row["status"] not in ("failed", "retrying", "cancelled", "sending"):
        raise UserError(f"message #{row['id']} is {row['status']}; only failed, retrying,"
                        " cancelled or abandoned sending messages are retried")  # fmt: skip
    with transaction(store.conn):
        store.conn.execute(
            "UPDATE outbox SET status = 'queued', next_attempt_at = ?, attempts = 0,"
            " claimed_by = NULL, claimed_until = NULL WHERE id = ?",
            (store.stamp, row["id"]),
        )


def cancel(store: Store, row) -> None:
    """`outbox cancel`: a message that has not left (and is not leaving right now) stays."""
    if row["status"] == "sending" and not _is_stale(row):
        raise UserError(f"message #{row['id']} is being sent by a pass right now: too late")
    if row["status"] not in ("queued", "retrying", "failed", "sending"):
        raise UserError(f"message #{row['id']} is {row['status']}: too late")
    with transaction(store.conn):
        store.conn.execute(
            "UPDATE outbox SET status = 'cancelled', claimed_by = NULL, claimed_until = NULL"
            " WHERE id = ? AND status = ?",
            (row["id"], row["status"]),
        )
