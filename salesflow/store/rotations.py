"""What `assign_owner` chooses by: a round robin's position (shared by every run) and how
many open records each member owns."""

from __future__ import annotations

from salesflow.store import stages
from salesflow.store.session import Store


def take_turn(store: Store, key: str) -> int:
    """The rotation's position (0 the first time), moved on by one for the next caller, in
    one statement: two hosts taking turns at once get two positions."""
    return store.conn.execute(
        "INSERT INTO rotations (key, position) VALUES (?, 1) ON CONFLICT (key)"
        " DO UPDATE SET position = rotations.position + 1 RETURNING position - 1",
        (key,),
    ).fetchone()[0]


def open_counts(store: Store, among: tuple[str, ...], record: str) -> dict[str, int]:
    """Open deals (or tickets) per owner among these members; those with none are left out."""
    kind, pipelines = stages.of_kind(store, record)
    return dict(
        store.conn.execute(
            f"SELECT owner, count(*) FROM deals d WHERE status = 'open'{kind} AND owner IN"
            f" ({', '.join('?' * len(among))}) GROUP BY owner",
            (*pipelines, *among),
        ).fetchall()
    )
