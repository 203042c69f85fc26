"""Deals and tickets in pipelines, and the history of every stage change.

A ticket is a pipeline record like a deal — stages, history, stalls, owner, custom fields —
so both live in one table; the pipeline's `object` says which a record is, and names its
events (`deal.stage_changed`, `ticket.stage_changed`). Tickets have a subject (the `title`
column) and a priority instead of an amount.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from salesflow.config.model import PRIORITIES, Pipeline, Stage
from salesflow.config.playbook import missing_to_move
from salesflow.errors import NotFound, UserError, did_you_mean
from salesflow.store import contacts, playbook
from salesflow.store.db import inserted_id
from salesflow.store.reports import stalled_among
from salesflow.store.session import Store
from salesflow.store.stages import of_kind
from salesflow.values import from_minor, local_iso, parse_date, parse_money, read_instant

_TITLE = {"deal": "title", "ticket": "subject"}  # what events call a record's title


class ReasonRequired(UserError):
    """Moving to a lost stage of this pipeline needs a reason."""


def pipeline(store: Store, pipeline_id: str | None, record: str | None = None) -> Pipeline:
    """The named pipeline, or the project's only one (of deals or tickets) when none is named."""
    pipelines = {key: of for key, of in store.project.pipelines.items()
                 if record is None or of.object == record}  # fmt: skip
    if pipeline_id is None:
        if len(pipelines) == 1:
            return next(iter(pipelines.values()))
        if not pipelines:
            raise UserError(f"the project has no {record or 'deal'} pipeline: add one in"
                            f" pipelines/ (a ticket pipeline says `object: ticket`)")  # fmt: skip
        raise UserError(f"name a pipeline (--pipeline): {', '.join(pipelines)}")
    other = store.project.pipelines.get(pipeline_id)
    if other is not None and pipeline_id not in pipelines:
        raise UserError(f"'{pipeline_id}' is a {other.object} pipeline: use `salesflow"
                        f" {other.object}s`")  # fmt: skip
    if pipeline_id not in pipelines:
        raise UserError(f"no pipeline '{pipeline_id}'{did_you_mean(pipeline_id, list(pipelines))}")
    return pipelines[pipeline_id]


def object_of(store: Store, row: sqlite3.Row) -> str:
    """deal or ticket: what the record's pipeline carries (a removed pipeline's: deal)."""
    of = store.project.pipelines.get(row["pipeline"])
    return of.object if of else "deal"


def stage(of: Pipeline, stage_id: str) -> Stage:
    found = of.stage(stage_id)
    if found is None:
        stages = [s.id for s in of.stages]
        raise UserError(
            f"'{stage_id}' is not a stage of pipeline '{of.id}'{did_you_mean(stage_id, stages)};"
            f" its stages: {', '.join(stages)}"
        )
    return found


def status_of(target: Stage) -> str:
    return target.outcome or "open"


def get(store: Store, deal_id: int | str, record: str | None = None) -> sqlite3.Row:
    """The deal or ticket #id; with `record`, only one of that kind."""
    row = None
    if str(deal_id).isdigit():
        row = store.conn.execute("SELECT * FROM deals WHERE id = ?", (int(deal_id),)).fetchone()
    if row is None:
        noun = record or "deal"
        raise NotFound(f"no {noun} #{deal_id} (see `salesflow {noun}s list`)")
    if record and object_of(store, row) != record:
        other = object_of(store, row)
        raise UserError(f"#{deal_id} is a {other}, not a {record}: see `salesflow {other}s"
                        f" show {deal_id}`")  # fmt: skip
    return row


def contact_of(store: Store, deal_id: int) -> int | None:
    """The contact of deal (or ticket) #id; None for one without, or no such record."""
    row = store.conn.execute("SELECT contact_id FROM deals WHERE id = ?", (deal_id,)).fetchone()
    return row[0] if row else None


def flag_stalled(store: Store, deal_id: int, quiet_since: str) -> None:
    """The deal's quiet spell (since its stage entry, or its last completed task after it) is
    flagged stalled: its event recorded once."""
    store.conn.execute("UPDATE deals SET stalled_for = ? WHERE id = ?", (quiet_since, deal_id))


def open_deal(store: Store, contact_id: int, pipeline_id: str) -> sqlite3.Row | None:
    return store.conn.execute(
        "SELECT * FROM deals WHERE contact_id = ? AND pipeline = ? AND status = 'open'",
        (contact_id, pipeline_id),
    ).fetchone()


