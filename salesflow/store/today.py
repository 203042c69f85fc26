"""The queries of a member's "today" (reports/today.py): one statement per list, for one
member or the whole team at once (sorted by member), each read by index."""

from __future__ import annotations

import sqlite3

from salesflow.store.session import Store
from salesflow.store.stages import of_kind, values_of

_OPEN_TASK = "SELECT 1 FROM tasks t WHERE t.deal_id = d.id AND t.done_at IS NULL"


def tasks_due_before(store: Store, end: str, assignee: str | None) -> list[sqlite3.Row]:
    """The open tasks due before `end` (an instant as stored), of `assignee` or everyone's,
    by assignee then soonest due: off the index (assignee, done_at, due_at)."""
    mine, params = (" AND t.assignee = ?", [assignee]) if assignee else ("", [])
    return store.conn.execute(
        "SELECT t.id, t.title, t.assignee, t.due_at, t.deal_id, d.title AS deal_title,"
        " c.email AS contact_email FROM tasks t LEFT JOIN deals d ON d.id = t.deal_id"
        " LEFT JOIN contacts c ON c.id = t.contact_id"
        f" WHERE t.done_at IS NULL AND t.due_at < ?{mine} ORDER BY t.assignee, t.due_at, t.id",
        (end, *params),
    ).fetchall()


def deals_unplanned(store: Store, owner: str | None) -> list[sqlite3.Row]:
    """The open deals (not tickets) of `owner`, or everyone's, without a next step or without
    an open task (`has_task` says which), by owner: off the index (owner, status), each
    deal's tasks off the index (deal_id, done_at)."""
    mine, params = (" AND d.owner = ?", [owner]) if owner else ("", [])
    kind, kinds = of_kind(store, "deal")
    return store.conn.execute(
        "SELECT d.id, d.title, d.owner, d.pipeline, d.stage, d.next_step, d.amount,"
        f" c.email AS contact_email, CASE WHEN EXISTS ({_OPEN_TASK}) THEN 1 ELSE 0 END"
        " AS has_task FROM deals d LEFT JOIN contacts c ON c.id = d.contact_id"
        f" WHERE d.status = 'open'{mine}{kind}"
        f" AND (coalesce(d.next_step, '') = '' OR NOT EXISTS ({_OPEN_TASK}))"
        " ORDER BY d.owner, d.id",
        (*params, *kinds),
    ).fetchall()


def deals_waiting_on_items(
    store: Store, required: list[tuple[str, str, str]], owner: str | None
) -> list[sqlite3.Row]:
    """The open deals and tickets of `owner`, or everyone's, in a stage with a required
    checklist item not ticked — `required`: (pipeline, stage, item) — one row per item
    missing (`item`), by owner then longest in the stage: each stage off the index (status,
    pipeline, stage, stage_entered_at), each item a probe of checklist_ticks' key."""
    if not required:
        return []
    mine, params = (" AND d.owner = ?", [owner]) if owner else ("", [])
    values = values_of(("text", "text", "text"), len(required))
    return store.conn.execute(
        f"WITH required(pipeline, stage, item) AS ({values})"
        " SELECT d.id, d.title, d.owner, d.pipeline, d.stage, d.stage_entered_at, r.item,"
        " c.email AS contact_email FROM required r JOIN deals d ON d.status = 'open'"
        f" AND d.pipeline = r.pipeline AND d.stage = r.stage{mine}"
        " LEFT JOIN contacts c ON c.id = d.contact_id"
        " WHERE NOT EXISTS (SELECT 1 FROM checklist_ticks k WHERE k.deal_id = d.id"
        " AND k.stage = r.stage AND k.item = r.item)"
        " ORDER BY d.owner, d.stage_entered_at, d.id",
        (*(value for row in required for value in row), *params),
    ).fetchall()
