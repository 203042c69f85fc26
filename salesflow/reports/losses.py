"""Losses: lost deals by the stage they were lost from, and by reason."""

from __future__ import annotations

from salesflow.reports import Column, Report
from salesflow.store.deals import of_kind
from salesflow.store.session import Store
from salesflow.values import from_minor

COLUMNS = [
    Column("lost_from", "lost from"),
    Column("reason", "reason"),
    Column("deals", "deals", "int"),
    Column("amount", "amount", "money"),
]


def losses(store: Store, pipeline_id: str | None = None) -> Report:
    where, params = (
        (" AND d.pipeline = ?", [pipeline_id]) if pipeline_id else of_kind(store, "deal")
    )
    rows = store.conn.execute(
        "SELECT coalesce(d.lost_from, d.stage) AS lost_from,"
        " coalesce(d.lost_reason, '') AS reason, count(*) AS deals,"
        " coalesce(sum(d.amount), 0) AS amount FROM deals d"
        f" WHERE d.status = 'lost'{where} GROUP BY 1, 2"
        " ORDER BY deals DESC, lost_from, reason",
        params,
    ).fetchall()
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
