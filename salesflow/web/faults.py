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
from salesflow.store.db import fault_advice, is_outage
from salesflow.store.serving import ServeState
from salesflow.web.quietlog import faults

log = logging.getLogger("salesflow.serve")
RETRY_AFTER = 60  # seconds: a person has to act; sooner retries only add load
RECENT = 15.0  # seconds during which /healthz still reports the last fault (a fixed disk
# is healthy again soon after; a sick one keeps failing the doors, and so /healthz)


def fault_kind(error: BaseException) -> str | None:
    """What is wrong, when `error` is the environment's fault (one text per kind)."""
    if isinstance(error, EnvironmentFault):
        return str(error)
    return fault_advice(error)


class Faults:
    """The faults serve meets: logged, 503s counted, the last one kept for /healthz."""

    def __init__(self):
        self.state: ServeState | None = None  # set by `serve`; tests of the app go without
        self._lock = threading.Lock()
        self.last: tuple[float, str] | None = None  # the last fault: when (monotonic), what
        self.outage = False  # the last fault was the database server out of reach

    def report(self, error: BaseException, where: str, now: datetime) -> bool:
        """Log `error` (once a minute per kind: `quietlog`) and count its 503 if it is a
        fault of the environment; True when it is such a fault."""
        kind = fault_kind(error)
        if kind is None:
            return False
        with self._lock:
            self.last, self.outage = (time.monotonic(), kind), is_outage(error)
            if self.state is not None and where != "worker":
                self.state.unavailable(now, kind)
        faults.error("serve: unavailable: %s", kind)  # the same words: once a minute
        return True

    def database_answers(self) -> None:
        """The database answered just now: an outage of its server reported before is over
        (a sick disk is not: its doors fail anew)."""
        with self._lock:
            if self.outage:
                self.last, self.outage = None, False

    def recent(self) -> str | None:
        """The last fault, if it was met in the last RECENT seconds (for /healthz)."""
        if self.last is None or time.monotonic() - self.last[0] > RECENT:
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
        if "text/html" in accept and not scope["path"].endswith(".json"):  # a page's JSON
            return self.site.page("unavailable.html", 503, headers)
        content = {"error": "the service cannot record anything right now; try again later"}
        if scope["path"].startswith("/forms/"):
            content["pointer"] = ""  # the forms' error shape
        return JSONResponse(content, 503, headers=headers)
