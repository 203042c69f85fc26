"""Delivering the outbox — emails, and the `http` steps' requests — after the transactions
that queued them have committed. Both kinds share one queue and this code: the same
claims, retries, `outbox retry|cancel`, and the same place to see what did not leave; each
kind is claimed and sent by its own transport, in a pass of its own, and the two passes run
beside each other (`deliver_both`; `serve` loops over requests apart): a receiver that hangs
holds up no email. Emails go one by one through one SMTP connection; requests go
`REQUESTS_AT_ONCE` at a time, each within its deadline, so one that hangs holds up no other.

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
the server's reply; after `max_attempts` attempts → `failed`. A request's answer (status and
the start of its body) goes into the trace of the run that queued it.

The one window left: killed after the server accepted a message but before the mark, the
message goes again, with the same Message-ID, a request with the same Idempotency-Key
(at-least-once; the README says so).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
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
from salesflow.webhooks.request import Request
from salesflow.webhooks.transports import transport_for as request_transport
from salesflow.wording import counted

CLAIM = timedelta(minutes=10)
RENEW_EVERY = timedelta(minutes=1)
SLICE = 500  # messages claimed at a time when no rate limit bounds the slice
REQUESTS_AT_ONCE = 16  # requests on their way together: a receiver that hangs holds up none
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)
HOST = socket.gethostname()


@dataclass
class DeliveryResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.sent + self.retrying + self.failed

    def told(self, noun: str) -> str:
        """`2 emails sent (1 to retry, 0 failed)`"""
        return f"{counted(self.sent, noun)} sent ({self.retrying} to retry, {self.failed} failed)"

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


def claim(store: Store, holder: str, limit: int, kind: str = "email") -> list:
    """Take a slice of the due items of one kind for this pass, atomically: queued or
    retrying ones that are due, and `sending` ones whose lease ran out or whose holder died."""
    with transaction(store.conn):
        dead = _dead_holders(store)
        marks = ", ".join("?" * len(dead)) or "NULL"
        return store.conn.execute(
            "UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_until = ? WHERE id IN"
            f" (SELECT id FROM outbox WHERE kind = ? AND (({SENDABLE_MESSAGES})"
            "   OR (status = 'sending' AND (claimed_until <= ?"
            f"   OR claimed_by IN ({marks})))) ORDER BY id LIMIT ?) RETURNING *",
            (holder, _lease(), kind, store.stamp, stored_instant(datetime.now(UTC)), *dead, limit),
        ).fetchall()


@dataclass(frozen=True)
class Kind:
    """One kind of outbox item: how a row becomes what its transport sends, and its limits."""

    name: str  # outbox.kind
    prepare: Callable  # (row, project) → what the transport's send takes
    max_attempts: int
    slice: int
    traced: bool = False  # what the other end answered goes into the run's trace
    at_once: int = 1  # items on their way together (1: one by one, through one connection)


def _never() -> bool:
    return False


def deliver(store: Store, limit: int | None = None, transport=None) -> DeliveryResult:
    """One delivery pass over the due emails, a slice at a time."""
    settings = store.project.email
    kind = Kind("email", build, settings.max_attempts, slice_size(settings))
    return _deliver(store, kind, limit, lambda: transport or transport_for(settings))


def deliver_requests(
    store: Store, limit: int | None = None, transport=None, stop: Callable[[], bool] = _never
) -> DeliveryResult:
    """One delivery pass over the due requests of `http` steps. Once `stop()` is true (serve
    is stopping) no further request starts: those on their way end (each within its
    deadline), the others go back to the queue at once."""
    settings = store.project.webhooks
    kind = Kind("http", lambda row, _: Request.from_row(row), settings.max_attempts, SLICE,
                traced=True, at_once=REQUESTS_AT_ONCE)  # fmt: skip
    return _deliver(store, kind, limit, lambda: transport or request_transport(settings), stop)


def deliver_both(store: Store) -> tuple[DeliveryResult, DeliveryResult]:
    """Emails here and requests in a thread of their own (with its own connection), at the
    same time: a receiver that hangs holds up no email, a slow mail server no request."""
    requests: dict = {}

    def send_requests() -> None:
        own = Store.open(store.project, store.now)
        try:
            requests["result"] = deliver_requests(own)
        except BaseException as error:
            requests["error"] = error
        finally:
            own.conn.close()

    beside = threading.Thread(target=send_requests, name="salesflow-requests", daemon=True)
    beside.start()
    emails = deliver(store)
    beside.join()
    if "error" in requests:
        raise requests["error"]
    return emails, requests["result"]


def _deliver(
    store: Store,
    kind: Kind,
    limit: int | None,
    transport_of,
    stop: Callable[[], bool] = _never,
) -> DeliveryResult:
    result = DeliveryResult()
    holder = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    rate_limited = kind.slice != SLICE
    transport = None
    while True:
        size = min(kind.slice, limit or kind.slice)
        items = sorted(claim(store, holder, size, kind.name), key=lambda r: r["id"])
        if not items:
            return result
        transport = transport or transport_of()
        courier = _Courier(store, holder, kind, result, stop)
        try:
            courier.send_slice(items, transport)
        except BaseException:  # wrong settings (no password…), a full disk, Ctrl-C
            with contextlib.suppress(sqlite3.Error):
                _give_back(store, holder)
            raise
        if stop():
            _give_back(store, holder)
            return result
        if limit is not None:
            limit -= len(items)
        if rate_limited or limit == 0 or len(items) < kind.slice:
            return result  # a rate-limited pass sends one slice; the next pass takes the rest


def noun(row) -> str:
    """How messages name an outbox item: `message #3`, `request #4`."""
    return f"{'request' if row['kind'] == 'http' else 'message'} #{row['id']}"


class _Courier:
    """Sends one claimed slice and records each item's outcome, while the claim is its own."""

    def __init__(
        self, store: Store, holder: str, kind: Kind, result: DeliveryResult, stop=_never
    ) -> None:
        self.store, self.holder, self.kind, self.result = store, holder, kind, result
        self.stop = stop

    def send_slice(self, items: list, transport) -> None:
        self.renewed = datetime.now(UTC)
        try:
            with transport.session() as send:
                if self.kind.at_once > 1:
                    self._side_by_side(items, send)
                else:
                    self._one_by_one(items, send)
        except TemporaryFailure as error:  # the server could not be reached at all
            for row in items:
                self._retry(row, error)

    def _one_by_one(self, items: list, send) -> None:
        """Through one connection (SMTP's), in order; a lost connection leaves the rest."""
        for index, row in enumerate(items):
            item = self._ready(row)
            if item is None:
                continue
            try:
                self._record(
                    row, lambda item=item, row=row: send(item, _file_name(row, self.store))
                )
            except ConnectionLost as error:
                for later in items[index:]:
                    self._retry(later, error)
                return

    def _side_by_side(self, items: list, send) -> None:
        """Up to `at_once` items on their way together, so that one receiver that hangs holds
        up no other: the network in the pool's threads, every write here (a SQLite
        connection is its thread's own)."""
        waiting, flying = deque(items), {}
        with ThreadPoolExecutor(self.kind.at_once, thread_name_prefix="salesflow-send") as pool:
            while (waiting and not self.stop()) or flying:
                while waiting and len(flying) < self.kind.at_once and not self.stop():
                    row = waiting.popleft()
                    item = self._ready(row)
                    if item is not None:
                        flying[pool.submit(send, item, _file_name(row, self.store))] = row
                done, _ = wait(flying, RENEW_EVERY.total_seconds(), FIRST_COMPLETED)
                for future in done:
                    self._record(flying.pop(future), future.result)
                self._renew_when_due()

    def _ready(self, row):
        """What the transport sends for this item, if the claim is still this pass's and the
        item can be built; else None (and the item is told or failed)."""
        self._renew_when_due()
        if not _still_mine(self.store, self.holder, row):
            self.result.errors.append(
                f"{noun(row)}: no longer claimed by this pass (cancelled, or taken over); not"
                " sent by it"
            )
            return None
        try:
            return self.kind.prepare(row, self.store.project)
        except Exception as error:  # a header the email package refuses…
            self._fail(row, f"cannot be built: {describe(error)}")
            return None

    def _record(self, row, outcome: Callable[[], str]) -> None:
        """What became of one item: `outcome` gives the other end's answer or raises why
        the item did not go."""
        try:
            detail = outcome()
        except ConnectionLost:
            raise
        except TemporaryFailure as error:
            self._retry(row, error)
        except PermanentFailure as error:
            self._fail(row, str(error))
        except Exception as error:
            if fault_advice(error):
                raise
            self._fail(row, describe(error))
        else:
            self._sent(row, detail)

    def _renew_when_due(self) -> None:
        if datetime.now(UTC) - self.renewed >= RENEW_EVERY:
            _renew_all(self.store, self.holder)
            self.renewed = datetime.now(UTC)

    def _sent(self, row, detail: str) -> None:
        marked = self.store.conn.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1,"
            " last_error = NULL, response = ?, claimed_by = NULL, claimed_until = NULL"
            " WHERE id = ? AND claimed_by = ?",
            (self.store.stamp, detail, row["id"], self.holder),
        ).rowcount
        self.result.sent += 1
        self._trace(row, "sent", detail)
        if not marked:  # the claim was taken over while the other end took the item
            note = "sent, but its claim had been taken over by another pass: it may arrive twice"
            self.store.conn.execute(
                "UPDATE outbox SET last_error = ? WHERE id = ?", (note, row["id"])
            )
            self.result.errors.append(f"{noun(row)} to {row['to_addr']}: {note}")

    def _retry(self, row, failure: TemporaryFailure) -> None:
        attempts = row["attempts"] + 1
        if attempts >= self.kind.max_attempts:
            self._fail(row, f"{failure} (after {attempts} attempts)")
            return
        wait = backoff(attempts)
        if failure.retry_after is not None:  # the other end said when
            wait = min(failure.retry_after, LONGEST_RETRY)
        if not self.store.conn.execute(
            "UPDATE outbox SET status = 'retrying', attempts = ?, last_error = ?,"
            " next_attempt_at = ?, claimed_by = NULL, claimed_until = NULL"
            f" WHERE {_STILL_CLAIMED}",
            (attempts, str(failure), stored_instant(self.store.now + wait), row["id"],
             row["claimed_by"]),
        ).rowcount:  # fmt: skip
            return
        self.result.retrying += 1
        self._trace(row, "retrying", f"{failure}; next try in {_spoken(wait)}")
        self.result.errors.append(f"{noun(row)} to {row['to_addr']}: {failure} (will retry)")

    def _fail(self, row, error: str) -> None:
        if not self.store.conn.execute(
            "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?,"
            f" claimed_by = NULL, claimed_until = NULL WHERE {_STILL_CLAIMED}",
            (error, row["id"], row["claimed_by"]),
        ).rowcount:
            return
        self.result.failed += 1
        self._trace(row, "failed", error)
        self.result.errors.append(f"{noun(row)} to {row['to_addr']}: {error} (failed)")

    def _trace(self, row, outcome: str, detail: str) -> None:
        """What the other end answered, in the trace of the run that queued the item."""
        if self.kind.traced and row["run_id"]:
            self.store.conn.execute(
                "INSERT INTO run_steps (run_id, step, action, outcome, detail, at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (row["run_id"], row["step"], self.kind.name, outcome,
                 f"{noun(row)}: {detail}", self.store.stamp),
            )  # fmt: skip


