"""The board: one column per stage with its count, total, and the deals in it."""

from __future__ import annotations

from dataclasses import dataclass

from salesflow.reports import Column, Report
from salesflow.store.deals import pipeline as find_pipeline
from salesflow.store.deals import stage as find_stage
from salesflow.store.session import Store
from salesflow.store.stages import stages_cte, stray_message, stray_stages
from salesflow.values import from_minor, weighted_amount

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
    Column("weighted", "weighted", "money"),
]


def board(
    store: Store,
    pipeline_id: str | None = None,
    cards: int = 5,
    owner: str | None = None,
    oldest_first: bool = False,
) -> Report:
    """Every stage of the pipeline with the count, amount and weighted amount of its deals
    (of `owner`'s only, if given), and its first `cards` deals: the most valuable (or, with
    `oldest_first`, those in the stage longest) in open stages, the latest in closed ones."""
    of = find_pipeline(store, pipeline_id)
    cte, params = stages_cte(store.project)
    by_owner, owner_params = (" AND d.owner = ?", [owner]) if owner else ("", [])
    totals = {
        row["stage"]: row
        for row in store.conn.execute(
            f"WITH {cte} SELECT d.stage, count(*) AS count, coalesce(sum(d.amount), 0) AS amount,"
            " coalesce(sum(d.amount * coalesce(d.probability, s.probability)), 0) AS weighted"
            " FROM deals d LEFT JOIN stages s ON s.pipeline = d.pipeline AND s.stage = d.stage"
            f" WHERE d.pipeline = ?{by_owner} GROUP BY d.stage",
            (*params, of.id, *owner_params),
        )
    }
    choice = Cards(cards, owner, oldest_first)
    rows = []
    for stage in of.stages:
        rot = stage.rot_after.total_seconds() if stage.rot_after and not stage.outcome else None
        rows.append(_column(store, of.id, stage.id, stage.name, stage.outcome, rot, totals, choice))
    notes = []
    for pipeline, stage_id, count in stray_stages(store.conn, store.project):
        if pipeline == of.id:  # deals in a stage removed from the YAML: shown, with a warning
            name = f"{stage_id} (not in the pipeline)"
            rows.append(_column(store, of.id, stage_id, name, None, None, totals, choice))
            notes.append(f"warning: {stray_message(pipeline, stage_id, count, store.project)}")
    zero = from_minor(0, store.project.currency)
    totals = {"name": "total", "count": sum(r["count"] for r in rows),
              "amount": sum((r["amount"] for r in rows), zero),
              "weighted": sum((r["weighted"] for r in rows), zero)}  # fmt: skip
    return Report(of.name, COLUMNS, rows, totals, notes)


@dataclass(frozen=True)
class Cards:
    """Which deals a column shows."""

    limit: int
    owner: str | None
    oldest_first: bool
    offset: int = 0


def stage_cards(
    store: Store, pipeline_id: str, stage_id: str, owner: str | None, offset: int, limit: int
) -> dict:
    """One column of the board, `limit` cards from `offset` (those in the stage longest
    first): the page behind a column's "N more"."""
    of = find_pipeline(store, pipeline_id)
    stage = find_stage(of, stage_id)
    rot = stage.rot_after.total_seconds() if stage.rot_after and not stage.outcome else None
    by_owner, owner_params = (" AND owner = ?", [owner]) if owner else ("", [])
    totals = {
        row["stage"]: row
        for row in store.conn.execute(
            "SELECT stage, count(*) AS count, coalesce(sum(amount), 0) AS amount, 0 AS weighted"
            f" FROM deals WHERE pipeline = ? AND stage = ?{by_owner}",
            (of.id, stage.id, *owner_params),
        )
    }
    cards = Cards(limit, owner, True, offset)
    return _column(store, of.id, stage.id, stage.name, stage.outcome, rot, totals, cards)


def _column(store: Store, pipeline: str, stage: str, name: str, outcome, rot, totals, cards):
    """One stage of the board: its count, its amounts and its first deals."""
    currency = store.project.currency
    if outcome:
        order = "d.closed_at DESC"
    else:
        order = "d.stage_entered_at" if cards.oldest_first else "coalesce(d.amount, 0) DESC"
    by_owner, owner_params = (" AND d.owner = ?", [cards.owner]) if cards.owner else ("", [])
    deals = store.conn.execute(
        "SELECT d.*, c.email AS contact_email,"
        " trim(coalesce(c.first_name, '') || ' ' || coalesce(c.last_name, '')) AS contact_name,"
        " (julianday(?) - julianday(d.stage_entered_at)) * 86400 AS seconds"
        " FROM deals d LEFT JOIN contacts c ON c.id = d.contact_id"
        f" WHERE d.pipeline = ? AND d.stage = ?{by_owner} ORDER BY {order}, d.id DESC"
        " LIMIT ? OFFSET ?",
        (store.stamp, pipeline, stage, *owner_params, cards.limit, cards.offset),
    ).fetchall()
    total = totals.get(stage)
    return {
        "stage": stage,
        "name": name,
        "outcome": outcome,
        "count": total["count"] if total else 0,
        "amount": from_minor(total["amount"] if total else 0, currency),
        "weighted": weighted_amount(total["weighted"] if total else 0, currency),
        "cards": [_card(row, currency, rot) for row in deals],
    }


def _card(row, currency: str, rot_seconds: float | None) -> dict:
    seconds = row["seconds"]
    return {
        "id": row["id"],
        "title": row["title"],
        "contact": row["contact_email"],
        "contact_name": row["contact_name"],
        "owner": row["owner"],
        "amount": from_minor(row["amount"], currency),
        "days_in_stage": int(seconds // 86400),
        "stalled": bool(rot_seconds and seconds > rot_seconds),
    }
