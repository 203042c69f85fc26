"""The loop of `salesflow run`, inside `serve`: so one service replaces the cron line.

A recorded event wakes it, and it handles the events at once (with those their runs
record), a batch of TURN at a time; every second, woken or not, it also looks for all due
work (the same cheap queries as `run`'s quick path) and, when there is some, takes in the
inbox and ticks: waits resumed, schedules fired, stalled deals flagged. An event wakes it
from this server's requests (Site.writing) and, on PostgreSQL, from anywhere — another host,
another `serve`, a `salesflow ingest` — through LISTEN/NOTIFY (store/wakeups.py), on a
connection of its own in a thread beside it; while that connection is lost, the worker looks
every second and connects again. Wakes that come during a pass make one more pass, not one
each: a pass takes all that is pending, so the worker keeps up whatever the rate of posts.

Emails, and the `http` steps' requests, go from loops of their own beside the passes (each
with its connection), woken by a pass that may have queued some and looking every second
too: a welcome email is queued as soon as its submission's pass commits, not after the
previous pass has sent its emails, and a receiver that hangs holds up no email and no
submission. Their writes (each message claimed, then marked sent, each synced to disk) take
turns with the posts and the worker's batches of events, after them but never for long
(Site.aside, web/turns.py), and never while sending: left to SQLite's busy handler, a post
waited most of a second behind a loop that committed mark after mark. A cron `run` beside
it is safe: every piece of work is claimed in a transaction. Stopping waits for the pass
and the deliveries under way to end (a pass ends between two batches), so nothing is half
done.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial

from salesflow.store.db import describe, is_locked
from salesflow.store.queues import events_pending
from salesflow.store.session import Store
from salesflow.store.wakeups import listener
from salesflow.web.quietlog import faults
from salesflow.web.site import REQUEST_LOCK_WAIT, Site
from salesflow.wording import counted

log = logging.getLogger("salesflow.serve")
INTERVAL = 1.0  # seconds between looks for due work when nothing wakes the worker
STUCK_AFTER = 300.0  # seconds one pass may take before /healthz says the worker is stuck
TURN = 20  # events a batch of the worker's: posts wait for at most one batch (Site.turn)
_NOUN = {"email": "email", "http": "request"}  # the outbox's kinds of message, as said
LISTEN_TURN = 1.0  # seconds: the listener's longest wait (to see a stop), and between attempts
# to listen again after its connection was lost


class Worker(threading.Thread):
    def __init__(self, site: Site, interval: float = INTERVAL):
        super().__init__(name="salesflow-worker", daemon=True)
        self.site = site
        self.interval = interval
        self.stopping = threading.Event()
        self.woken = threading.Event()  # an event was recorded: look now
        self.renderer = None  # the project's templates, compiled once for every pass
        self.last_pass: datetime | None = None  # when the last pass ended well
        self.began: float | None = None  # monotonic start of the pass under way
        self.error: str | None = None  # why the last pass failed, if it did
        self.send_errors: dict[str, str | None] = {"email": None, "http": None}  # why a
        # delivery loop's last turn failed (emails, requests), if it did
        # per delivery loop: a pass may have queued messages (or serve stops): look now
        self.queued = {"email": threading.Event(), "http": threading.Event()}
        self.listen_error: str | None = None  # why it does not listen now (PostgreSQL)
        self.couriers = [
            threading.Thread(
                target=self.send, args=(kind,), name=f"salesflow-{_NOUN[kind]}s", daemon=True
            )
            for kind in self.queued
        ]
        self.listening = threading.Thread(target=self.listen, name="salesflow-listen",
                                          daemon=True)  # fmt: skip

    def start(self) -> None:
        for courier in self.couriers:
            courier.start()
        self.listening.start()
        super().start()

    def run(self) -> None:
        looked = float("-inf")  # monotonic time of the last full look: none yet
        woken = False
        while not self.stopping.is_set():
            self.woken.clear()  # before the pass: what is recorded during it makes one more
            if woken and time.monotonic() - looked < self.interval:
                self.one_pass(self.handle_events)
            else:
                looked = time.monotonic()
                self.one_pass(self.look)
            woken = self.woken.wait(self.interval)
        self.tell_couriers()
        for thread in (*self.couriers, self.listening):
            thread.join()

    def wake(self) -> None:
        """Look for due work now (an event was recorded), not at the next interval."""
        self.woken.set()

    def stop(self, timeout: float | None = None) -> None:
        self.stopping.set()
        self.woken.set()
        self.join(timeout)

    def one_pass(self, work: Callable[[Store], None]) -> None:
        """`work` on the worker's store; a failure is said (once a minute) and shown by
        /healthz until a pass ends well."""
        self.began = time.monotonic()
        try:
            store = self.site.store(answering=False)
            work(store)
            self.tell_couriers()
            self.last_pass, self.error = store.now, None
        except Exception as error:  # a locked database skips a turn; the rest is reported
            if not is_locked(error):  # and retried next turn (out of file descriptors too)
                self.error = describe(error)
                if not self.site.faults.report(error, "worker", self.site.now()):
                    faults.error("worker: the pass failed: %s", self.error)  # once a minute
        finally:
            self.began = None

    def look(self, store: Store) -> None:
        """Whatever is due, as `salesflow run` (but the deliveries, which go beside)."""
        from salesflow.engine.due import anything_due  # imports open files: inside the try
        from salesflow.engine.tick import tick
        from salesflow.ingest.inbox import drain_project_inbox
        from salesflow.mail.poll import poll_if_due

        if events_pending(store):  # first, a batch a turn: the tick finds few left
            self.handle_events(store)
        if anything_due(store, sending=False):  # the loops beside send
            if store.project.inbox is not None:
                drain_project_inbox(store)
            mail = poll_if_due(store)
            if mail and mail.error:
                faults.error("worker: %s", mail.summary())
            result = tick(store, send=False, stop=self.stopping.is_set,
                          renderer=self.templates(store))  # fmt: skip
            if result.processed.runs or result.resumed:
                log.info("worker: %s", result.summary())

    def handle_events(self, store: Store) -> None:
        """The events recorded since the last pass, and those their runs record: what a wake
        is for. The work that time brings (waits over, schedules, stalled deals) is for the
        next full look, at most `interval` later. A batch a turn (Site.turn): this server's
        posts are taken in between two batches."""
        from salesflow.engine.process import Processor

        processor = Processor(store, renderer=self.templates(store))
        result = processor.result
        while not self.stopping.is_set():
            handled = result.events + result.failed
            with self.site.turn(store):
                processor.run(stop=_after_one(), batch=TURN)
            if result.events + result.failed == handled:
                break
        if result.runs or result.failed:
            log.info("worker: %s handled (%d failed), %s started", counted(result.events, "event"),
                     result.failed, counted(result.runs, "run"))  # fmt: skip

    def templates(self, store: Store):
        """The project's renderer, its templates compiled once for every pass."""
        if self.renderer is None:
            from salesflow.engine.context import Renderer, environment

            self.renderer = Renderer(environment(store.project))
        return self.renderer

    def listen(self) -> None:
        """On PostgreSQL, wake the worker when any process records an event (a NOTIFY on
        the events' channel). A lost connection is said once a minute and tried again every
        LISTEN_TURN seconds; meanwhile the worker looks every `interval`, as on SQLite."""
        channel = listener(self.site.project.database, REQUEST_LOCK_WAIT)
        if channel is None:
            return
        while not self.stopping.is_set():
            try:
                if channel.wait(LISTEN_TURN):
                    self.wake()
                self.listen_error = None
            except Exception as error:
                channel.close()
                self.listen_error = f"not listening for new events: {describe(error)}"
                faults.error("worker: %s; looking every %g s meanwhile", self.listen_error,
                             self.interval)  # fmt: skip
                self.stopping.wait(LISTEN_TURN)
        channel.close()

    def tell_couriers(self) -> None:
        for queued in self.queued.values():
            queued.set()

    def send(self, kind: str) -> None:
        """Deliver the outbox's messages of `kind` (email, or http: the `http` steps'
        requests) after a pass, and every interval: beside the passes, so that sending holds
        up no submission (each request has its deadline, and they go side by side)."""
        woken = self.queued[kind]
        while not self.stopping.is_set():
            woken.clear()
            try:
                from salesflow.outbox.delivery import deliver, deliver_requests
                from salesflow.store.queues import messages_due

                store = self.site.store()  # FULL: a message marked sent stays so after a crash
                if messages_due(store, kind):
                    turn = partial(self.site.aside, store)  # its writes: when no post waits
                    if kind == "email":
                        result = deliver(store, turn=turn)
                    else:
                        result = deliver_requests(store, stop=self.stopping.is_set, turn=turn)
                    if result.sent:
                        log.info("worker: %s", result.told(_NOUN[kind]))
                self.send_errors[kind] = None
            except Exception as error:  # as in a pass: a locked database skips a turn
                if not is_locked(error):
                    self.send_errors[kind] = f"sending {_NOUN[kind]}s failed: {describe(error)}"
                    if not self.site.faults.report(error, "worker", self.site.now()):
                        faults.error("worker: %s", self.send_errors[kind])  # once a minute
            woken.wait(self.interval)

    def stuck(self) -> str | None:
        """Why /healthz should say the worker is not doing its job, or None (not listening is
        not such a reason: the worker still looks every second)."""
        if not self.is_alive():
            return "the worker has stopped"
        for courier in self.couriers:
            if not courier.is_alive():
                return f"the worker's loop for {courier.name.split('-')[1]} has stopped"
        if self.began is not None and time.monotonic() - self.began > STUCK_AFTER:
            return f"one pass has been running for over {STUCK_AFTER:.0f} s"
        return self.error or self.send_errors["email"] or self.send_errors["http"]


def _after_one() -> Callable[[], bool]:
    """A `stop` for Processor.run that lets one batch through."""
    asked = iter((False,))
    return lambda: next(asked, True)
