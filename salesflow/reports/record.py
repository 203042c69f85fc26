"""A deal or a ticket whole, as `deals show --json`, `tickets show --json` and the deal
page's JSON give it: its fields, (a ticket's) response times, its stage history, and the
workflow runs and messages that concern it."""

from __future__ import annotations

import sqlite3

from salesflow.reports.activity import deal_messages, deal_runs, in_english
from salesflow.reports.response import ticket_times
from salesflow.store import deals
from salesflow.store.session import Store
from salesflow.values import read_instant


def shown(store: Store, number: int, record: str | None = None) -> dict:
    """Deal or ticket #`number` (with `record`, only one of that kind)."""
    row = deals.with_contact(store, deals.get(store, number, record))
    data = deals.public(row, store)
    if deals.object_of(store, row) == "ticket":
        data.update(_ticket_times(store, row))
    data["history"] = [_history_entry(entry, store) for entry in deals.history(store, row["id"])]
    data["runs"] = [in_english(run) for run in deal_runs(store, row["id"])]
    data["messages"] = deal_messages(store, row["id"])
    return data


def _ticket_times(store: Store, row: sqlite3.Row) -> dict:
    # no times for a ticket opened after `--now`: nothing had happened to it then
    times = ticket_times(store, row["pipeline"], row["id"]) or [(row, None, None, None)]
    [(_, first, to_first, to_resolution)] = times
    return {
        "first_response_at": first.isoformat() if first else None,
        "first_response_hours": None if to_first is None else round(to_first, 1),
        "resolution_hours": None if to_resolution is None else round(to_resolution, 1),
    }


def _history_entry(entry: sqlite3.Row, store: Store) -> dict:
    return {
        "from": entry["from_stage"],
        "to": entry["to_stage"],
        "at": read_instant(entry["at"], store.project.timezone).isoformat(),
        "by": entry["by"],
    }
