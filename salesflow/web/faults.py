"""A sick disk or a lost database at any door of `serve`: a 503 with `Retry-After`, never a
500 with a traceback per request.

A full disk, an I/O error, a read-only or deleted database are the environment's faults, not
a request's: every door answers 503 until a person fixes it. The log gets one line per kind
of fault per minute (with how many more there were), not one per request; the 503s are
counted in the serve's state file, which `salesflow check` reads.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from salesflow.errors import EnvironmentFault
from salesflow.store.db import fault_advice
from salesflow.store.serving import ServeState

log = logging.getLogger("salesflow.serve")
RETRY_AFTER = 60  # seconds: a person has to act; sooner retries only add load
LOG_EVERY = 60.0  # seconds between two log lines about the same kind of fault


def fault_kind(error: BaseException) -> str | None:
    """What is wrong, when `error` is the environment's fault (one text per kind)."""
    if isinstance(error, EnvironmentFault):
        return str(error)
    return fault_advice(error)


class Faults:
    """The faults serve meets: logged once per kind per LOG_EVERY, 503s counted."""

    def __init__(self):
        self.state: ServeState | None = None  # set by `serve`; tests of the app go without
        self._lock = threading.Lock()
        self._last_line: dict[str, float] = {}
        self._unsaid: dict[str, int] = {}  # how many of a kind since its last line
        self.last: tuple[float, str] | None = None  # the last fault: when (monotonic), what

    def report(self, error: BaseException, where: str, now: datetime) -> bool:
        """Log `error` if it is a fault of the environment and its kind was not logged in
        the last LOG_EVERY seconds; True when it is such a fault."""
        kind = fault_kind(error)
        if kind is None:
            return False
        with self._lock:
            self.last = (time.monotonic(), kind)
            if self.state is not None and where != "worker":
                self.state.unavailable(now, kind)
            self._unsaid[kind] = self._unsaid.get(kind, 0) + 1
            said = self._last_line.get(kind)
            if said is not None and time.monotonic() - said < LOG_EVERY:
                return True
            self._last_line[kind] = time.monotonic()
            count = self._unsaid.pop(kind)
        more = f" ({count - 1} more since the last line)" if count > 1 else ""
        detail = "" if isinstance(error, EnvironmentFault) else f" ({error})"
        log.error("%s: unavailable: %s%s%s", where, kind, detail, more)
        return True

    def recent(self) -> str | None:
        """The last fault, if it was met in the last LOG_EVERY seconds (for /healthz)."""
        if self.last is None or time.monotonic() - self.last[0] > LOG_EVERY:
            return None
        return self.last[1]


class Unavailable:
    """The guard around every door of the app: a fault of the environment raised by any
    route becomes a 503 with Retry-After (JSON, or a short page for a browser)."""

    def __init__(self, app: ASGIApp, site):
        self.app = app
        self.site = site

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = [False]

        async def sending(message) -> None:
            started[0] = started[0] or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as error:
            if started[0] or not self.site.faults.report(error, "serve", self.site.now()):
                raise
            await self._answer(scope)(scope, receive, send)

    def _answer(self, scope: Scope) -> Response:
        headers = {"Retry-After": str(RETRY_AFTER)}
        accept = dict(scope["headers"]).get(b"accept", b"").decode("latin-1")
        if "text/html" in accept:
            return self.site.page("unavailable.html", 503, headers)
        content = {"error": "the service cannot record anything right now; try again later"}
        if scope["path"].startswith("/forms/"):
            content["pointer"] = ""  # the forms' error shape
        return JSONResponse(content, 503, headers=headers)
