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
from salesflow.store.reports import ticket_answers
from salesflow.store.session import Store
from salesflow.store.stages import pipelines_of
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
    rows = ticket_answers(store, pipelines, ticket)  # nothing after now counts
    zone = store.project.timezone
    timed = []
    for row in rows:
        opened = read_instant(row["created_at"], zone)
        answers = [m for m in (row["first_email"], row["first_move"]) if m]
        first = read_instant(min(answers), zone) if answers else None
        won = row["status"] == "won"  # as of now, as every column of the row
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
