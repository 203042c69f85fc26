"""What one connection may hold: deadlines for each part of a request, and a cap on them all.

uvicorn closes a kept-alive connection idle for `timeout_keep_alive`, and nothing else: a
connection that never sends its request, sends its headers a byte a second (slowloris) or its
body a byte a second keeps its file descriptor for ever, and once `ulimit -n` is reached
nobody is served. So each connection here owes something by a deadline, and is closed when
it misses it:
- its request's headers, within `header_timeout` of connecting (or of the first byte of the
  next request, on a kept-alive connection);
- the whole body, within `body_timeout` of the headers (a total, not a time between chunks,
  which a byte now and then would meet);
- the next request, within `idle_timeout` of an answer (uvicorn's keep-alive).
Past `max_connections` held at once, a new connection gets its headers' worth of time (at
most OVER_CAP_WAIT) and a 503: the descriptors it would hold are kept for the database and
the worker. The descriptors' limit is raised to what the cap needs where the system allows,
and the cap lowered where it does not.

The protocol is uvicorn's h11 one with a timer beside it, set from h11's state after each
piece of data; over the cap, `over_capacity` answers that connection's request in place of
the app: a 503 with `Retry-After` and the security headers, and the connection closed.
"""

from __future__ import annotations

import asyncio
import errno
import resource
import socket
from typing import ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from salesflow.config.model import ServeSettings
from salesflow.web.headers import PAGE_HEADERS
from salesflow.web.quietlog import faults

OVER_CAP_WAIT = 1.0  # seconds a connection over the cap has to send the request it gets 503 for
RESERVED_FDS = 200  # descriptors kept beside connections: database per thread, outbox, SMTP
OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for whatever the connection owes next."""

    settings: ClassVar[ServeSettings]

    @classmethod
    def configured(cls, settings: ServeSettings) -> type[GuardedH11Protocol]:
        """The protocol class for one server (uvicorn makes one instance per connection)."""
        return type(cls.__name__, (cls,), {"settings": settings})

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.deadline: asyncio.TimerHandle | None = None
        self.owed: str | None = None  # "headers" or "body": what the deadline is for
        super().connection_made(transport)
        if len(self.connections) > self.settings.max_connections:
            self.app = over_capacity
            self._expect("headers", min(OVER_CAP_WAIT, self.settings.header_timeout))
            faults.warning("serve: over %d connections: new ones get 503",
                           self.settings.max_connections)  # fmt: skip
        else:
            self._expect("headers", self.settings.header_timeout)

    def data_received(self, data: bytes) -> None:
        if self.owed is None and self.conn.their_state is h11.IDLE:
            self._expect("headers", self.settings.header_timeout)  # the next request begins
        super().data_received(data)
        state = self.conn.their_state
        if self.owed == "headers" and state is not h11.IDLE:
            if state is h11.SEND_BODY:
                self._expect("body", self.settings.body_timeout)
            else:
                self._settled()
        elif self.owed == "body" and state is not h11.SEND_BODY:
            self._settled()

    def connection_lost(self, exc: Exception | None) -> None:
        self._settled()
        super().connection_lost(exc)

    def _expect(self, what: str, seconds: float) -> None:
        self._settled()
        self.owed = what
        self.deadline = self.loop.call_later(seconds, self._missed)

    def _settled(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
        self.deadline = self.owed = None

    def _missed(self) -> None:
        faults.info("serve: closed connections that did not send their %s in time", self.owed)
        self.deadline = self.owed = None
        self.transport.abort()  # close() would wait for a reader that may never read


_OVER_CAPACITY = b"Service Unavailable: too many connections; try again in a few seconds\n"


async def over_capacity(scope, receive, send) -> None:
    """The answer to a request on a connection over the cap (the app never sees it)."""
    headers = {
        "content-type": "text/plain; charset=utf-8",
        "connection": "close",
        "retry-after": "5",
        "content-length": str(len(_OVER_CAPACITY)),
        **PAGE_HEADERS,
    }
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [(name.encode(), value.encode()) for name, value in headers.items()],
        }
    )
    await send({"type": "http.response.body", "body": _OVER_CAPACITY})  # fmt: skip


class Listener(socket.socket):
    """The listening socket. Out of file descriptors, asyncio's accept loop (before Python's
    fix of gh-151615, June 2026) goes on calling accept() `backlog` times: 2,048 failures,
    each with a call of the loop's exception handler and a retry timer, at every wake-up
    (45 % of a core, and a traceback per timer left at exit). After one failure this socket
    says "nothing more to accept" for the rest of the round; asyncio's own retry, a second
    later, tries again."""

    resting = False

    @classmethod
    def taking(cls, bound: socket.socket) -> Listener:
        return cls(bound.family, bound.type, bound.proto, fileno=bound.detach())

    def accept(self) -> tuple[socket.socket, object]:
        if self.resting:
            raise BlockingIOError(errno.EAGAIN, "out of file descriptors: accepted again soon")
        try:
            return super().accept()
        except OSError as error:
            if error.errno in OUT_OF_RESOURCES:
                self.resting = True
                asyncio.get_running_loop().call_soon(self._wake)
            raise

    def _wake(self) -> None:
        self.resting = False


def fit_descriptors(max_connections: int) -> int:
    """The connections this process can hold at once, `max_connections` at most: its file
    descriptor limit is raised to what they need where the system allows (its hard limit),
    and where it does not, fewer are held (one line says so) so the rest stay for the work."""
    needed = max_connections + RESERVED_FDS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return max_connections
    soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft >= needed:
        return max_connections
    fitting = max(soft - RESERVED_FDS, 1)
    faults.warning("serve: %d file descriptors (ulimit -n): %d connections at once, not"
                   " serve.max_connections %d; raise LimitNOFILE", soft, fitting,
                   max_connections)  # fmt: skip
    return fitting
