"""Claims: which delivery pass holds which items, for how long.

A pass claims a bounded slice of the due items in one write transaction (`sending`,
`claimed_by` this pass, `claimed_until` the end of its lease), so two overlapping passes
never take the same item — on SQLite because one writer claims at a time, on PostgreSQL
because the claim locks the rows it takes and skips those another pass is taking
(store/queues.py). A claim is taken over only when its lease ran out or its process is gone
(a pass killed mid-way on this host).

Two clocks. Leases are about processes, so they are measured on the clock every host shares:
the database's (`now()` on PostgreSQL; on SQLite, with its one host, that host's wall
clock), and the store computes every lease end and expiry there, never in Python. Business
time (`--now`, `SALESFLOW_NOW`) is the project's clock: it decides which items are due
(`next_attempt_at`) and stamps what happened, and never touches a lease. So a test that moves
`--now` (days ahead, or back) can neither expire a live pass's claim nor extend a dead one's;
a test makes a lease run out by shortening `CLAIM` (to a negative length), not by moving
`--now` or sleeping.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import uuid
from datetime import timedelta

from salesflow.store import outbox
from salesflow.store.db import transaction
from salesflow.store.session import Store

CLAIM = timedelta(minutes=10)
RENEW_EVERY = timedelta(minutes=1)
HOST = socket.gethostname()


def new_holder() -> str:
    """A pass's name on its claims: `host:pid:token`."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease() -> int:
    """How long a claim taken or renewed now holds, in seconds of the database's clock."""
    return int(CLAIM.total_seconds())


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
        return outbox.claim_slice(store, holder, lease(), kind, dead, limit)


def is_stale(store: Store, row: sqlite3.Row) -> bool:
    """A `sending` item whose pass is gone or whose lease ran out."""
    if row["claimed_until"] and row["claimed_until"] <= outbox.clock(store):
        return True
    return not row["claimed_by"] or not holder_alive(row["claimed_by"])
