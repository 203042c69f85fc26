"""The project's signing secret: made on first use and kept in the database (never in YAML
or Git), so `serve` and a cron `run` that queues emails sign alike.

Each use signs with its own key derived from the secret (`key(store, "unsubscribe")`), so a
token made for one purpose is never valid for another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from salesflow.store import login_sessions
from salesflow.store.session import Store

_NAME = "signing"


def _secret(store: Store) -> bytes:
    value = _read(store)
    if value is None:  # two processes may race to make it: the first one's stays
        store.conn.execute(
            "INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO NOTHING",
            (_NAME, secrets.token_hex(32), store.stamp),
        )
        value = _read(store)
    return bytes.fromhex(value)


def _read(store: Store) -> str | None:
    row = store.conn.execute("SELECT value FROM secrets WHERE name = ?", (_NAME,)).fetchone()
    return row[0] if row else None


def key(store: Store, purpose: str) -> bytes:
    """The key that signs `purpose`'s tokens, in the caller's transaction."""
    return hmac.new(_secret(store), purpose.encode(), hashlib.sha256).digest()


def rotate(store: Store) -> None:
    """Replace the secret: every link signed with the old one stops working, and every
    session of the pages ends."""
    store.conn.execute(
        "INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name)"
        " DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
        (_NAME, secrets.token_hex(32), store.stamp),
    )
    login_sessions.end_all(store)
