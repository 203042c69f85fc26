"""A log that stays readable under attack: one line per kind of failure per interval.

A flood of connections, or a worker that fails every second for an hour, would otherwise
write a line each time (95 MB in 30 s when the file descriptors ran out). The first line of
a kind goes out at once; the same line again within the interval is counted, not written,
and the next one written says how many were held back.
"""

from __future__ import annotations

import logging
import threading
import time

INTERVAL = 60.0  # seconds during which the same line is written once
KINDS = 1000  # kinds remembered; past it, those not written within the interval are forgotten

# Failures that can repeat per connection or per pass; the request log stays one line per request.
faults = logging.getLogger("salesflow.serve.faults")


class OncePerInterval(logging.Filter):
    def __init__(self, interval: float = INTERVAL):
        super().__init__()
        self.interval = interval
        self.written: dict[tuple[str, str, str], float] = {}  # kind → when it was last written
        self.held: dict[tuple[str, str, str], int] = {}  # kind → lines held back since
        self.lock = threading.Lock()  # the event loop, the worker and request threads log

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        error = record.exc_info[1] if record.exc_info else None
        kind = (record.name, message, repr(error))  # a traceback: one per distinct error
        now = time.monotonic()
        with self.lock:
            if now - self.written.get(kind, -self.interval) < self.interval:
                self.held[kind] = self.held.get(kind, 0) + 1
                return False
            if len(self.written) >= KINDS:
                self._forget_before(now - self.interval)
            self.written[kind] = now
            held = self.held.pop(kind, 0)
        if held:
            record.msg, record.args = f"{message} ({held} more like it held back)", None
        return True

    def _forget_before(self, moment: float) -> None:
        for kind in [kind for kind, written in self.written.items() if written < moment]:
            del self.written[kind]
            self.held.pop(kind, None)


def quieten(*loggers: logging.Logger) -> None:
    """Let each of these loggers write a line of a kind once per interval."""
    for logger in loggers:
        if not any(isinstance(each, OncePerInterval) for each in logger.filters):
            logger.addFilter(OncePerInterval())


quieten(faults)
