"""A deal or a ticket whole, as `deals show --json`, `tickets show --json` and the deal
page's JSON give it: its fields, (a ticket's) response times, its stage's playbook, its
stage history, and the workflow runs and messages that concern it."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from salesflow.config.model import Pipeline, Stage
from salesflow.durations import format_duration
from salesflow.reports.activity import deal_messages, deal_runs, in_english
from salesflow.reports.response import ticket_times
from salesflow.store import deals, playbook
from salesflow.store.session import Store
from salesflow.values import read_instant


def shown(store: Store, number: int, record: str | None = None) -> dict:
    """Deal or ticket #`number` (with `record`, only one of that kind)."""
    row = deals.with_contact(store, deals.get(store, number, record))
    data = deals.public(row, store)
    if deals.object_of(store, row) == "ticket":
        data.update(_ticket_times(store, row))
    data["playbook"] = stage_playbook(store, row, data)
    data["history"] = [_history_entry(entry, store) for entry in deals.history(store, row["id"])]
    data["checklist_history"] = [
        _tick_entry(entry, store) for entry in playbook.tick_history(store, row["id"])
    ]
    data["runs"] = [in_english(run) for run in deal_runs(store, row["id"])]
    data["messages"] = deal_messages(store, row["id"])
    return data


def timeline(data: dict) -> list[dict]:
    """A record's history as one list, oldest first: its stage changes (`kind` "move", with
    `forced`) and its checklist's ticks and unticks (`kind` "tick"). On the same instant a
    tick comes before a move (the prompt ticks the item that allows its move in the same
    transaction), and entries of one kind keep the order they were written in."""
    moves = [{**entry, "kind": "move"} for entry in data["history"]]
    ticks = [{**entry, "kind": "tick"} for entry in data["checklist_history"]]
    return sorted(ticks + moves, key=lambda entry: (datetime.fromisoformat(entry["at"]),
                                                    entry["kind"] == "move"))  # fmt: skip


def check_answer(row: sqlite3.Row, stage: Stage, item: str, undo: bool, changed: bool,
                 by: str) -> dict:  # fmt: skip
    """What ticking (`undo`: unticking) `item` did, as `deals check --json` and the deal
    page's JSON answer say it."""
    return {"id": row["id"], "stage": stage.id, "stage_name": stage.name, "item": item,
            "required": item in stage.required_items, "ticked": not undo, "changed": changed,
            "by": by}  # fmt: skip


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
        "forced": bool(entry["forced"]),
    }


def _tick_entry(entry: sqlite3.Row, store: Store) -> dict:
    return {
        "stage": entry["stage"],
        "item": entry["item"],
        "ticked": bool(entry["ticked"]),
        "at": read_instant(entry["at"], store.project.timezone).isoformat(),
        "by": entry["by"],
    }


def stage_playbook(store: Store, row: sqlite3.Row, public: dict) -> dict | None:
    """The record's stage's playbook: its guidance, its checklist (who ticked what, when),
    the tasks it makes on entry, and what the next stage will need (None for a stage the
    pipeline lost). `public`: the record as deals.public gives it."""
    of = store.project.pipelines.get(row["pipeline"])
    here = of.stage(row["stage"]) if of else None
    if here is None:
        return None
    ticks = playbook.ticked(store, row["id"], here.id)
    return {
        "stage": here.id,
        "guidance": here.guidance,
        "checklist": [
            _item(entry.item, entry.required, ticks.get(entry.item), store)
            for entry in here.checklist
        ],
        "entry_tasks": _entry_tasks(store, here, row, public),
        "next": _next_needs(store, of, here, row, public),
    }


def has_playbook(book: dict | None) -> bool:
    """Whether the stage's playbook says anything: guidance, a checklist, entry tasks, or
    fields the next stage requires (a page shows no empty section, `show` no empty header)."""
    if not book:
        return False
    after = book["next"]
    return bool(book["guidance"] or book["checklist"] or book["entry_tasks"]
                or (after and after["requires"]))  # fmt: skip


def _entry_tasks(store: Store, here: Stage, row: sqlite3.Row, public: dict) -> list[dict]:
    """The tasks the stage makes on entry, titled for this record as entering made them
    (`title`), with the stage's `template` as written."""
    if not here.on_enter_tasks:
        return []
    contact = playbook.contact_values(store, row["contact_id"])
    context = {deals.object_of(store, row): public, "contact": contact, "stage": here.name}
    return [
        {"title": playbook.task_title(store.project, here, task, context),
         "template": task.title, "due_in": _span(task.due_in)}
        for task in here.on_enter_tasks
    ]  # fmt: skip


def _item(item: str, required: bool, tick: sqlite3.Row | None, store: Store) -> dict:
    at = read_instant(tick["ticked_at"], store.project.timezone).isoformat() if tick else None
    return {"item": item, "required": required, "ticked": tick is not None, "ticked_at": at,
            "ticked_by": tick["ticked_by"] if tick else None}  # fmt: skip


def next_stage(of: Pipeline, here: Stage) -> Stage | None:
    """The stage a record goes to next: the following one that is not lost (won included)."""
    later = of.stages[of.stages.index(here) + 1 :]
    return next((stage for stage in later if stage.outcome != "lost"), None)


def _next_needs(store: Store, of: Pipeline, here: Stage, row, public: dict) -> dict | None:
    """What moving to the next stage needs: its `requires` (those still unset under
    `missing_fields`) and this stage's required items not yet ticked."""
    after = next_stage(of, here)
    if after is None or row["status"] != "open":
        return None
    missing = playbook.missing_for(store, of, row, public, after)
    return {
        "stage": after.id,
        "stage_name": after.name,
        "requires": list(after.requires),
        "missing_fields": list(missing.fields),
        "missing_items": list(missing.items),
    }


def _span(duration) -> str | None:
    return format_duration(duration) if duration else None
