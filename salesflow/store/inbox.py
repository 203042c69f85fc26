"""The inbox's memory: each file taken in, by the SHA-256 of its bytes, so that the same
file dropped again is not taken in twice."""

from __future__ import annotations

from salesflow.store.session import Store


def seen(store: Store, digest: str) -> bool:
    """Whether a file with these bytes was taken in before."""
    row = store.conn.execute("SELECT 1 FROM inbox_files WHERE sha256 = ?", (digest,)).fetchone()
    return row is not None


def record_done(store: Store, digest: str, name: str) -> None:
    """The file `name` (its path under the inbox) is taken in, in the caller's transaction."""
    store.conn.execute(
        "INSERT INTO inbox_files (sha256, name, outcome, processed_at) VALUES (?, ?, 'done', ?)"
        " ON CONFLICT DO NOTHING",
        (digest, name, store.stamp),
    )
