"""Stalled deals: open deals that outstayed their stage's `rot_after`, most overdue first."""

from __future__ import annotations

from salesflow.reports import Column, Report
from salesflow.store.reports import overdue_deals
from salesflow.store.session import Store
from salesflow.values import from_minor, stored_instant
from salesflow.wording import counted

COLUMNS = [
    Column("id", "#", "int"),
    Column("title", "deal"),
    Column("contact", "contact"),
    Column("stage_name", "stage"),
    Column("days_in_stage", "days", "int"),
    Column("days_overdue", "overdue", "int"),
    Column("owner", "owner"),
    Column("next_step", "next step"),
    Column("amount", "amount", "money"),
]
TICKET_SUBJECT = Column("subject", "ticket")


def stalled_rows(store: Store, pipeline_id: str | None = None, kind: str | None = None):
    """The stalled deals (or tickets: `kind`) as rows, found by index: per stage, entered
    before now − rot_after."""
    limits = []
    for pipeline in store.project.pipelines.values():
        if (pipeline_id and pipeline.id != pipeline_id) or (kind and pipeline.object != kind):
            continue
        for stage in pipeline.stages:
            if stage.rot_after and not stage.outcome:
                threshold = stored_instant(store.now - stage.rot_after)
                rot_days = stage.rot_after.total_seconds() / 86400
                limits.append((pipeline.id, stage.id, stage.name, threshold, rot_days))
    return overdue_deals(store, limits)


def stalled(store: Store, pipeline_id: str | None = None, kind: str | None = None) -> Report:
    """The stalled deals, or tickets: those of `pipeline_id`'s kind, else of `kind` (deals by
    default): one report never mixes the two."""
    if pipeline_id:
        kind = store.project.pipelines[pipeline_id].object if (
            pipeline_id in store.project.pipelines) else kind  # fmt: skip
    kind = kind or "deal"
    currency = store.project.currency
    rows = [
        {
            "id": row["id"],
            "title": row["title"],
            "contact": row["contact_email"],
            "pipeline": row["pipeline"],
            "stage": row["stage"],
            "stage_name": row["stage_name"],
            "days_in_stage": int(row["days"]),
            "days_overdue": int(row["days"] - row["rot_days"]),
            "owner": row["owner"],
            "next_step": row["next_step"],
            "amount": from_minor(row["amount"], currency),
        }
        for row in stalled_rows(store, pipeline_id, kind)
    ]
    amounts = [row["amount"] for row in rows if row["amount"] is not None]
    totals = {"title": f"total: {counted(len(rows), kind)}",
              "amount": sum(amounts, from_minor(0, currency))}  # fmt: skip
    if kind == "deal":
        return Report("Stalled deals", COLUMNS, rows, totals)
    # a ticket's title is its subject, and a ticket has no amount
    rows = [{**row, "subject": row["title"]} for row in rows]
    columns = [TICKET_SUBJECT if c.key == "title" else c for c in COLUMNS if c.key != "amount"]
    return Report("Stalled tickets", columns, rows, {"subject": totals["title"]})
