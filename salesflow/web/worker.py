"""The loop of `salesflow run`, inside `serve`: so one service replaces the cron line.

It looks for due work (the same cheap queries as `run`'s quick path) when an event is
recorded, and every second anyway; when there is some, it takes in the inbox and ticks:
events handled, emails delivered, waits resumed, schedules fired. An event wakes it from
this server's requests (Site.writing) and, on PostgreSQL, from anywhere — another host, another
`serve`, a `salesflow ingest` — through LISTEN/NOTIFY (store/wakeups.py), on a connection of its
own in a thread beside it; when that connection is lost, the worker goes on looking every
second while it connects again. Wakes that come during a pass make one more pass, not one
each: a pass takes all that is pending, in batches, so the worker keeps up whatever the rate
of posts. The `http` steps' requests go from a loop of their own beside it: a receiver that
hangs holds up none of that. A cron `run` beside it is safe: every piece of work is claimed
in a transaction. Stopping waits for the pass under way to end between two batches, so
nothing is half done.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from salesflow.store.db import describe, is_locked
from salesflow.store.wakeups import listener
from salesflow.web.quietlog import faults
from salesflow.web.site import REQUEST_LOCK_WAIT, Site

log = logging.getLogger("salesflow.serve")
INTERVAL = 1.0  # seconds between looks for due work when nothing wakes the worker
STUCK_AFTER = 300.0  # seconds one pass may take before /healthz says the worker is stuck
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
        self.requests_error: str | None = None  # why the requests loop's last turn failed
        self.listen_error: str | None = None  # why it does not listen now (PostgreSQL)
        self.requests = threading.Thread(target=self.send_requests, name="salesflow-requests",
                                         daemon=True)  # fmt: skip
        self.listening = threading.Thread(target=self.listen, name="salesflow-listen",
                                          daemon=True)  # fmt: skip

    def start(self) -> None:
        self.requests.start()
        self.listening.start()
        super().start()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.woken.clear()  # before the pass: what is recorded during it makes one more
            self.one_pass()
            self.woken.wait(self.interval)
        self.requests.join()
        self.listening.join()

    def wake(self) -> None:
        """Look for due work now (an event was recorded), not at the next interval."""
        self.woken.set()

    def stop(self, timeout: float | None = None) -> None:
        self.stopping.set()
        self.woken.set()
        self.join(timeout)

    def one_pass(self) -> None:
        self.began = time.monotonic()
        try:
            from salesflow.engine.context import Renderer, environment  # imports open files:
            from salesflow.engine.due import anything_due  # inside the try
            from salesflow.engine.tick import tick
            from salesflow.ingest.inbox import drain_project_inbox
            from salesflow.mail.poll import poll_if_due

            store = self.site.store()
            if anything_due(store, requests=False):
                if store.project.inbox is not None:
                    drain_project_inbox(store)
                mail = poll_if_due(store)
                if mail and mail.error:
                    faults.error("worker: %s", mail.summary())
                self.renderer = self.renderer or Renderer(environment(store.project))
                result = tick(store, stop=self.stopping.is_set, requests=False,
                              renderer=self.renderer)  # fmt: skip
                if result.processed.runs or result.delivery.sent or result.resumed:
                    log.info("worker: %s", result.summary())
            self.last_pass, self.error = store.now, None
        except Exception as error:  # a locked database skips a turn; the rest is reported
            if not is_locked(error):  # and retried next turn (out of file descriptors too)
                self.error = describe(error)
                if not self.site.faults.report(error, "worker", self.site.now()):
                    faults.error("worker: the pass failed: %s", self.error)  # once a minute
        finally:
            self.began = None

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

    def send_requests(self) -> None:
        """The `http` steps' requests, in a loop beside the passes: a receiver that hangs
        holds up no email and no new submission (each request has its deadline, and they
        go side by side)."""
        while not self.stopping.is_set():
            try:
                from salesflow.engine.due import requests_due
                from salesflow.outbox.delivery import deliver_requests

                store = self.site.store()
                if requests_due(store):
                    result = deliver_requests(store, stop=self.stopping.is_set)
                    if result.sent:
                        log.info("worker: %s", result.told("request"))
                self.requests_error = None
            except Exception as error:  # as in a pass: a locked database skips a turn
                if not is_locked(error):
                    self.requests_error = f"sending requests failed: {describe(error)}"
                    if not self.site.faults.report(error, "worker", self.site.now()):
                        faults.error("worker: %s", self.requests_error)  # once a minute
            self.stopping.wait(self.interval)

    def stuck(self) -> str | None:
        """Why /healthz should say the worker is not doing its job, or None (not listening is
        not such a reason: the worker still looks every second)."""
        if not self.is_alive():
            return "the worker has stopped"
        if not self.requests.is_alive():
            return "the worker's loop for requests has stopped"
        if self.began is not None and time.monotonic() - self.began > STUCK_AFTER:
            return f"one pass has been running for over {STUCK_AFTER:.0f} s"
        return self.error or self.requests_error
