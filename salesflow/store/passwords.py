"""Team members' passwords for the web pages, hashed with scrypt (memory-hard, in the
standard library: no dependency) and kept in the database, never in YAML or Git."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from salesflow.errors import UserError
from salesflow.store import login_sessions
from salesflow.store.session import Store

_N, _R, _P = 2**14, 8, 1  # 16 MiB and ~50 ms a check: slow for a guesser, fine for a login
MINIMUM_LENGTH = 10


def _hash(password: str, salt: bytes, n: int = _N, r: int = _R, p: int = _P) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 2**20)


def set_password(store: Store, member: str, password: str) -> None:
    """Set the member's password and end their open sessions, in the caller's transaction."""
    if member not in store.project.team:
        raise UserError(f"'{member}' is not in the team of salesflow.yaml")
    if len(password) < MINIMUM_LENGTH:
        raise UserError(f"a password needs at least {MINIMUM_LENGTH} characters")
    salt = secrets.token_bytes(16)
    stored = f"scrypt:{_N}:{_R}:{_P}${salt.hex()}${_hash(password, salt).hex()}"
    store.conn.execute(
        "INSERT INTO passwords (member, hash, changed_at) VALUES (?, ?, ?) ON CONFLICT (member)"
        " DO UPDATE SET hash = excluded.hash, changed_at = excluded.changed_at",
        (member, stored, store.stamp),
    )
    login_sessions.end_member_sessions(store, member)  # whoever knew the old one is logged out


def changed_at(store: Store, member: str) -> str | None:
    """When the member's password was set (None: they have none, so cannot log in)."""
    row = store.conn.execute(
        "SELECT changed_at FROM passwords WHERE member = ?", (member,)
    ).fetchone()
    return row[0] if row else None


def check(store: Store, member: str | None, password: str) -> bool:
    """True when `password` is the member's. Someone unknown (or without a password, or
    `member` None) costs the same hash, so the time of the answer does not tell who has an
    account."""
    row = store.conn.execute("SELECT hash FROM passwords WHERE member = ?", (member,)).fetchone()
    if row is None or member not in store.project.team:
        _hash(password, b"\0" * 16)
        return False
    method, salt, expected = row[0].split("$")
    _, n, r, p = method.split(":")
    computed = _hash(password, bytes.fromhex(salt), int(n), int(r), int(p))
    return hmac.compare_digest(computed, bytes.fromhex(expected))
