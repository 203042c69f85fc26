"""A courier sends one claimed slice through a transport and records each item's outcome,
while the claim is its own.

Each item fails alone: one that cannot be built (a header the email package refuses) or that
a transport rejects in an unexpected way is `failed` with the reason, never left `sending`;
the pass goes on. Temporary failures (connection refused, timeout, 4xx) → `retrying` with
exponential backoff; permanent ones (5xx for a recipient) → `failed` with the other end's
reply; after `max_attempts` attempts → `failed`. A request's answer (status and the start of
its body) goes into the trace of the run that queued it.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from salesflow.outbox.claims import RENEW_EVERY, lease
from salesflow.outbox.shown import noun
from salesflow.phrases import phrase
from salesflow.store import outbox, runs
from salesflow.store.db import describe, fault_advice, outlasting
from salesflow.store.session import Store
from salesflow.transports import ConnectionLost, PermanentFailure, TemporaryFailure
from salesflow.values import read_instant, stored_instant
from salesflow.wording import counted

Turn = Callable[[], AbstractContextManager]  # the caller's turn to write (delivery.py)
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)


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


@dataclass(frozen=True)
class Kind:
    """One kind of outbox item: how a row becomes what its transport sends, and its limits."""

    name: str  # outbox.kind
    prepare: Callable  # (row, project) → what the transport's send takes
    max_attempts: int
    slice: int
    traced: bool = False  # what the other end answered goes into the run's trace
    at_once: int = 1  # items on their way together (1: one by one, through one connection)


def backoff(attempts: int) -> timedelta:
    """1 min, 2, 4, 8 … after each failed attempt, at most 6 h."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_RETRY)


def never() -> bool:
    return False


class Courier:
    """Sends one claimed slice and records each item's outcome, while the claim is its own."""

    def __init__(
        self,
        store: Store,
        holder: str,
        kind: Kind,
        result: DeliveryResult,
        stop=never,
        turn: Turn = nullcontext,
    ) -> None:
        self.store, self.holder, self.kind, self.result = store, holder, kind, result
        self.stop, self.turn = stop, turn

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

    def _ready(self, row: sqlite3.Row):
        """What the transport sends for this item, if the claim is still this pass's and the
        item can be built; else None (and the item is told or failed)."""
        self._renew_when_due()
        with self.turn():  # a database server restarted between two messages: the pass goes on
            mine = outlasting(
                self.store.conn,
                lambda: outbox.still_mine(self.store, row["id"], self.holder, lease()),
            )
        if not mine:
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

    def _record(self, row: sqlite3.Row, outcome: Callable[[], str]) -> None:
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
            with self.turn():
                outbox.renew(self.store, self.holder, lease())
            self.renewed = datetime.now(UTC)

    def _sent(self, row: sqlite3.Row, detail: str) -> None:
        with self.turn():
            marked = outlasting(  # the other end has it: recorded sent, even across a restart
                self.store.conn,
                lambda: outbox.mark_sent(self.store, row["id"], self.holder, detail),
            )
            self.result.sent += 1
            self._trace(row, "sent", "delivered", answer=detail)
            if not marked:  # the claim was taken over while the other end took the item
                note = ("sent, but its claim had been taken over by another pass: it may"
                        " arrive twice")  # fmt: skip
                outbox.note_error(self.store, row["id"], note)
                self.result.errors.append(f"{noun(row)} to {row['to_addr']}: {note}")

    def _retry(self, row: sqlite3.Row, failure: TemporaryFailure) -> None:
        attempts = row["attempts"] + 1
        if attempts >= self.kind.max_attempts:
            self._fail(row, f"{failure} (after {attempts} attempts)", failure, attempts)
            return
        wait = backoff(attempts)
        if failure.retry_after is not None:  # the other end said when
            wait = min(failure.retry_after, LONGEST_RETRY)
        at = stored_instant(self.store.now + wait)
        with self.turn():
            if not outbox.mark_retrying(self.store, row, attempts, str(failure), at):
                return
            self.result.retrying += 1
            self._trace(row, "retrying", "delivery_retrying", failure=str(failure),
                        wait=_spoken(wait))  # fmt: skip
        self.result.errors.append(f"{noun(row)} to {row['to_addr']}: {failure} (will retry)")

    def _fail(
        self, row: sqlite3.Row, error: str, failure: TemporaryFailure | None = None,
        attempts: int = 0,
    ) -> None:  # fmt: skip
        """`error`: the English the outbox keeps; `failure` after `attempts` tries, if so."""
        with self.turn():
            if not outbox.mark_failed(self.store, row, error):
                return
            self.result.failed += 1
            if failure is None:
                self._trace(row, "failed", "delivery_failed", failure=error)
            else:
                self._trace(row, "failed", "delivery_failed_after", failure=str(failure),
                            attempts=attempts)  # fmt: skip
        self.result.errors.append(f"{noun(row)} to {row['to_addr']}: {error} (failed)")

    def _trace(self, row: sqlite3.Row, outcome: str, msg: str, **values) -> None:
        """What the other end answered, in the trace of the run that queued the item."""
        if self.kind.traced and row["run_id"]:
            item = phrase("request_number" if row["kind"] == "http" else "message_number",
                          id=row["id"])  # fmt: skip
            detail = phrase(msg, item=item, **values)
            line = (row["run_id"], row["step"], self.kind.name, outcome, detail, self.store.stamp)
            runs.write_trace(self.store, [line])


def _spoken(wait: timedelta) -> str:
    seconds = int(wait.total_seconds())
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


def _file_name(row: sqlite3.Row, store: Store) -> str:
    created = read_instant(row["created_at"], store.project.timezone)
    return f"{created:%Y%m%d-%H%M%S}-{row['id']}"
