"""The board: one column per stage with its count, total, and the deals in it."""

from __future__ import annotations

from dataclasses import dataclass

from salesflow.config.model import Stage
from salesflow.reports import Column, Report
from salesflow.store.deals import pipeline as find_pipeline
from salesflow.store.deals import stage as find_stage
from salesflow.store.reports import stage_deals, stage_totals, stalled_among
from salesflow.store.session import Store
from salesflow.store.stages import stray_stages, stray_warning
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
    `oldest_first`, those in the stage longest) in open stages, the latest in closed ones.
    The totals are the pipeline: its open deals, not the won and lost."""
    of = find_pipeline(store, pipeline_id, None if pipeline_id else "deal")
    totals = stage_totals(store, of.id, owner)
    choice = Cards(cards, owner, oldest_first)
    rows = [_column(store, of.id, stage, totals, choice) for stage in of.stages]
    notes = []
    for pipeline, stage_id, count in stray_stages(store.conn, store.project):
        if pipeline == of.id:  # deals in a stage removed from the YAML: shown, with a warning
            stray = Stage(stage_id, f"{stage_id} (not in the pipeline)", 0)
            rows.append(_column(store, of.id, stray, totals, choice))
            notes.append(stray_warning(pipeline, stage_id, count, store.project))
    zero = from_minor(0, store.project.currency)
    pipeline = [r for r in rows if not r["outcome"]]  # won and lost deals are out of it
    totals = {"name": "total", "count": sum(r["count"] for r in pipeline),
              "amount": sum((r["amount"] for r in pipeline), zero),
              "weighted": sum((r["weighted"] for r in pipeline), zero)}  # fmt: skip
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
    totals = stage_totals(store, of.id, owner, stage.id)
    return _column(store, of.id, stage, totals, Cards(limit, owner, True, offset))


def _column(store: Store, pipeline: str, stage: Stage, totals: dict, cards: Cards) -> dict:
    """One stage of the board: its count, its amounts and its first deals."""
    currency = store.project.currency
    deals = stage_deals(
        store, pipeline, stage.id, closed=bool(stage.outcome), oldest_first=cards.oldest_first,
        owner=cards.owner, limit=cards.limit, offset=cards.offset,
    )  # fmt: skip
    total = totals.get(stage.id)
    count = total["count"] if total else 0
    weighted = total["own"] + total["rest"] * stage.probability if total else 0
    stalled = stalled_among(store, deals) if stage.rot_after and not stage.outcome else set()
    return {
        "stage": stage.id,
        "name": stage.name,
        "outcome": stage.outcome,
        "count": count,
        "amount": from_minor(total["amount"] if total else 0, currency),
        "weighted": weighted_amount(weighted, currency),
        "cards": [_card(row, currency, row["id"] in stalled) for row in deals],
        "more": max(0, count - cards.offset - len(deals)),  # the column's cards not shown
    }


def _card(row, currency: str, stalled: bool) -> dict:
    seconds = max(row["seconds"], 0)  # history dated after the clock: in the stage since now
    return {
        "id": row["id"],
        "title": row["title"],
        "contact": row["contact_email"],
        "contact_name": row["contact_name"],
        "owner": row["owner"],
        "amount": from_minor(row["amount"], currency),
        "priority": row["priority"],
        "days_in_stage": int(seconds // 86400),
        "stalled": stalled,
    }
