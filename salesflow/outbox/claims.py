"""Claims: which delivery pass holds which items, for how long.

A pass claims a bounded slice of the due items in one write transaction (`sending`,
`claimed_by` this pass, `claimed_until` a lease in real time), so two overlapping passes
never take the same item. A claim is taken over only when its lease ran out or its process is
gone (a pass killed mid-way). Leases follow the real clock, not `--now`: they are about
processes, and a jump of the business clock must never make a live pass's claim look expired.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

from salesflow.store import outbox
from salesflow.store.db import transaction
from salesflow.store.session import Store
from salesflow.values import stored_instant

CLAIM = timedelta(minutes=10)
RENEW_EVERY = timedelta(minutes=1)
HOST = socket.gethostname()


def new_holder() -> str:
    """A pass's name on its claims: `host:pid:token`."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease() -> str:
    """Until when a claim taken or renewed now holds."""
    return stored_instant(datetime.now(UTC) + CLAIM)


def holder_alive(holder: str) -> bool:
    """A claim's holder is alive unless it ran on this host and its process is gone."""
    host, pid, _token = [*holder.rsplit(":", 2), "", ""][:3]
    if host != HOST or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim(store: Store, holder: str, limit: int, kind: str = "email") -> list[sqlite3.Row]:
    """Take a slice of the due items of one kind for this pass, atomically: queued or
    retrying ones that are due, and `sending` ones whose lease ran out or whose holder died."""
    with transaction(store.conn):
        dead = [other for other in outbox.holders(store) if not holder_alive(other)]
        now = stored_instant(datetime.now(UTC))
        return outbox.claim_slice(store, holder, lease(), kind, now, dead, limit)


def is_stale(row: sqlite3.Row) -> bool:
    """A `sending` item whose pass is gone or whose lease ran out."""
    if row["claimed_until"] and row["claimed_until"] <= stored_instant(datetime.now(UTC)):
        return True
    return not row["claimed_by"] or not holder_alive(row["claimed_by"])
