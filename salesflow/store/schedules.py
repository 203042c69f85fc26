"""The last slot each scheduled workflow fired (or was first seen at), and the slots fired.

Each slot fired is a row of `schedule_fires`, unique by (workflow, slot): whoever inserts it
fires the slot. Hosts ticking at the same moment all see the slot due; on PostgreSQL the
second insert waits for the first transaction and then finds the row (on SQLite the write
lock makes them take turns): one run per slot, however many hosts run `run` or `serve`."""

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
        " fired_at = coalesce(excluded.fired_at, schedules.fired_at)",
        (workflow_id, slot.isoformat(), store.stamp if fired else None),
    )


def fire(store: Store, workflow_id: str, slot: datetime) -> bool:
    """Claim this slot of the workflow for the caller's transaction, and remember it as the
    last one; False when another pass fired it already."""
    claimed = store.conn.execute(
        "INSERT INTO schedule_fires (workflow, slot, fired_at) VALUES (?, ?, ?)"
        " ON CONFLICT (workflow, slot) DO NOTHING RETURNING workflow",
        (workflow_id, slot.isoformat(), store.stamp),
    ).fetchone()
    if claimed is not None:
        remember(store, workflow_id, slot)
    return claimed is not None
