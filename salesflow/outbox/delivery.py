"""Delivering the outbox — emails, and the `http` steps' requests — after the transactions
that queued them have committed. Both kinds share one queue and this code: the same
claims, retries, `outbox retry|cancel`, and the same place to see what did not leave; each
kind is claimed and sent by its own transport, in a pass of its own, and the two passes run
beside each other (`deliver_both`; `serve` loops over requests apart): a receiver that hangs
holds up no email. Emails go one by one through one SMTP connection; requests go
`REQUESTS_AT_ONCE` at a time, each within its deadline, so one that hangs holds up no other.

The pass renews its lease before each message and sends a message only if the claim is
still its own; it marks it `sent` with the same condition, and says so when the claim was
lost (claims.py, courier.py).

Every write of a pass (claims, marks, renewals) is done in `turn()`, never the sending:
`serve` hands its lock there, so that its requests and its worker take turns with its
delivery loops in Python rather than in SQLite's busy handler, which sleeps up to 100 ms
between tries and left a post waiting most of a second behind a pass committing mark after
mark (each a sync to disk).

The one window left: killed after the server accepted a message but before the mark, the
message goes again, with the same Message-ID, a request with the same Idempotency-Key
(at-least-once; the README says so). A restart of the database server in the middle of a
pass is no such window: the pass waits for it to come back and records what went
(`db.outlasting`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from salesflow.config.model import EmailSettings
from salesflow.mail.mime import build
from salesflow.mail.transports import transport_for
from salesflow.outbox.claims import CLAIM, claim, new_holder
from salesflow.outbox.courier import Courier, DeliveryResult, Kind, Turn, never
from salesflow.store import outbox
from salesflow.store.db import outlasting
from salesflow.store.session import Store
from salesflow.webhooks.request import Request
from salesflow.webhooks.transports import transport_for as request_transport

SLICE = 500  # messages claimed at a time when no rate limit bounds the slice
REQUESTS_AT_ONCE = 16  # requests on their way together: a receiver that hangs holds up none


def slice_size(settings: EmailSettings) -> int:
    """How many messages a pass claims at once: with a rate limit, what it can send in half
    its lease (so it never outlives it even without renewing); else SLICE."""
    rate = settings.smtp.rate_limit if settings.transport == "smtp" and settings.smtp else None
    if not rate:
        return SLICE
    return max(1, int(rate * CLAIM.total_seconds() / 60 / 2))


def deliver(
    store: Store, limit: int | None = None, transport=None, turn: Turn = contextlib.nullcontext
) -> DeliveryResult:
    """One delivery pass over the due emails, a slice at a time; each write in `turn()`."""
    settings = store.project.email
    kind = Kind("email", build, settings.max_attempts, slice_size(settings))
    return _deliver(store, kind, limit, lambda: transport or transport_for(settings), turn=turn)


def deliver_requests(
    store: Store,
    limit: int | None = None,
    transport=None,
    stop: Callable[[], bool] = never,
    turn: Turn = contextlib.nullcontext,
) -> DeliveryResult:
    """One delivery pass over the due requests of `http` steps. Once `stop()` is true (serve
    is stopping) no further request starts: those on their way end (each within its
    deadline), the others go back to the queue at once. Each write in `turn()`."""
    settings = store.project.webhooks
    kind = Kind("http", lambda row, _: Request.from_row(row), settings.max_attempts, SLICE,
                traced=True, at_once=REQUESTS_AT_ONCE)  # fmt: skip
    return _deliver(
        store, kind, limit, lambda: transport or request_transport(settings), stop, turn
    )


def deliver_both(store: Store) -> tuple[DeliveryResult, DeliveryResult]:
    """Emails here and requests in a thread of their own (with its own connection), at the
    same time: a receiver that hangs holds up no email, a slow mail server no request. The
    emails wait for that connection to be open: a database server restarting while emails go
    out (each recorded across it) is met by no connection being made."""
    requests: dict = {}
    opened = threading.Event()

    def send_requests() -> None:
        own = None
        try:  # the opening too: a server out of reach is said, not a missing result
            own = Store.open(store.project, store.now)
            opened.set()
            requests["result"] = deliver_requests(own)
        except BaseException as error:
            requests["error"] = error
        finally:
            opened.set()
            if own is not None:
                own.conn.close()

    beside = threading.Thread(target=send_requests, name="salesflow-requests", daemon=True)
    beside.start()
    opened.wait()
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
    stop: Callable[[], bool] = never,
    turn: Turn = contextlib.nullcontext,
) -> DeliveryResult:
    result = DeliveryResult()
    holder = new_holder()
    rate_limited = kind.slice != SLICE
    transport = None
    while True:
        size = min(kind.slice, limit or kind.slice)
        with turn():
            items = sorted(claim(store, holder, size, kind.name), key=lambda r: r["id"])
        if not items:
            return result
        transport = transport or transport_of()
        courier = Courier(store, holder, kind, result, stop, turn)
        try:
            courier.send_slice(items, transport)
        except BaseException:  # wrong settings (no password…), a full disk, Ctrl-C
            with contextlib.suppress(Exception), turn():  # back to the queue now, not at the
                outlasting(store.conn, lambda: outbox.give_back(store, holder))  # lease's end
            raise
        if stop():
            with turn():
                outbox.give_back(store, holder)
            return result
        if limit is not None:
            limit -= len(items)
        if rate_limited or limit == 0 or len(items) < kind.slice:
            return result  # a rate-limited pass sends one slice; the next pass takes the rest
