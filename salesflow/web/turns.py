"""Whose turn it is to write, among one server's threads.

SQLite has one writer at a time. Left to SQLite's busy handler, a writer that finds the lock
taken sleeps (1, 2, 5 … up to 100 ms) and tries again: a thread that commits in a loop
(the delivery loop marking message after message, each commit synced to disk) kept a post
waiting most of a second. So the server's threads take turns on a lock of their own, which
hands over as soon as it is released, and the work somebody waits for goes first: posts and
the worker's batches `take` a turn before any delivery loop waiting `aside`; a delivery
loop writes when none of them is waiting (and between two of its writes gives way again).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Turns:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calm = threading.Condition()  # notified when no first turn is waiting
        self._waiting = 0  # threads waiting for a first turn

    def take(self, timeout: float = -1) -> bool:
        """A turn before any `aside` one; False when not had within `timeout` seconds
        (-1: wait as long as it takes). `give` it back."""
        with self._calm:
            self._waiting += 1
        try:
            return self._lock.acquire(timeout=timeout)
        finally:
            with self._calm:
                self._waiting -= 1
                if not self._waiting:
                    self._calm.notify_all()

    def give(self) -> None:
        self._lock.release()

    @contextmanager
    def first(self) -> Iterator[None]:
        """A turn before any `aside` one, as long as it takes."""
        self.take()
        try:
            yield
        finally:
            self.give()

    @contextmanager
    def aside(self) -> Iterator[None]:
        """A turn once no first one is waiting: for writes nobody waits for."""
        while True:
            with self._calm:
                self._calm.wait_for(lambda: not self._waiting)
            self._lock.acquire()
            if not self._waiting:
                break
            self._lock.release()  # a first one came meanwhile: its turn
        try:
            yield
        finally:
            self._lock.release()
