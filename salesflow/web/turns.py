"""Whose turn it is to write, among one server's threads.

SQLite has one writer at a time. Left to SQLite's busy handler, a writer that finds the lock
taken sleeps (1, 2, 5 … up to 100 ms) and tries again: a thread that commits in a loop
(the delivery loop marking message after message, each commit synced to disk) kept a post
waiting most of a second. So the requests, the worker's batches of events and the delivery
loops write in turns of their own, and the work somebody waits for goes first: posts and
the worker's batches `take` a turn before a delivery loop waiting `aside`. A delivery loop
gives way for at most PATIENCE, then goes before any new first turn: under a steady stream
of posts its emails are still sent and marked (a message sent but not yet marked sent is
the window in which a crash sends it twice). The worker's full look (tick, inbox, mailbox)
takes no turn: it waits in SQLite's busy handler.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

PATIENCE = 0.05  # seconds a delivery loop gives way to first turns before it goes first


class Turns:
    def __init__(self) -> None:
        self._changed = threading.Condition()  # notified when a turn is given back
        self._held = False
        self._waiting = 0  # threads waiting for a first turn
        self._overdue = 0  # delivery loops that gave way for PATIENCE: they go next

    def take(self, timeout: float = -1) -> bool:
        """A turn before any `aside` one still patient; False when not had within `timeout`
        seconds (-1: wait as long as it takes). `give` it back."""
        with self._changed:
            self._waiting += 1
            try:
                had = self._changed.wait_for(
                    lambda: not self._held and not self._overdue,
                    None if timeout < 0 else timeout,
                )
            finally:
                self._waiting -= 1
                self._changed.notify_all()  # no first one waiting: a delivery loop's turn
            if had:
                self._held = True
            return had

    def give(self) -> None:
        with self._changed:
            self._held = False
            self._changed.notify_all()

    @contextmanager
    def first(self) -> Iterator[None]:
        """A turn before any `aside` one still patient, as long as it takes."""
        self.take()
        try:
            yield
        finally:
            self.give()

    @contextmanager
    def aside(self, patience: float = PATIENCE) -> Iterator[None]:
        """A turn once no first one is waiting, or after `patience` seconds: for writes
        nobody waits for now (a message claimed, marked sent)."""
        deadline = time.monotonic() + patience
        overdue = False
        with self._changed:
            while self._held or (self._waiting and not overdue):
                left = deadline - time.monotonic()
                if not overdue and left <= 0:
                    overdue = True
                    self._overdue += 1
                    continue
                self._changed.wait(None if overdue else left)
            if overdue:
                self._overdue -= 1
            self._held = True
        try:
            yield
        finally:
            self.give()