def latest_of_contact(store: Store, contact_id: int) -> int | None:
    """The id of the contact's newest open deal, else of its newest deal; None if it has none."""
    row = store.conn.execute(
        "SELECT id FROM deals WHERE contact_id = ? ORDER BY status != 'open', id DESC LIMIT 1",
        (contact_id,),
    ).fetchone()
    return row[0] if row else None


def add(
    store: Store,
    title: str,
    contact: str | int | None,
    pipeline_id: str | None,
    stage_id: str | None,
    values: dict[str, Any] | None = None,
    by: str = "cli",
    record: str = "deal",
    force: bool = False,
    contact_row: Mapping[str, Any] | None = None,
) -> sqlite3.Row:
    """Open a deal (values: amount, owner, expected_close, next_step, probability, fields)
    or a ticket (values: priority, owner, fields). Creating a record in a stage enters it:
    the stage's `requires` must be set, unless `force`. `contact_row`: the contact's row as
    it stands, when the caller holds it (a workflow run): not read again."""
    of = pipeline(store, pipeline_id, record)
    target = stage(of, stage_id) if stage_id else of.stages[0]
    person = contact_row
    if person is None and contact is not None:
        person = contacts.get(store, contact)
    columns = _columns(store, values or {}, record)
    columns.setdefault("owner", person["owner"] if person else None)
    if record == "ticket":
        columns.setdefault("priority", "normal")
    # the contact as the stage's rules and tasks read it (only when the stage has some)
    checked = playbook.applies(None, target)
    wanted = person is not None and (checked or bool(target.on_enter_tasks))
    contact_data = contacts.public(person, store) if wanted else None
    forced = False
    if checked:
        new = {_named(record, "title"): title, **columns, **columns.get("fields", {})}
        missing = missing_to_move(of, None, target, playbook.values_of(new, contact_data), ())
        forced = playbook.refuse_unless_forced(of, None, missing, force)
    closed_at = store.stamp if target.outcome else None
    deal_id = inserted_id(
        store.conn,
        "INSERT INTO deals (pipeline, stage, status, title, contact_id, currency, created_at,"
        " stage_entered_at, closed_at, fields, owner, amount, expected_close, next_step,"
        " probability, priority, stages_mask)"  # the bit shifted in SQL: bit 63 is negative
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
        " CAST(1 AS bigint) << CAST(? AS integer))",
        (
            of.id, target.id, status_of(target), title, person["id"] if person else None,
            store.project.currency, store.stamp, store.stamp, closed_at,
            json.dumps(columns.pop("fields", {}), ensure_ascii=False), columns.get("owner"),
            columns.get("amount"), columns.get("expected_close"), columns.get("next_step"),
            columns.get("probability"), columns.get("priority"),
            stage_bit(store, of.id, target.id),  # its first stage entered: no UPDATE
        ),
    )  # fmt: skip
    _history_row(store, deal_id, of.id, None, target.id, by, forced=forced)
    data = {"pipeline": of.id, "stage": target.id, "by": by}
    if forced:
        data["forced"] = True
    store.record_event(f"{record}.created", record, deal_id, data)
    created = get(store, deal_id)
    _entered(store, created, target, contact_data)
    return created


def _entered(
    store: Store, deal: sqlite3.Row, target: Stage, contact: dict[str, Any] | None
) -> None:
    """What entering a stage does besides the move: the stage's tasks for the owner."""
    if target.on_enter_tasks:
        record = object_of(store, deal)
        contact = contact or playbook.contact_values(store, deal["contact_id"])
        context = {record: public(deal, store), "contact": contact, "stage": target.name}
        playbook.make_entry_tasks(store, deal["id"], target, deal["owner"], context)


def _columns(store: Store, values: dict[str, Any], record: str) -> dict[str, Any]:
    """Deal or ticket columns from values as people give them, checked."""
    project = store.project
    columns: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        if name == "amount":
            try:
                columns["amount"] = parse_money(value, project.locale, project.currency)
            except ValueError as error:  # a Refused: its phrase for a page
                raise UserError(str(error), getattr(error, "phrase", None)) from None
        elif name == "expected_close":
            try:
                columns[name] = parse_date(str(value), project.locale).isoformat()
            except ValueError as error:
                raise UserError(f"expected close: {error}") from None
        elif name == "owner":
            contacts.check_owner(store, value)
            columns[name] = value
        elif name == "probability":
            if not 0 <= int(value) <= 100:
                raise UserError(f"probability {value} is not between 0 and 100")
            columns[name] = int(value)
        elif name == "priority":
            if value not in PRIORITIES:
                raise UserError(f"priority '{value}' is not one of {', '.join(PRIORITIES)}")
            columns[name] = value
        elif name == "fields":
            columns[name] = contacts.clean_fields(store, value, record)
        else:
            columns[name] = str(value).strip()
    return columns


