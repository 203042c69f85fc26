"""What keeps robots and floods off forms that cannot be signed (a plain HTML form on a
static site) and off the login page: the allowed origins, and a per-client rate limit. The
honeypot is in `submissions`, where the fields are read."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.requests import Request

from salesflow.config.model import Form

_SECONDS = {"s": 1, "min": 60, "h": 3600}


def origin_allowed(form: Form, headers: Mapping[str, str]) -> bool:
    """True when the form names no origins, or the post comes from one of them (Origin, or
    the scheme and host of Referer when a browser sends no Origin)."""
    if not form.allowed_origins:
        return True
    origin = headers.get("origin")
    if not origin and headers.get("referer"):
        parts = urlsplit(headers["referer"])
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin in form.allowed_origins


def client_address(request: Request) -> str:
    """The client's address (behind a trusted proxy, the one it forwarded)."""
    return request.client.host if request.client else ""


class RateLimiter:
    """Posts per (form, client) in fixed windows (`10/min`), kept in memory: a restart
    forgets them, which only ever lets a little more through."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.counts: dict[tuple[str, str, int, int], int] = {}
        self.lock = threading.Lock()

    def wait_for(self, name: str, limit: str | None, client: str) -> int:
        """0 when the post to `name` may go in (and it is counted), else the seconds until
        it may; `limit` is `10/min` (None: no limit)."""
        if not limit:
            return 0
        allowed, unit = limit.split("/")
        window = _SECONDS[unit]
        now = self.clock()
        slot = int(now // window)
        with self.lock:
            if len(self.counts) > 10_000:  # forget finished windows
                self.counts = {
                    key: n for key, n in self.counts.items() if key[3] >= int(now // key[2])
                }
            key = (name, client, window, slot)
            if self.counts.get(key, 0) >= int(allowed):
                return max(1, int(window - now % window))
            self.counts[key] = self.counts.get(key, 0) + 1
        return 0
