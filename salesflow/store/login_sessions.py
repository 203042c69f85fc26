"""Who is signed in to the pages: one row per login, so that a session ends when it should —
at logout, when the member's password changes, when the signing secret is rotated, after
`serve: {session_idle: …}` unused, and 7 days after the login whatever happens.

The cookie carries a random id (256 bits); the table keeps only its SHA-256. Whoever reads
the database (a backup, a copy on a laptop, `sqlite3` over an operator's shoulder) finds no
cookie to replay. A fast hash is enough: the id is random, there is nothing to guess.

`last_seen_at` is written at most once a minute per session (a quarter of the idle period
when that is shorter), not on every request: a page view stays a read (no write lock taken
beside the worker and the forms, no fsync under `synchronous=FULL`), and a minute is nothing
against an idle period of hours.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from datetime import timedelta

from salesflow.store.db import is_locked
from salesflow.store.session import Store
from salesflow.values import stored_instant

LIFETIME = timedelta(days=7)  # a login lasts at most this long, however busy
TOUCH_EVERY = timedelta(minutes=1)

# Now in seconds since 1970 on the database's clock: every `serve` process (on any host) counts
# login attempts on the one clock they share. Like the old in-memory limiter, it is real time,
# not the project's business time (`--now`): a guesser is slowed in the real world.
_CLOCK = {
    "sqlite": "SELECT (julianday('now') - 2440587.5) * 86400.0",
    "postgresql": "SELECT extract(epoch FROM clock_timestamp())::float8",
}
# One client's attempts counted by one process at a time: SQLite's BEGIN IMMEDIATE already
# lets one writer in; PostgreSQL's row locks do not cover rows not yet inserted.
_ONE_CLIENT_AT_A_TIME = {"sqlite": None, "postgresql": "SELECT pg_advisory_xact_lock(hashtext(?))"}


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(store: Store, member: str) -> str:
    """A new session for `member`, who has just given their password: its id, for the
    cookie. Sessions that have ended are forgotten meanwhile, so the table stays small."""
    _forget_ended(store)
    session_id = secrets.token_urlsafe(32)
    store.conn.execute(
        "INSERT INTO sessions (id, member, created_at, last_seen_at) VALUES (?, ?, ?, ?)",
        (_key(session_id), member, store.stamp, store.stamp),
    )
    return session_id


def member_of(store: Store, session_id: str | None) -> str | None:
    """The member whose session `session_id` is, while it is active (None otherwise); the
    session counts as seen now."""
    if not session_id:
        return None
    row = store.conn.execute(
        "SELECT member, last_seen_at FROM sessions WHERE id = ? AND created_at > ?"
        " AND last_seen_at > ?",
        (_key(session_id), *_active_since(store)),
    ).fetchone()
    if row is None:
        return None
    touch_every = min(TOUCH_EVERY, store.project.serve.session_idle / 4)
    if row["last_seen_at"] <= stored_instant(store.now - touch_every):
        _touch(store, session_id)
    return row["member"]


def _touch(store: Store, session_id: str) -> None:
    """Mark the session seen now; when the database is busy writing, the next request will
    (the idle period is hours; a page is not refused for a minute's precision)."""
    try:
        store.conn.execute(
            "UPDATE sessions SET last_seen_at = ? WHERE id = ?", (store.stamp, _key(session_id))
        )
    except Exception as error:  # busy, on either engine: the next request touches it
        if not is_locked(error):
            raise


def end(store: Store, session_id: str | None) -> None:
    """End one session (logout)."""
    if session_id:
        store.conn.execute("DELETE FROM sessions WHERE id = ?", (_key(session_id),))


def end_member_sessions(store: Store, member: str) -> None:
    """End every session of `member` (their password changed)."""
    store.conn.execute("DELETE FROM sessions WHERE member = ?", (member,))


def end_all(store: Store) -> None:
    """End every session (the signing secret was rotated)."""
    store.conn.execute("DELETE FROM sessions")


def login_wait(store: Store, client: str, tries: int, seconds: int, counted: bool = True) -> int:
    """0 when a login attempt from `client` may go on (it is counted, unless not `counted`:
    see count_attempt), else the seconds until one may: at most `tries` in any `seconds`,
    whichever `serve` process receives them. In the caller's transaction."""
    conn = store.conn
    if lock := _ONE_CLIENT_AT_A_TIME[conn.dialect]:
        conn.execute(lock, (f"login {client}",))
    now = conn.execute(_CLOCK[conn.dialect]).fetchone()[0]
    conn.execute("DELETE FROM login_attempts WHERE at <= ?", (now - seconds,))
    count, first = conn.execute(
        "SELECT count(*), min(at) FROM login_attempts WHERE client = ?", (client,)
    ).fetchone()
    if count >= tries:
        return max(1, math.ceil(first + seconds - now))
    if counted:
        conn.execute("INSERT INTO login_attempts (client, at) VALUES (?, ?)", (client, now))
    return 0


def count_attempt(store: Store, client: str) -> None:
    """An attempt from `client` counted afterwards (a wrong password given to the pages'
    JSON: a right one, a program's every request, is not held against its address)."""
    now = store.conn.execute(_CLOCK[store.conn.dialect]).fetchone()[0]
    store.conn.execute("INSERT INTO login_attempts (client, at) VALUES (?, ?)", (client, now))


def _forget_ended(store: Store) -> None:
    store.conn.execute(
        "DELETE FROM sessions WHERE created_at <= ? OR last_seen_at <= ?", _active_since(store)
    )


def count_active(store: Store) -> int:
    """How many sessions are active now (for `salesflow check`)."""
    return store.conn.execute(
        "SELECT count(*) FROM sessions WHERE created_at > ? AND last_seen_at > ?",
        _active_since(store),
    ).fetchone()[0]


def _active_since(store: Store) -> tuple[str, str]:
    """(created after, seen after): the bounds of an active session at the store's time."""
    idle = store.project.serve.session_idle
    return stored_instant(store.now - LIFETIME), stored_instant(store.now - idle)
