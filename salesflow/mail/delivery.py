"""Delivering the outbox, after the transactions that queued it have committed.

A pass claims the due messages in one write transaction (`sending`, with a claim that
expires), so two overlapping passes never send the same message; a pass killed mid-way
leaves claims that expire, and the next pass takes those messages again. Each message is
marked `sent` right after the transport took it. The one window left: killed after the
server accepted a message but before the mark, the message goes again, with the same
Message-ID (at-least-once; the README says so).

Temporary failures (connection refused, timeout, 4xx) → `retrying` with exponential backoff;
permanent ones (5xx for a recipient) → `failed` with the server's reply, for that message
only; after `email.max_attempts` attempts → `failed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from salesflow.errors import UserError
from salesflow.mail.mime import build
from salesflow.mail.transports import (
    ConnectionLost,
    PermanentFailure,
    TemporaryFailure,
    transport_for,
)
from salesflow.store.db import transaction
from salesflow.store.session import Store
from salesflow.values import read_instant, stored_instant

CLAIM = timedelta(minutes=10)
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)


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


def claim(store: Store, limit: int | None = None) -> list:
    """Take the due messages for this pass, atomically."""
    with transaction(store.conn):
        return store.conn.execute(
            "UPDATE outbox SET status = 'sending', claimed_until = ? WHERE id IN"
            " (SELECT id FROM outbox WHERE (status IN ('queued', 'retrying')"
            "   AND next_attempt_at <= ?) OR (status = 'sending' AND claimed_until <= ?)"
            "  ORDER BY id LIMIT ?) RETURNING *",
            (stored_instant(store.now + CLAIM), store.stamp, store.stamp, limit or -1),
        ).fetchall()


def deliver(store: Store, limit: int | None = None, transport=None) -> DeliveryResult:
    """One delivery pass over the due messages."""
    result = DeliveryResult()
    messages = sorted(claim(store, limit), key=lambda row: row["id"])
    if not messages:
        return result
    transport = transport or transport_for(store.project.email)
    try:
        with transport.session() as send:
            for index, row in enumerate(messages):
                try:
                    detail = send(build(row, store.project), _file_name(row, store))
                except ConnectionLost as error:
                    for later in messages[index:]:
                        _retry(store, later, str(error), result)
                    return result
                except TemporaryFailure as error:
                    _retry(store, row, str(error), result)
                except PermanentFailure as error:
                    _fail(store, row, str(error), result)
                else:
                    _sent(store, row, detail, result)
    except TemporaryFailure as error:  # the server could not be reached at all
        for row in messages:
            _retry(store, row, str(error), result)
    except UserError:  # the settings are wrong (no password…): give the messages back
        store.conn.executemany(
            "UPDATE outbox SET status = CASE WHEN attempts > 0 THEN 'retrying' ELSE 'queued'"
            " END, claimed_until = NULL WHERE id = ? AND status = 'sending'",
            [(row["id"],) for row in messages],
        )
        raise
    return result


def _file_name(row, store: Store) -> str:
    created = read_instant(row["created_at"], store.project.timezone)
    return f"{created:%Y%m%d-%H%M%S}-{row['id']}"


def _sent(store: Store, row, detail: str, result: DeliveryResult) -> None:
    store.conn.execute(
        "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1,"
        " last_error = NULL, claimed_until = NULL WHERE id = ?",
        (store.stamp, row["id"]),
    )
    result.sent += 1


def _retry(store: Store, row, error: str, result: DeliveryResult) -> None:
    attempts = row["attempts"] + 1
    if attempts >= store.project.email.max_attempts:
        _fail(store, row, f"{error} (after {attempts} attempts)", result)
        return
    store.conn.execute(
        "UPDATE outbox SET status = 'retrying', attempts = ?, last_error = ?,"
        " next_attempt_at = ?, claimed_until = NULL WHERE id = ?",
        (attempts, error, stored_instant(store.now + backoff(attempts)), row["id"]),
    )
    result.retrying += 1
    result.errors.append(f"message #{row['id']} to {row['to_addr']}: {error} (will retry)")


def _fail(store: Store, row, error: str, result: DeliveryResult) -> None:
    store.conn.execute(
        "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?,"
        " claimed_until = NULL WHERE id = ?",
        (error, row["id"]),
    )
    result.failed += 1
    result.errors.append(f"message #{row['id']} to {row['to_addr']}: {error} (failed)")
