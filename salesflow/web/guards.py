"""What keeps robots and floods off forms that cannot be signed (a plain HTML form on a
static site) and off the login page: the allowed origins, and a per-client rate limit. The
honeypot is in `submissions`, where the fields are read."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
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
    """Posts per (form, client) within any window of its length (`10/min`: never an 11th
    post less than a minute after the first of ten — fixed windows would let 20 through
    across a boundary), kept in memory: a restart forgets them, which only ever lets a
    little more through."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.times: dict[tuple[str, str, int], deque[float]] = {}  # when each post came
        self.lock = threading.Lock()

    def wait_for(self, name: str, limit: str | None, client: str) -> int:
        """0 when the post to `name` may go in (and it is counted), else the seconds until
        it may; `limit` is `10/min` (None: no limit)."""
        if not limit:
            return 0
        allowed, unit = limit.split("/")
        window = _SECONDS[unit]
        now = self.clock()
        with self.lock:
            if len(self.times) > 10_000:
                self._forget_before(now)
            times = self.times.setdefault((name, client, window), deque())
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) >= int(allowed):
                return max(1, math.ceil(times[0] + window - now))
            times.append(now)
        return 0

    def _forget_before(self, now: float) -> None:
        """Forget the clients whose last post is older than their window."""
        self.times = {key: times for key, times in self.times.items()
                      if times and times[-1] > now - key[2]}  # fmt: skip
