"""The board: one column per stage with its count, total, and the deals in it."""

from __future__ import annotations

from salesflow.reports import Column, Report
from salesflow.store.deals import pipeline as find_pipeline
from salesflow.store.session import Store
from salesflow.store.stages import stray_message, stray_stages
from salesflow.values import from_minor

CARD_COLUMNS = [
    Column("id", "#", "int"),
    Column("title", "deal"),
    Column("contact", "contact"),
    Column("owner", "owner"),
    Column("amount", "amount", "money"),
    Column("days_in_stage", "days", "int"),
    Column("stalled", "stalled", "bool"),
]
COLUMNS = [
    Column("name", "stage"),
    Column("count", "deals", "int"),
    Column("amount", "amount", "money"),
]


def board(store: Store, pipeline_id: str | None = None, cards: int = 5) -> Report:
    """Every stage of the pipeline with the count and amount of its deals, and its `cards`
    most valuable deals (open stages) or latest ones (won and lost stages)."""
    of = find_pipeline(store, pipeline_id)
    totals = {
        row["stage"]: row
        for row in store.conn.execute(
            "SELECT stage, count(*) AS count, coalesce(sum(amount), 0) AS amount FROM deals"
            " WHERE pipeline = ? GROUP BY stage",
            (of.id,),
        )
    }
    rows = []
    for stage in of.stages:
        rot = stage.rot_after.total_seconds() if stage.rot_after and not stage.outcome else None
        rows.append(_column(store, of.id, stage.id, stage.name, stage.outcome, rot, totals, cards))
    notes = []
    for pipeline, stage_id, count in stray_stages(store.conn, store.project):
        if pipeline == of.id:  # deals in a stage removed from the YAML: shown, with a warning
            name = f"{stage_id} (not in the pipeline)"
            rows.append(_column(store, of.id, stage_id, name, None, None, totals, cards))
            notes.append(f"warning: {stray_message(pipeline, stage_id, count, store.project)}")
    zero = from_minor(0, store.project.currency)
    totals = {"name": "total", "count": sum(r["count"] for r in rows),
              "amount": sum((r["amount"] for r in rows), zero)}  # fmt: skip
    return Report(of.name, COLUMNS, rows, totals, notes)


def _column(store: Store, pipeline: str, stage: str, name: str, outcome, rot, totals, cards):
    """One stage of the board: its count, its amount and its first `cards` deals."""
    currency = store.project.currency
    order = "d.closed_at DESC" if outcome else "coalesce(d.amount, 0) DESC"
    deals = store.conn.execute(
        "SELECT d.*, c.email AS contact_email,"
        " (julianday(?) - julianday(d.stage_entered_at)) * 86400 AS seconds"
        " FROM deals d LEFT JOIN contacts c ON c.id = d.contact_id"
        f" WHERE d.pipeline = ? AND d.stage = ? ORDER BY {order}, d.id DESC LIMIT ?",
        (store.stamp, pipeline, stage, cards),
    ).fetchall()
    total = totals.get(stage)
    return {
        "stage": stage,
        "name": name,
        "outcome": outcome,
        "count": total["count"] if total else 0,
        "amount": from_minor(total["amount"] if total else 0, currency),
        "cards": [_card(row, currency, rot) for row in deals],
    }


def _card(row, currency: str, rot_seconds: float | None) -> dict:
    seconds = row["seconds"]
    return {
        "id": row["id"],
        "title": row["title"],
        "contact": row["contact_email"],
        "owner": row["owner"],
        "amount": from_minor(row["amount"], currency),
        "days_in_stage": int(seconds // 86400),
        "stalled": bool(rot_seconds and seconds > rot_seconds),
    }
