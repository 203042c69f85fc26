"""Losses: lost deals by the stage they were lost from, and by reason."""

from __future__ import annotations

from salesflow.reports import Column, Report
from salesflow.store.reports import lost_by_stage_and_reason
from salesflow.store.session import Store
from salesflow.values import from_minor

COLUMNS = [
    Column("lost_from", "lost from"),
    Column("reason", "reason"),
    Column("deals", "deals", "int"),
    Column("amount", "amount", "money"),
]


def losses(store: Store, pipeline_id: str | None = None) -> Report:
    rows = lost_by_stage_and_reason(store, pipeline_id)
    names = {
        (stage.id): stage.name
        for pipeline in store.project.pipelines.values()
        for stage in pipeline.stages
    }
    currency = store.project.currency
    result = [
        {
            "lost_from": names.get(row["lost_from"], row["lost_from"]),
            "stage": row["lost_from"],
            "reason": row["reason"] or None,
            "deals": row["deals"],
            "amount": from_minor(row["amount"], currency),
        }
        for row in rows
    ]
    totals = {
        "lost_from": "total",
        "deals": sum(r["deals"] for r in result),
        "amount": sum((r["amount"] for r in result), from_minor(0, currency)),
    }
    return Report("Lost deals", COLUMNS, result, totals)