def update(store: Store, deal: sqlite3.Row, values: dict[str, Any], by: str = "cli") -> list[str]:
    """Change the deal's values; returns the names of the fields that changed (custom fields
    by their own names) and records deal.updated with their old and new values. A change
    that changes nothing records nothing. A ticket's event is ticket.updated."""
    record = object_of(store, deal)
    columns = _columns(store, values, record)
    old_fields = json.loads(deal["fields"])
    new_fields = dict(old_fields)
    if "fields" in columns:
        new_fields.update({k: v for k, v in columns.pop("fields").items() if v is not None})
    changes = {name: value for name, value in columns.items() if deal[name] != value}
    custom = sorted(name for name in new_fields if new_fields[name] != old_fields.get(name))
    if custom:
        changes["fields"] = json.dumps(new_fields, ensure_ascii=False)
    if not changes:
        return []
    assignments = ", ".join(f"{name} = ?" for name in changes)
    store.conn.execute(
        f"UPDATE deals SET {assignments} WHERE id = ?", (*changes.values(), deal["id"])
    )
    changed = sorted(_named(record, n) for n in changes if n != "fields") + custom
    old = {**_readable(store, deal, changes, record), **{n: old_fields.get(n) for n in custom}}
    new = {**_readable(store, get(store, deal["id"]), changes, record),
           **{n: new_fields.get(n) for n in custom}}  # fmt: skip
    data = {"pipeline": deal["pipeline"], _TITLE[record]: deal["title"], "changed": changed,
            "old": old, "new": new, "by": by}  # fmt: skip
    store.record_event(f"{record}.updated", record, deal["id"], data)
    return changed


def _named(record: str, column: str) -> str:
    """A column as events name it: a ticket's `title` is its subject."""
    return _TITLE[record] if column == "title" else column


def _readable(store: Store, deal: sqlite3.Row, names, record: str) -> dict[str, Any]:
    """The record's values of `names` as events carry them (money as a decimal string)."""
    values = {}
    for name in names:
        if name == "amount":
            amount = from_minor(deal["amount"], deal["currency"] or store.project.currency)
            values[name] = None if amount is None else str(amount)
        elif name != "fields":
            values[_named(record, name)] = deal[name]
    return values


def move(
    store: Store,
    deal: sqlite3.Row,
    stage_id: str,
    reason: str | None = None,
    reopen: bool = False,
    by: str = "cli",
    force: bool = False,
) -> sqlite3.Row:
    """Move a deal to another stage of its pipeline, keeping the history.

    A closed deal moves only with `reopen`; a lost stage may require a reason; the target's
    `requires` must be set and, moving forward, the required checklist items of the stage
    left ticked — unless `force` (marked in the history)."""
    of = pipeline(store, deal["pipeline"])
    target = stage(of, stage_id)
    if target.id == deal["stage"]:
        return deal
    if deal["status"] != "open" and not reopen:
        raise UserError(
            f"{of.object} #{deal['id']} is {deal['status']}; pass --reopen to move it out of"
            f" '{deal['stage']}'"
        )
    reason = (reason or "").strip() or None
    if target.outcome == "lost" and of.require_lost_reason and not reason:
        raise ReasonRequired(f"pipeline '{of.id}' needs a reason to move a {of.object} to"
                             f" '{target.id}': pass --reason")  # fmt: skip
    forced = False
    if playbook.applies(of.stage(deal["stage"]), target):
        missing = playbook.missing_for(store, of, deal, public(deal, store), target)
        forced = playbook.refuse_unless_forced(of, deal["id"], missing, force)
    lost = target.outcome == "lost"
    store.conn.execute(
        "UPDATE deals SET stage = ?, status = ?, stage_entered_at = ?, closed_at = ?,"
        " lost_reason = ?, lost_from = ? WHERE id = ?",
        (
            target.id, status_of(target), store.stamp,
            store.stamp if target.outcome else None,
            reason if lost else None, deal["stage"] if lost else None, deal["id"],
        ),
    )  # fmt: skip
    _history(store, deal["id"], of.id, deal["stage"], target.id, by, deal["stage_entered_at"],
             forced)  # fmt: skip
    data = {"pipeline": of.id, "from": deal["stage"], "to": target.id, "by": by}
    if forced:
        data["forced"] = True
    store.record_event(f"{of.object}.stage_changed", of.object, deal["id"], data)
    moved = get(store, deal["id"])
    _entered(store, moved, target, None)
    return moved


