"""Workflow runs as people read them: a run's public view and its trace (the `run_steps`
rows), for `runs show` and the deal page. Reading only, for now."""

from __future__ import annotations

import json
import sqlite3

from salesflow.store.session import Store
from salesflow.values import read_instant


def public(run: sqlite3.Row, store: Store) -> dict:
    """A run as the CLI and the pages show it (its contact's email when the row has it)."""
    zone = store.project.timezone
    wake = read_instant(run["wake_at"], zone)
    return {
        "id": run["id"],
        "workflow": run["workflow"],
        "status": run["status"],
        "reason": run["reason"],
        "contact_id": run["contact_id"],
        "contact": run["contact_email"] if "contact_email" in run.keys() else None,  # noqa: SIM118
        "deal_id": run["deal_id"],
        "next_step": "/".join(json.loads(run["cursor"])) if run["cursor"] else None,
        "wake_at": wake.isoformat() if wake else None,
        "started_at": read_instant(run["started_at"], zone).isoformat(),
        "updated_at": read_instant(run["updated_at"], zone).isoformat(),
    }


def trace(store: Store, run_id: int) -> list[dict]:
    """Everything the run's steps did, in order."""
    rows = store.conn.execute(
        "SELECT * FROM run_steps WHERE run_id = ? ORDER BY id", (run_id,)
    ).fetchall()
    zone = store.project.timezone
    return [
        {"at": read_instant(row["at"], zone).isoformat(), "step": row["step"],
         "action": row["action"], "outcome": row["outcome"], "detail": row["detail"]}
        for row in rows
    ]  # fmt: skip


def write_trace(store: Store, rows: list[tuple]) -> None:
    """Trace lines, each (run_id, step, action, outcome, detail, at)."""
    store.conn.executemany(
        "INSERT INTO run_steps (run_id, step, action, outcome, detail, at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )
