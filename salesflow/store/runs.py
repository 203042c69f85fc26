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


# --- Listings for the CLI (runs list/show, workflows list) ---


def listing(
    store: Store,
    workflow: str | None = None,
    status: str | None = None,
    contact_id: int | None = None,
    soonest_first: bool = False,
) -> list[sqlite3.Row]:
    """Runs with their contact's email, newest first (or soonest to wake first), filtered by
    workflow, status and contact."""
    clauses, params = [], []
    for column, value in (("r.workflow", workflow), ("r.status", status),
                          ("r.contact_id", contact_id)):  # fmt: skip
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    order = "r.wake_at, r.id" if soonest_first else "r.id DESC"
    return store.conn.execute(
        "SELECT r.*, c.email AS contact_email FROM runs r"
        f" LEFT JOIN contacts c ON c.id = r.contact_id{where} ORDER BY {order}",
        params,
    ).fetchall()


def with_contact(store: Store, run_id: int) -> sqlite3.Row | None:
    """One run with its contact's email (for `public`), None if there is no such run."""
    return store.conn.execute(
        "SELECT r.*, c.email AS contact_email FROM runs r"
        " LEFT JOIN contacts c ON c.id = r.contact_id WHERE r.id = ?",
        (run_id,),
    ).fetchone()


def active_by_workflow(store: Store) -> dict[str, int]:
    """How many runs are under way (running or waiting), by workflow id."""
    return dict(
        store.conn.execute(
            "SELECT workflow, count(*) FROM runs WHERE status IN ('running', 'waiting')"
            " GROUP BY workflow"
        ).fetchall()
    )
