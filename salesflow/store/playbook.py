"""The stages' playbooks in the database: each record's ticked checklist items, the rule
(config/playbook.py) applied to a record as stored, and the tasks a stage makes on entry.

store/deals.py calls `missing_for`, `refuse_unless_forced` and `make_entry_tasks` on every
creation and stage change, so the CLI, the pages, the workflows and the import meet one rule.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import tzinfo
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from salesflow.config.model import Pipeline, Project, Stage, StageTask
from salesflow.config.playbook import Missing, folded_item, missing_to_move
from salesflow.errors import UserError, did_you_mean
from salesflow.phrases import Phrase, phrase, say
from salesflow.store import contacts
from salesflow.store.session import Store
from salesflow.values import read_instant, stored_instant

if TYPE_CHECKING:  # Jinja is loaded when a title is written, not by every command that
    from jinja2 import Template  # reaches deals (an import, a move)


class RequirementsMissing(UserError):
    """A record may not enter a stage, or leave one forward, yet: `missing` says what it lacks."""

    def __init__(self, record: str, record_id: int | None, missing: Missing):
        self.missing = missing
        said = _refusal(record, record_id, missing)
        super().__init__(say(said), said)


def _refusal(record: str, record_id: int | None, missing: Missing) -> Phrase:
    """`deal #4 cannot enter “Négociation”: amount is not set; “Devis envoyé” is not ticked
    in “Qualification”`, as a phrase."""
    who = phrase(f"{record}_number", id=record_id) if record_id else phrase(f"a_new_{record}")
    parts = []
    if missing.fields:
        one = len(missing.fields) == 1
        fields = ", ".join(missing.fields)
        parts.append(phrase("field_not_set" if one else "fields_not_set", fields=fields))
    if missing.items and missing.leaving is not None:
        one = len(missing.items) == 1
        items = [phrase("quoted", text=item) for item in missing.items]  # each language quotes
        parts.append(phrase("item_not_ticked" if one else "items_not_ticked", items=items,
                            stage=missing.leaving.name))  # fmt: skip
    what = phrase("missing_both", fields=parts[0], items=parts[1]) if len(parts) == 2 else parts[0]
    return phrase("cannot_enter", record=who, stage=missing.stage.name, missing=what)


def ticked(store: Store, deal_id: int, stage: str) -> dict[str, sqlite3.Row]:
    """The record's ticked items of `stage`, with who and when."""
    rows = store.conn.execute(
        "SELECT * FROM checklist_ticks WHERE deal_id = ? AND stage = ? ORDER BY ticked_at",
        (deal_id, stage),
    ).fetchall()
    return {row["item"]: row for row in rows}


def tick(
    store: Store, deal: sqlite3.Row, of: Pipeline, item: str, by: str, undo: bool = False
) -> tuple[Stage, str, bool]:
    """Tick (or untick) an item of the open record's current stage's checklist; records
    `deal.checklist_ticked`. Returns the stage, the item as the checklist spells it, and
    whether anything changed."""
    contacts.check_owner(store, by)
    if deal["status"] != "open":
        raise UserError(
            f"{of.object} #{deal['id']} is {deal['status']}: its checklist is closed (reopen it"
            f" first: salesflow {of.object}s move {deal['id']} STAGE --reopen)"
        )
    stage, label = _find_item(of, deal["stage"], item)
    done = ticked(store, deal["id"], stage.id)
    if undo == (label not in done):
        return stage, label, False
    if undo:
        store.conn.execute(
            "DELETE FROM checklist_ticks WHERE deal_id = ? AND stage = ? AND item = ?",
            (deal["id"], stage.id, label),
        )
    else:
        store.conn.execute(
            "INSERT INTO checklist_ticks (deal_id, stage, item, pipeline, ticked_at, ticked_by)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (deal["id"], stage.id, label, of.id, store.stamp, by),
        )
    waited = None if undo else _first_wait(store, deal["id"], stage, label, {*done, label})
    store.conn.execute(
        "INSERT INTO checklist_history (deal_id, pipeline, stage, item, ticked, at, by,"
        " waited_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (deal["id"], of.id, stage.id, label, int(not undo), store.stamp, by, waited),
    )
    data = {"pipeline": of.id, "stage": stage.id, "item": label, "ticked": not undo,
            "required": label in stage.required_items, "by": by}  # fmt: skip
    store.record_event(f"{of.object}.checklist_ticked", of.object, deal["id"], data)
    return stage, label, True


def _first_wait(
    store: Store, deal_id: int, stage: Stage, item: str, now_ticked: set[str]
) -> float | None:  # fmt: skip
    """Seconds from the record's first entry into `stage` to now when ticking `item` first
    leaves the stage's required items all ticked (the funnel's wait on them); else None."""
    required = set(stage.required_items)
    if item not in required or not required <= now_ticked:
        return None
    row = store.conn.execute(
        "SELECT min(h.at) AS entered, (SELECT count(*) FROM checklist_history c"
        " WHERE c.deal_id = ? AND c.stage = ? AND c.waited_seconds IS NOT NULL) AS before"
        " FROM stage_history h WHERE h.deal_id = ? AND h.to_stage = ? AND h.at <= ?",
        (deal_id, stage.id, deal_id, stage.id, store.stamp),
    ).fetchone()
    if row["entered"] is None or row["before"]:
        return None
    entered = read_instant(row["entered"], store.now.tzinfo)
    return max((store.now - entered).total_seconds(), 0.0)


