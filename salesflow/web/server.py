"""Running the app under uvicorn: the address, the proxies we trust, the logs, and a clean
stop on SIGTERM (uvicorn stops taking requests, finishes those under way, then the app's
lifespan ends the worker's pass; the process exits 0)."""

from __future__ import annotations

import atexit
import logging
import signal
import sys

from salesflow.config.model import Project
from salesflow.store.serving import ServeState
from salesflow.web.signatures import require_secrets
from salesflow.web.site import Site


def serve(
    project: Project,
    host: str,
    port: int,
    worker: bool = True,
    log_format: str = "text",
    now_text: str | None = None,
) -> None:
    import uvicorn

    from salesflow.web.app import build_app

    require_secrets(project)
    _log_to_stderr()
    site = Site(project, now_text)
    site.store()  # the database opens (and is migrated) before the first request
    site.faults.state = ServeState(project, site.now(), site.opened)  # what check reads
    atexit.register(site.faults.state.close)
    proxies = list(project.serve.trusted_proxies)
    # uvicorn stops gracefully on SIGTERM, then raises the signal again with the handler it
    # found: this one makes that an exit with status 0, as systemd expects of a clean stop.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        build_app(site, worker, log_format),
        host=host,
        port=port,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        access_log=False,  # our own line per request, without query strings
        log_level="warning",
        timeout_graceful_shutdown=30,
    )


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("salesflow.serve")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _exit_cleanly(signum, frame) -> None:
    raise SystemExit(0)
