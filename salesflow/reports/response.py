"""Tickets: how long until a first response, and until resolution, by priority.

A ticket's first response is the first email queued to its contact after it was opened, or
its first stage move, whichever came first; its resolution is its close in a won stage.
Medians, in hours: one slow ticket does not hide how the rest are served.
"""

from __future__ import annotations

from statistics import median

from salesflow.config.model import PRIORITIES
from salesflow.reports import Column, Report
from salesflow.store.deals import pipeline as find_pipeline
from salesflow.store.deals import pipelines_of
from salesflow.store.session import Store
from salesflow.values import read_instant

COLUMNS = [
    Column("priority", "priority"),
    Column("tickets", "tickets", "int"),
    Column("open", "open", "int"),
    Column("first_response_hours", "1st response (h)", "days"),
    Column("resolved", "resolved", "int"),
    Column("resolution_hours", "resolved in (h)", "days"),
]


def ticket_times(store: Store, pipeline_id: str | None = None, ticket: int | None = None):
    """Per ticket: (row, first response instant or None, hours to it, hours to resolution)."""
    pipelines = [find_pipeline(store, pipeline_id, "ticket").id] if pipeline_id else (
        pipelines_of(store, "ticket"))  # fmt: skip
    if not pipelines:
        return []
    only, params = (" AND d.id = ?", [ticket]) if ticket else ("", [])
    rows = store.conn.execute(  # nothing after now counts: the report is as of its clock
        "SELECT d.id, d.priority, d.status, d.created_at, d.closed_at <= ?1 AS closed,"
        " d.closed_at, (SELECT min(o.created_at) FROM outbox o WHERE o.kind = 'email'"
        "   AND o.to_addr = c.email AND o.created_at >= d.created_at AND o.created_at <= ?1"
        "   AND o.status != 'cancelled') AS first_email,"
        " (SELECT min(h.at) FROM stage_history h WHERE h.deal_id = d.id"
        "   AND h.from_stage IS NOT NULL AND h.at <= ?1) AS first_move"
        f" FROM deals d LEFT JOIN contacts c ON c.id = d.contact_id WHERE d.pipeline IN"
        f" ({', '.join('?' * len(pipelines))}){only} ORDER BY d.id",
        (store.stamp, *pipelines, *params),
    ).fetchall()
    zone = store.project.timezone
    timed = []
    for row in rows:
        opened = read_instant(row["created_at"], zone)
        answers = [m for m in (row["first_email"], row["first_move"]) if m]
        first = read_instant(min(answers), zone) if answers else None
        won = row["status"] == "won" and row["closed"]
        closed = read_instant(row["closed_at"], zone) if won else None
        timed.append((row, first, _hours(first, opened), _hours(closed, opened)))
    return timed


def _hours(later, earlier) -> float | None:
    return None if later is None else (later - earlier).total_seconds() / 3600


def response(store: Store, pipeline_id: str | None = None) -> Report:
    timed = ticket_times(store, pipeline_id)
    rows = [_row(priority, [t for t in timed if t[0]["priority"] == priority])
            for priority in reversed(PRIORITIES)]  # fmt: skip
    rows = [row for row in rows if row["tickets"]]
    totals = {**_row("total", timed), "priority": "total"}
    title = "Response times" + (f" · {pipeline_id}" if pipeline_id else "")
    return Report(title, COLUMNS, rows, totals)


def _row(priority: str, timed: list) -> dict:
    responses = [t[2] for t in timed if t[2] is not None]
    resolutions = [t[3] for t in timed if t[3] is not None]
    return {
        "priority": priority,
        "tickets": len(timed),
        "open": sum(1 for t in timed if t[0]["status"] == "open"),
        "first_response_hours": round(median(responses), 1) if responses else None,
        "resolved": len(resolutions),
        "resolution_hours": round(median(resolutions), 1) if resolutions else None,
    }
