"""The last slot each scheduled workflow fired (or was first seen at)."""

from __future__ import annotations

from datetime import datetime

from salesflow.store.session import Store


def last_slots(store: Store) -> dict[str, str]:
    """Workflow id → its last slot (naive wall-clock time, ISO)."""
    return dict(store.conn.execute("SELECT workflow, last_slot FROM schedules").fetchall())


def remember(store: Store, workflow_id: str, slot: datetime, fired: bool = True) -> None:
    store.conn.execute(
        "INSERT INTO schedules (workflow, last_slot, fired_at) VALUES (?, ?, ?)"
        " ON CONFLICT (workflow) DO UPDATE SET last_slot = excluded.last_slot,"
        " fired_at = coalesce(excluded.fired_at, fired_at)",
        (workflow_id, slot.isoformat(), store.stamp if fired else None),
    )