def close(
    store: Store, deal: sqlite3.Row, outcome: str, reason: str | None, by: str = "cli",
    force: bool = False,
):  # fmt: skip
    """Move the deal to its pipeline's (first) won or lost stage."""
    of = pipeline(store, deal["pipeline"])
    target = next((s for s in of.stages if s.outcome == outcome), None)
    if target is None:
        raise UserError(f"pipeline '{of.id}' has no {outcome} stage")
    return move(store, deal, target.id, reason, by=by, force=force)


def _history(
    store: Store, deal: int, pipeline_id: str, source: str | None, target: str, by: str,
    entered: str | None = None, forced: bool = False,
) -> None:  # fmt: skip
    """Record a stage change: the history row and the stage in the deal's set of stages
    entered."""
    _history_row(store, deal, pipeline_id, source, target, by, entered, forced)
    store.conn.execute(
        "UPDATE deals SET stages_mask = stages_mask | (CAST(1 AS bigint) << CAST(? AS integer))"
        " WHERE id = ?",  # PostgreSQL shifts a bigint by an integer (1 << 40 would be int4's)
        (stage_bit(store, pipeline_id, target), deal),
    )


def _history_row(
    store: Store, deal: int, pipeline_id: str, source: str | None, target: str, by: str,
    entered: str | None = None, forced: bool = False,
) -> None:  # fmt: skip
    """The history row of a stage change (with how long the deal stayed in `source`, which
    entered at `entered`, and whether it bypassed the stage's requirements)."""
    stay = None
    if entered is not None:
        stay = (store.now - read_instant(entered, store.now.tzinfo)).total_seconds()
    store.conn.execute(
        "INSERT INTO stage_history (deal_id, pipeline, from_stage, to_stage, at, by, stay_seconds,"
        " forced) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (deal, pipeline_id, source, target, store.stamp, by, stay, int(forced)),
    )


_BIT = "SELECT bit FROM stage_bits WHERE pipeline = ? AND stage = ?"


def stage_bit(store: Store, pipeline_id: str, stage_id: str) -> int:
    """The stage's bit in deals.stages_mask, numbered on first use (the next free bit).

    On PostgreSQL two hosts numbering two new stages at once both read the same max(bit):
    the bits are unique per pipeline (migration 15), so the later one waits for the first,
    finds its number taken and reads the max again; each pass of the loop sees one more
    bit committed by another, so it ends."""
    row = store.conn.execute(_BIT, (pipeline_id, stage_id)).fetchone()
    while row is None:
        store.conn.execute(
            "INSERT INTO stage_bits (pipeline, stage, bit) SELECT ?, ?, coalesce(max(bit) + 1, 0)"
            " FROM stage_bits WHERE pipeline = ? ON CONFLICT DO NOTHING",
            (pipeline_id, stage_id, pipeline_id),
        )
        row = store.conn.execute(_BIT, (pipeline_id, stage_id)).fetchone()
    return row[0]


def history(store: Store, deal_id: int) -> list[sqlite3.Row]:
    return store.conn.execute(
        "SELECT * FROM stage_history WHERE deal_id = ? ORDER BY at, id", (deal_id,)
    ).fetchall()


def search(
    store: Store,
    pipeline_id: str | None = None,
    stage_id: str | None = None,
    owner: str | None = None,
    status: str | None = None,
    contact: str | None = None,
    record: str = "deal",
    priority: str | None = None,
) -> list[sqlite3.Row]:
    """Deals (or tickets) with their contact's email, newest first; deals in a pipeline that
    is gone are still deals."""
    kind, params = of_kind(store, record)
    clauses = [kind.removeprefix(" AND ")] if kind else []
    for column, value in (
        ("d.pipeline", pipeline_id), ("d.stage", stage_id), ("d.owner", owner),
        ("d.status", status), ("d.priority", priority),
    ):  # fmt: skip
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    if contact:
        clauses.append("d.contact_id = ?")
        params.append(contacts.get(store, contact)["id"])
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return store.conn.execute(
        "SELECT d.*, c.email AS contact_email FROM deals d"
        f" LEFT JOIN contacts c ON c.id = d.contact_id{where} ORDER BY d.id DESC",
        params,
    ).fetchall()


