"""Running the app under uvicorn: the address, the proxies we trust, the limits on
connections, the logs, and a clean stop on SIGTERM (uvicorn stops taking requests, finishes
those under way, then the app's lifespan ends the worker's pass; the process exits 0)."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import replace

from salesflow.config.model import Project
from salesflow.errors import EnvironmentFault
from salesflow.store.serving import ServeState
from salesflow.web.connections import (
    OUT_OF_RESOURCES,
    GuardedH11Protocol,
    Listener,
    fit_descriptors,
)
from salesflow.web.quietlog import faults, quieten
from salesflow.web.signatures import require_secrets
from salesflow.web.site import Site

STARTUP_FAILURE = 3  # uvicorn did not start (a port in use is caught before, exit 1)


def serve(
    project: Project,
    host: str,
    port: int,
    worker: bool = True,
    log_format: str = "text",
    now_text: str | None = None,
    announce: Callable[[], None] = lambda: None,
) -> None:
    """Serve until stopped; `announce` is called once the port is ours, so that a port in use
    is one line (a UserError) and nothing said before it."""
    import uvicorn

    from salesflow.web.app import build_app

    require_secrets(project)
    _log_to_stderr()
    site = Site(project, now_text)
    site.store()  # the database opens (and is migrated) before the first request
    site.faults.state = ServeState(project, site.now(), site.opened)  # what check reads
    atexit.register(site.faults.state.close)
    cap = fit_descriptors(project.serve.max_connections)
    settings = replace(project.serve, max_connections=cap)
    proxies = list(settings.trusted_proxies)
    config = uvicorn.Config(
        build_app(site, worker, log_format),
        host=host,
        port=port,
        http=GuardedH11Protocol.configured(settings),
        timeout_keep_alive=settings.idle_timeout,  # seconds: uvicorn says int, uses it as float
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        access_log=False,  # our own line per request, without query strings
        log_level="warning",
        timeout_graceful_shutdown=30,
    )
    quieten(logging.getLogger("uvicorn.error"))  # its lines per connection: bad requests, 503s
    server = uvicorn.Server(config)
    listener = Listener.taking(_bind(host, port))
    announce()
    # uvicorn stops gracefully on SIGTERM, then raises the signal again with the handler it
    # found: this one makes that an exit with status 0, as systemd expects of a clean stop.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    asyncio.run(_serve_quietly(server, listener))
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def _bind(host: str, port: int) -> socket.socket:
    """The listening address, taken before anything is announced (uvicorn's own binding
    logs an errno and exits without naming the port). Made as a TCP socket by name: asyncio
    sets TCP_NODELAY only on accepted sockets whose protocol says TCP, and without it a page's
    body, written after its headers, waited for the client's delayed ACK (40 ms on Linux,
    on about half the pages)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise EnvironmentFault(f"cannot listen on {host} port {port}: {error.strerror}; stop"
                               " what uses it or choose another with --port") from None  # fmt: skip
    return sock


async def _serve_quietly(server, listener: Listener) -> None:
    asyncio.get_running_loop().set_exception_handler(_loop_error)
    await server.serve(sockets=[listener])


def _loop_error(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """Out of file descriptors, asyncio reports each failed accept with a traceback: one line
    a minute says it instead; asyncio retries a second later by itself."""
    error = context.get("exception")
    if isinstance(error, OSError) and error.errno in OUT_OF_RESOURCES:
        faults.error("serve: cannot take new connections: %s (raise LimitNOFILE or lower"
                     " serve.max_connections)", os.strerror(error.errno))  # fmt: skip
    else:
        loop.default_exception_handler(context)


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("salesflow.serve")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _exit_cleanly(signum, frame) -> None:
    raise SystemExit(0)