def _spoken(wait: timedelta) -> str:
    seconds = int(wait.total_seconds())
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


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


# A pass records what happened to an item only while it still holds it (cancelled by
# hand, or taken over after its lease: then the item is no longer this pass's to mark).
_STILL_CLAIMED = "id = ? AND status = 'sending' AND claimed_by IS ?"


def _is_stale(row) -> bool:
    """A `sending` message whose pass is gone or whose lease ran out."""
    if row["claimed_until"] and row["claimed_until"] <= stored_instant(datetime.now(UTC)):
        return True
    return not row["claimed_by"] or not _holder_alive(row["claimed_by"])


def requeue(store: Store, row) -> None:
    """`outbox retry`: a failed, retrying, cancelled or abandoned message goes at the next
    delivery, with its attempts counted afresh."""
    if row["status"] == "sending" and not _is_stale(row):
        raise UserError(f"{noun(row)} is being sent by a pass right now")
    if row["status"] not in ("failed", "retrying", "cancelled", "sending"):
        raise UserError(f"{noun(row)} is {row['status']}; only failed, retrying,"
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
        raise UserError(f"{noun(row)} is being sent by a pass right now: too late")
    if row["status"] not in ("queued", "retrying", "failed", "sending"):
        raise UserError(f"{noun(row)} is {row['status']}: too late")
    with transaction(store.conn):
        store.conn.execute(
            "UPDATE outbox SET status = 'cancelled', claimed_by = NULL, claimed_until = NULL"
            " WHERE id = ? AND status = ?",
            (row["id"], row["status"]),
        )