def with_contact(store: Store, deal: sqlite3.Row) -> sqlite3.Row:
    return read_with_contact(store, deal["id"])


def read_with_contact(store: Store, deal_id: int) -> sqlite3.Row:
    """Deal (or ticket) #id with its contact's email, in one query (NotFound as `get`)."""
    row = store.conn.execute(
        "SELECT d.*, c.email AS contact_email FROM deals d"
        " LEFT JOIN contacts c ON c.id = d.contact_id WHERE d.id = ?",
        (deal_id,),
    ).fetchone()
    return row if row is not None else get(store, deal_id)


def is_stalled(store: Store, deal: sqlite3.Row, stalled: set[int] | None = None) -> bool:
    """Whether the deal is stalled as the stalled report says (store/reports.py); `stalled`:
    those of a list, found at once (stalled_among)."""
    if stalled is None and deal["stage_entered_at"] >= store.stamp:
        return False  # it entered its stage now (a workflow's new deal): no stage rots at once
    return deal["id"] in (stalled_among(store, [deal]) if stalled is None else stalled)


def public_all(deals: list[sqlite3.Row], store: Store) -> list[dict[str, Any]]:
    """Each of a list of deals (or tickets) as `public` gives it, the stalled ones found at
    once for the whole list (one query per batch, not one a row)."""
    stalled = stalled_among(store, deals)
    return [public(deal, store, stalled) for deal in deals]


def public(deal: sqlite3.Row, store: Store, stalled: set[int] | None = None) -> dict[str, Any]:
    """The deal or ticket as commands print it and templates see it (`stalled`: the stalled
    ones of the list it is part of, else found for this one)."""
    project, zone = store.project, store.project.timezone
    of = project.pipelines.get(deal["pipeline"])
    stage_def = of.stage(deal["stage"]) if of else None
    entered = read_instant(deal["stage_entered_at"], zone)
    if of and of.object == "ticket":
        return _ticket(deal, store, stage_def, entered, is_stalled(store, deal, stalled))
    probability = deal["probability"]
    if probability is None and stage_def:
        probability = stage_def.probability
    keys = deal.keys()
    data = {
        "id": deal["id"],
        "title": deal["title"],
        "pipeline": deal["pipeline"],
        "stage": deal["stage"],
        "stage_name": stage_def.name if stage_def else deal["stage"],
        "status": deal["status"],
        "contact": deal["contact_email"] if "contact_email" in keys else None,
        "contact_id": deal["contact_id"],
        "owner": deal["owner"],
        "amount": from_minor(deal["amount"], deal["currency"] or project.currency),
        "currency": deal["currency"],
        "probability": probability,
        "created_at": local_iso(deal["created_at"], zone),
        "expected_close": deal["expected_close"],
        "closed_at": local_iso(deal["closed_at"], zone),
        "next_step": deal["next_step"],
        "lost_reason": deal["lost_reason"],
        "stage_entered_at": entered.isoformat(),
        "days_in_stage": _days_since(entered, store),
        "stalled": is_stalled(store, deal, stalled),
    }
    fields = json.loads(deal["fields"])
    data.update({name: fields.get(name) for name in project.deal_fields})
    return data


def _days_since(entered: datetime, store: Store) -> int:
    """Whole days in the stage as of now: 0 for a move dated after now, as on the board."""
    return max(0, (store.now - entered).days)


def _ticket(
    row: sqlite3.Row, store: Store, stage_def: Stage | None, entered, stalled: bool
) -> dict[str, Any]:
    zone, keys = store.project.timezone, row.keys()
    data = {
        "id": row["id"], "subject": row["title"], "pipeline": row["pipeline"],
        "stage": row["stage"], "stage_name": stage_def.name if stage_def else row["stage"],
        "status": row["status"], "priority": row["priority"],
        "contact": row["contact_email"] if "contact_email" in keys else None,
        "contact_id": row["contact_id"], "owner": row["owner"],
        "created_at": local_iso(row["created_at"], zone),
        "closed_at": local_iso(row["closed_at"], zone),
        "stage_entered_at": entered.isoformat(), "days_in_stage": _days_since(entered, store),
        "stalled": stalled,
    }  # fmt: skip
    fields = json.loads(row["fields"])
    data.update({name: fields.get(name) for name in store.project.ticket_fields})
    return data
