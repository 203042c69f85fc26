"""The ASGI app of `salesflow serve`: its routes, its request log, and the worker's life."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime, tzinfo

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from salesflow.store.db import describe
from salesflow.translations import N_
from salesflow.web import pages
from salesflow.web.auth import NOT_FOUND, json_answer, program
from salesflow.web.faults import Unavailable
from salesflow.web.headers import SecurityHeaders
from salesflow.web.pages.forms import post_form
from salesflow.web.pages.unsubscribe import unsubscribe_page
from salesflow.web.site import Site
from salesflow.web.worker import Worker

log = logging.getLogger("salesflow.serve")


def build_app(site: Site, worker: bool = True, log_format: str = "text") -> ASGIApp:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started = Worker(site) if worker else None
        if started is not None:
            site.worker = started
            started.start()
        yield
        if started is not None:  # uvicorn stopped taking requests: end the pass, exit
            await run_in_threadpool(started.stop)  # (a worker it did not start is not its own)

    app = Starlette(
        routes=[
            Route("/forms/{form}", post_form, methods=["POST"]),
            Route("/unsubscribe/{token}", unsubscribe_page, methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            *pages.ROUTES,
            Mount("/static", StaticFiles(packages=[("salesflow.web", "static")])),
        ],
        lifespan=lifespan,
        exception_handlers={ClientDisconnect: client_gone, 404: no_route, 405: no_route},
    )
    app.state.site = site
    app.add_middleware(Unavailable, site=site)  # inside the log: it logs the 503
    app.add_middleware(RequestLog, json_lines=log_format == "json", zone=site.project.timezone)
    return SecurityHeaders(app)


async def client_gone(request: Request, error: Exception) -> Response:
    """The client left, or was dropped at its deadline, before its body was all in: no one
    reads this answer, and the request log says 408 rather than a traceback."""
    return Response(status_code=408)


NOT_ALLOWED = N_("This page does not take that kind of request.")


async def no_route(request: Request, error: HTTPException) -> Response:
    """A URL or a method no route answers: the site's error page in the project's language,
    or JSON for a `.json` URL — never a plain-text English line."""
    site: Site = request.app.state.site
    said = site.gettext(NOT_FOUND if error.status_code == 404 else NOT_ALLOWED)
    if program(request):
        return json_answer({"error": said}, error.status_code, error.headers)
    return site.page("error.html", error.status_code, error.headers, message=said)


async def healthz(request: Request) -> Response:
    """For uptime monitors: 200 when the database answers and the worker (if any) works."""
    site: Site = request.app.state.site
    try:
        counts = await run_in_threadpool(site.queue_counts)
    except Exception as error:
        return JSONResponse({"ok": False, "error": f"database: {describe(error)}"}, 503)
    site.faults.database_answers()  # a server's outage ends when it answers, not 15 s later
    worker = site.worker
    problem = worker.stuck() if worker is not None else None
    fault = site.faults.recent()  # a door answered 503 for a sick disk a moment ago
    body = {
        "ok": problem is None and fault is None, **counts,
        "worker": "off" if worker is None else problem or "running",
        "last_pass": worker.last_pass.isoformat() if worker and worker.last_pass else None,
        **({"error": f"unavailable: {fault}"} if fault else {}),
    }  # fmt: skip
    return JSONResponse(body, 200 if body["ok"] else 503)


class RequestLog:
    """One line per request: time (the wall clock, in the project's zone like every other
    time salesflow shows), method, path, status, milliseconds. The path only: a query string
    may hold a form's token, and no body or field is ever logged."""

    def __init__(self, app: ASGIApp, zone: tzinfo, json_lines: bool = False):
        self.app = app
        self.json_lines = json_lines
        self.zone = zone

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = [500]

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self._line(scope, status[0], (time.perf_counter() - began) * 1000)

    def _line(self, scope: Scope, status: int, ms: float) -> None:
        stamp = datetime.now(self.zone).strftime("%Y-%m-%dT%H:%M:%S%z")
        if self.json_lines:
            log.info(json.dumps({"time": stamp,
                                 "method": scope["method"], "path": scope["path"],
                                 "status": status, "ms": round(ms, 1)}))  # fmt: skip
        else:
            log.info("%s %s %s %d %.1f ms", stamp,
                     scope["method"], scope["path"], status, ms)  # fmt: skip
