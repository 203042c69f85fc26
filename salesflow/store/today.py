"""The queries of a member's "today" (reports/today.py): one statement per list, for one
member or the whole team at once (sorted by member), each read by index. A deal is in one
deal list only (stalled, then waiting, then nothing planned): each list leaves out those of
the lists before it, so that it can be counted per member, and cut to its first few, in
SQL."""

from __future__ import annotations

import sqlite3

from salesflow.store.reports import stalled_cte
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


def stalled_by_owner(store: Store, limits: list[tuple], owner: str | None) -> list[sqlite3.Row]:
    """How many stalled deals in `limits`' stages (store/reports.py says what stalled means)
    each owner has (`owner`, `deals`), or `owner` alone: off the index that finds them."""
    cte, params = stalled_cte(store, limits)
    mine, of = (" WHERE owner = ?", [owner]) if owner else ("", [])
    return store.conn.execute(
        f"{cte} SELECT owner, count(*) AS deals FROM stalled{mine} GROUP BY owner",
        (*params, *of),
    ).fetchall()


def deals_unplanned(
    store: Store, owner: str | None, limits: list[tuple], required: list[tuple[str, str, str]],
    first: int | None = None,
) -> list[sqlite3.Row]:  # fmt: skip
    """The open deals (not tickets) of `owner`, or everyone's, without a next step or without
    an open task (`has_task` says which), neither stalled in `limits`' stages nor waiting on
    a `required` item (listed before them), by owner: those missing both first, then the
    largest amount; `of_owner`, how many the owner has; with `first`, the `first` of each
    owner only. Off the index (owner, status), each deal's tasks off (deal_id, done_at)."""
    mine, params = (" AND d.owner = ?", [owner]) if owner else ("", [])
    kind, kinds = of_kind(store, "deal")
    cte, before = _stalled_and_required(store, limits, required)
    waiting = (
        " AND NOT EXISTS (SELECT 1 FROM required r WHERE r.pipeline = d.pipeline"
        f" AND r.stage = d.stage AND NOT {_TICKED})"
        if required else ""
    )  # fmt: skip
    bound, most = _first(first)
    return store.conn.execute(
        f"{cte}, unplanned AS (SELECT d.id, d.title, d.owner, d.next_step, d.amount,"
        f" d.contact_id, CASE WHEN EXISTS ({_OPEN_TASK}) THEN 1 ELSE 0 END AS has_task"
        f" FROM deals d WHERE d.status = 'open'{mine}{kind}"
        f" AND (coalesce(d.next_step, '') = '' OR NOT EXISTS ({_OPEN_TASK}))"
        f" AND d.id NOT IN (SELECT id FROM stalled){waiting}),"
        " placed AS (SELECT u.*, row_number() OVER (PARTITION BY owner ORDER BY CASE WHEN"
        " coalesce(next_step, '') = '' THEN 0 ELSE 1 END + has_task, coalesce(amount, 0) DESC,"
        " id) AS place, count(*) OVER (PARTITION BY owner) AS of_owner FROM unplanned u)"
        " SELECT p.*, c.email AS contact_email FROM placed p"
        f" LEFT JOIN contacts c ON c.id = p.contact_id{bound} ORDER BY p.owner, p.place",
        (*before, *params, *kinds, *most),
    ).fetchall()


def deals_waiting_on_items(
    store: Store, required: list[tuple[str, str, str]], owner: str | None,
    limits: list[tuple], first: int | None = None,
) -> list[sqlite3.Row]:  # fmt: skip
    """The open deals and tickets of `owner`, or everyone's, in a stage with a required
    checklist item not ticked — `required`: (pipeline, stage, item) — and not stalled in
    `limits`' stages (listed before them), one row per item missing (`item`), by owner then
    longest in the stage; `of_owner`, how many the owner has; with `first`, the `first` of
    each owner only. Each stage off the index (status, pipeline, stage, stage_entered_at),
    each item a probe of checklist_ticks' key."""
    if not required:
        return []
    mine, params = (" AND d.owner = ?", [owner]) if owner else ("", [])
    cte, before = _stalled_and_required(store, limits, required)
    bound, most = _first(first)
    return store.conn.execute(
        f"{cte}, waiting AS (SELECT d.id, d.title, d.owner, d.pipeline, d.stage,"
        " d.stage_entered_at, r.item, d.contact_id FROM required r JOIN deals d"
        f" ON d.status = 'open' AND d.pipeline = r.pipeline AND d.stage = r.stage{mine}"
        f" WHERE NOT {_TICKED} AND d.id NOT IN (SELECT id FROM stalled)),"
        " ranked AS (SELECT w.*, dense_rank() OVER (PARTITION BY owner"
        " ORDER BY stage_entered_at, id) AS place FROM waiting w),"
        " placed AS (SELECT k.*, max(place) OVER (PARTITION BY owner) AS of_owner FROM ranked k)"
        " SELECT p.*, c.email AS contact_email FROM placed p"
        f" LEFT JOIN contacts c ON c.id = p.contact_id{bound}"
        " ORDER BY p.owner, p.stage_entered_at, p.id",
        (*before, *params, *most),
    ).fetchall()


_TICKED = (
    "EXISTS (SELECT 1 FROM checklist_ticks k WHERE k.deal_id = d.id AND k.stage = r.stage"
    " AND k.item = r.item)"
)


def _stalled_and_required(
    store: Store, limits: list[tuple], required: list[tuple[str, str, str]]
) -> tuple[str, list]:
    """`WITH` clauses: `stalled` (store/reports.py) and `required`, if any; their params."""
    cte, params = stalled_cte(store, limits)
    if not required:
        return cte, params
    values = values_of(("text", "text", "text"), len(required))
    return (
        f"{cte}, required(pipeline, stage, item) AS ({values})",
        [*params, *(value for row in required for value in row)],
    )


def _first(first: int | None) -> tuple[str, list]:
    """The condition keeping the `first` of each owner (`place` counts from 1), if given."""
    return (" WHERE p.place <= ?", [first]) if first is not None else ("", [])
