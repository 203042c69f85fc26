"""The board: one column per stage with its count, total, and the deals in it."""

from __future__ import annotations

from salesflow.reports import Column, Report
from salesflow.store.deals import pipeline as find_pipeline
from salesflow.store.session import Store
from salesflow.store.stages import SECONDS_IN_STAGE, stages_cte
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


def board(store: Store, pipeline_id: str | None = None, cards: int = 5) -> Report:
    """Every stage of the pipeline with count and amount of its deals, and its `cards` most
    valuable open deals (or latest closed ones)."""
    of = find_pipeline(store, pipeline_id)
    cte, params = stages_cte(store.project)
    totals = store.conn.execute(
        f"WITH {cte} SELECT s.stage, count(d.id) AS count, coalesce(sum(d.amount), 0) AS amount"
        " FROM stages s LEFT JOIN deals d ON d.pipeline = s.pipeline AND d.stage = s.stage"
        " WHERE s.pipeline = ? GROUP BY s.stage",
        (*params, of.id),
    ).fetchall()
    by_stage = {row["stage"]: row for row in totals}
    card_rows = store.conn.execute(
        f"WITH {cte}, ranked AS (SELECT d.*, c.email AS contact_email,"
        f" {SECONDS_IN_STAGE} AS seconds, s.rot_seconds,"
        " row_number() OVER (PARTITION BY d.stage ORDER BY"
        "  CASE WHEN d.status = 'open' THEN coalesce(d.amount, 0) END DESC,"
        "  d.closed_at DESC, d.id DESC) AS rank"
        " FROM deals d JOIN stages s ON s.pipeline = d.pipeline AND s.stage = d.stage"
        " LEFT JOIN contacts c ON c.id = d.contact_id WHERE d.pipeline = ?)"
        " SELECT * FROM ranked WHERE rank <= ? ORDER BY rank",
        (*params, store.stamp, of.id, cards),
    ).fetchall()
    currency = store.project.currency
    rows = []
    for stage in of.stages:
        total = by_stage.get(stage.id)
        stage_cards = [_card(row, currency) for row in card_rows if row["stage"] == stage.id]
        rows.append(
            {
                "stage": stage.id,
                "name": stage.name,
                "outcome": stage.outcome,
                "count": total["count"] if total else 0,
                "amount": from_minor(total["amount"] if total else 0, currency),
                "cards": stage_cards,
            }
        )
    columns = [
        Column("name", "stage"),
        Column("count", "deals", "int"),
        Column("amount", "amount", "money"),
    ]
    return Report(f"{of.name}", columns, rows)


def _card(row, currency: str) -> dict:
    seconds = row["seconds"]
    return {
        "id": row["id"],
        "title": row["title"],
        "contact": row["contact_email"],
        "owner": row["owner"],
        "amount": from_minor(row["amount"], currency),
        "days_in_stage": int(seconds // 86400),
        "stalled": bool(
            row["status"] == "open" and row["rot_seconds"] and seconds > row["rot_seconds"]
        ),
    }
