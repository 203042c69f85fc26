"""What every transport shares, below mail and webhooks alike: how a send fails (the outbox
decides from the type whether the item goes again) and the whole-file write of the folder
transports (`.eml`, `.http`)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path


class TemporaryFailure(Exception):
    """Try again later: connection refused, timeout, a 4xx reply; `retry_after` when the
    other end said when."""

    def __init__(self, message: str, retry_after: timedelta | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ConnectionLost(TemporaryFailure):
    """The connection broke: this message and the rest of the pass go later."""


class PermanentFailure(Exception):
    """This message will never go: a 5xx reply for its recipient."""


def write_whole(target: Path, content: bytes) -> str:
    """Write a file whole or not at all (a crash leaves a .tmp, never half a file)."""
    partial = target.with_suffix(".tmp")
    partial.write_bytes(content)
    os.replace(partial, target)
    return target.name  # what the "other end" answers: the file it wrote
