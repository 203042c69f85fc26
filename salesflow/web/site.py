"""What the web app shares between requests: the project, a database connection per server
thread, the forms' readers, the rate limiter, the worker and the pages' templates."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from functools import cached_property

from jinja2 import Environment
from starlette.responses import HTMLResponse

from salesflow import clock
from salesflow.config.model import Project
from salesflow.ingest.forms import FormReader
from salesflow.store.db import DatabaseLocked, connect_again, sync_every_commit
from salesflow.store.session import Store
from salesflow.web.environment import environment
from salesflow.web.faults import Faults
from salesflow.web.guards import RateLimiter
from salesflow.web.turns import Turns

REQUEST_LOCK_WAIT = 2.0  # seconds a request waits for the write lock before its 503


class Site:
    def __init__(self, project: Project, now_text: str | None = None):
        self.project = project
        self.now_text = now_text  # --now / SALESFLOW_NOW, for tests and demos
        self.limiter = RateLimiter()
        self.worker = None  # the background loop, when serve runs one
        self.faults = Faults()
        self.opened: tuple[int, int] | None = None  # the database file, as (device, inode)
        self._local = threading.local()
        self._readers: dict[str, FormReader] = {}
        self.turns = Turns()  # one writer at a time: posts and the worker before sending

    def store(self, answering: bool = True) -> Store:
        """The calling thread's store, at the current time. A thread that answers requests
        commits with synchronous=FULL: a submission is on disk before its 2xx is sent (and a
        message marked sent stays so: the worker's delivery loops commit so too). The worker's
        passes (`answering=False`) commit as `salesflow run` does (NORMAL): what they write is
        done again after a crash, and a commit that waits for the disk would only hold the
        write lock longer, making the next submission's welcome wait.

        Every thread's connection belongs to the file the server opened first: once that
        file is deleted or replaced, each use (and each commit) raises DatabaseMoved until
        a restart, and no thread opens the file now at the path. A restored backup is taken
        on purpose, by restarting; a file put there by mistake (a deploy, a stray copy) is
        never written to, nor are emails sent again from its state."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and connection.broken:  # the server restarted: connect again
            connection.close()
            connection = None
        if connection is None:  # a lost file is not opened again, nor its successor
            connection = connect_again(self.project.database, self.opened, REQUEST_LOCK_WAIT)
            if answering:
                sync_every_commit(connection)
            self.opened = self.opened or connection.identity
            connection.identity = self.opened
            self._local.connection = connection
        connection.check_file()
        return Store(connection, self.project, self.now())

    @contextlib.contextmanager
    def writing(self) -> Iterator[Store]:
        """The calling thread's store, once no other request of this server is writing.
        Requests wait their turn on a lock rather than each polling SQLite's busy handler,
        which at 400 posts/s left a few of them past REQUEST_LOCK_WAIT (a 503). The write
        done, the worker is woken: a form's welcome email does not wait for its next look."""
        if not self.turns.take(timeout=REQUEST_LOCK_WAIT):
            raise DatabaseLocked("other requests kept the database busy")
        try:
            yield self.store()
        finally:
            self.turns.give()
        if self.worker is not None:  # what was written may be work: a form's event, a move
            self.worker.wake()

    def turn(self, store: Store) -> AbstractContextManager:
        """The worker's turn to write a batch. SQLite has one writer at a time: the worker
        takes turns with this server's requests (web/turns.py), rather than SQLite's busy
        wait, where a worker that commits a batch and begins the next at once left posts
        waiting past REQUEST_LOCK_WAIT (503s at 200 posts/s). PostgreSQL's writers do not
        wait for each other's batches: there the worker takes no turn."""
        return self.turns.first() if store.conn.dialect == "sqlite" else nullcontext()

    def aside(self, store: Store) -> AbstractContextManager:
        """A delivery loop's turn to write (a message claimed, marked sent…): once no post
        and no batch of the worker waits (SQLite; on PostgreSQL, none needed)."""
        return self.turns.aside() if store.conn.dialect == "sqlite" else nullcontext()

    def now(self):
        return clock.now(self.now_text, self.project.timezone)

    def reader(self, form: str) -> FormReader:
        """The form's reader, made once (it compiles the form's key and map)."""
        if form not in self._readers:
            self._readers[form] = FormReader(self.project, form)
        return self._readers[form]

    @cached_property
    def templates(self) -> Environment:
        return environment(self.project)

    def gettext(self, text: str) -> str:
        """`text` (marked with `N_` where it is written) in the project's language."""
        return self.templates.globals["catalog"].gettext(text)

    def page(self, name: str, status: int = 200, headers=None, **values) -> HTMLResponse:
        """A page in the project's language."""
        html = self.templates.get_template(name).render(**values)
        return HTMLResponse(html, status, headers=headers)

    def queue_counts(self) -> dict[str, int]:
        """The queues' counts for /healthz (raises when the database cannot be read)."""
        from salesflow.store.health import queue_counts

        return queue_counts(self.store())