def tick_history(store: Store, deal_id: int) -> list[sqlite3.Row]:
    """Every tick and untick of the record's checklists, oldest first."""
    return store.conn.execute(
        "SELECT * FROM checklist_history WHERE deal_id = ? ORDER BY id", (deal_id,)
    ).fetchall()


def _find_item(of: Pipeline, current: str, item: str) -> tuple[Stage, str]:
    """The current stage and the checklist item `item` names there (case and spaces aside);
    a UserError naming the stage's items when it has no such item."""
    here = of.stage(current)
    if here is None:
        raise UserError(
            f"stage '{current}' is no longer in pipeline '{of.id}': it has no checklist"
        )
    wanted = folded_item(item)
    for entry in here.checklist:
        if folded_item(entry.item) == wanted:
            return here, entry.item
    items = [entry.item for entry in here.checklist]
    listed = f"its items: {', '.join(items)}" if items else "it has no checklist"
    elsewhere = [s.id for s in of.stages if any(folded_item(e.item) == wanted for e in s.checklist)]
    later = f"; it is an item of '{elsewhere[0]}', to tick there" if elsewhere else ""
    raise UserError(
        f"no checklist item '{item}' in stage '{current}'{did_you_mean(item, items)}:"
        f" {listed}{later}"
    )


def values_of(
    record: Mapping[str, Any], contact: Mapping[str, Any] | None
) -> dict[str, Any]:  # fmt: skip
    """The names a stage's `requires` reads: the record's fields as commands print them
    (deals.public), its contact's as `contact.x`."""
    values = dict(record)
    values.update({f"contact.{name}": value for name, value in (contact or {}).items()})
    return values


def contact_values(store: Store, contact_id: int | None) -> dict[str, Any] | None:
    if contact_id is None:
        return None
    row = store.conn.execute("SELECT * FROM contacts WHERE id = ?", (contact_id,)).fetchone()
    return contacts.public(row, store) if row else None


def applies(source: Stage | None, target: Stage) -> bool:
    """Whether the rule has anything to check for a move from `source` (None: a creation)."""
    return bool(target.requires or (source and source.required_items))


def missing_for(
    store: Store, of: Pipeline, row: sqlite3.Row, public: Mapping[str, Any], target: Stage
) -> Missing:
    """What stored record `row` (`public`: as deals.public gives it) lacks to move to `target`."""
    source = of.stage(row["stage"])
    if not applies(source, target):
        return Missing(target, leaving=source)
    values = values_of(public, contact_values(store, row["contact_id"]))
    done = ticked(store, row["id"], source.id) if source else {}
    return missing_to_move(of, source, target, values, done)


def refuse_unless_forced(
    of: Pipeline, record_id: int | None, missing: Missing, force: bool
) -> bool:
    """Raise RequirementsMissing when something is `missing`, unless `force`; whether the move
    goes through only by force."""
    if missing and not force:
        raise RequirementsMissing(of.object, record_id, missing)
    return bool(missing)


def make_entry_tasks(
    store: Store, deal_id: int, stage: Stage, owner: str | None, context: dict[str, Any]
) -> None:
    """The stage's `on_enter_tasks`, for the record's owner, due `due_in` after now; a record
    that enters the stage again while the same task is still open gets no second one."""
    still_open = {
        row[0]
        for row in store.conn.execute(
            "SELECT title FROM tasks WHERE deal_id = ? AND done_at IS NULL AND created_by = ?",
            (deal_id, f"stage:{stage.id}"),
        )
    }
    rows = entry_task_rows(store, deal_id, stage, owner, context)
    insert_entry_tasks(store, [row for row in rows if row[0] not in still_open])


def entry_task_rows(
    store: Store, deal_id: int, stage: Stage, owner: str | None, context: dict[str, Any]
) -> list[tuple]:
    """The rows of the stage's tasks for one record entering it (`insert_entry_tasks` writes
    them: the import gathers a batch of records' rows, then writes them at once)."""
    contact_id = context["contact"]["id"] if context.get("contact") else None
    return [
        (task_title(store.project, stage, task, context), contact_id, deal_id, owner,
         stored_instant(store.now + task.due_in) if task.due_in else None, store.stamp,
         f"stage:{stage.id}")
        for task in stage.on_enter_tasks
    ]  # fmt: skip


def insert_entry_tasks(store: Store, rows: list[tuple]) -> None:
    store.conn.executemany(
        "INSERT INTO tasks (title, contact_id, deal_id, assignee, due_at, created_at,"
        " created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def task_title(project: Project, stage: Stage, task: StageTask, context: dict[str, Any]) -> str:
    """An entry task's title written for a record (`context`: the record under its kind's
    name, `contact`, `stage`), as the task it makes is titled: `Demander son avis à Julie`."""
    from jinja2 import TemplateError

    try:
        title = _title_template(task.title, project).render(context)
    except TemplateError as error:
        raise UserError(
            f"stage '{stage.id}': the task title {task.title!r} cannot be written: {error}"
        ) from None
    return " ".join(title.split())


def _title_template(source: str, project: Project) -> Template:
    return _compiled(source, project.locale, project.timezone, project.currency)


@lru_cache(maxsize=256)
def _compiled(source: str, locale: str, zone: tzinfo, currency: str) -> Template:
    """A title template where a value the record lacks (a deal without a contact) prints
    nothing: the title is a reminder, not a reason to refuse the move."""
    from jinja2 import ChainableUndefined

    from salesflow.templating import make_environment

    env = make_environment(None, locale, zone, currency)
    env.undefined = ChainableUndefined
    return env.from_string(source)
