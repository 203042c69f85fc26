"""Starting a workflow by hand (`trigger: {manual: true}`) for chosen contacts, deals or
tickets.

Each subject gets a workflow.started event, handled at once through the usual path, so the
enrolment rules hold (once per subject, unless `reenroll`) and the run's trace and history
are those of any run. The events the runs record go on at the next `process` or `run`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from salesflow.config.model import MANUAL_EVENT, Workflow
from salesflow.engine.process import Processor
from salesflow.errors import UserError, did_you_mean
from salesflow.store import contacts, deals
from salesflow.store.db import transaction
from salesflow.store.session import Store

WHERE_KEYS = ("pipeline", "stage", "owner", "tag")


@dataclass
class Started:
    started: list[tuple[str, int]] = field(default_factory=list)  # (contact|deal|ticket, id)
    already: list[tuple[str, int]] = field(default_factory=list)  # in the workflow already
    skipped: list[tuple[str, int]] = field(default_factory=list)  # its `if` does not hold
    failed: list[str] = field(default_factory=list)  # why a subject's start failed
    missing: list[str] = field(default_factory=list)  # references that named nobody


def manual_workflow(store: Store, workflow_id: str) -> Workflow:
    workflow = store.project.workflows.get(workflow_id)
    if workflow is None:
        hint = did_you_mean(workflow_id, list(store.project.workflows))
        raise UserError(f"no workflow '{workflow_id}'{hint}")
    if not workflow.enabled:
        raise UserError(f"workflow '{workflow_id}' is disabled (enabled: false in its file)")
    if not workflow.trigger.manual:
        raise UserError(
            f"workflow '{workflow_id}' starts on its trigger; to start it by hand, give it"
            " `trigger: {manual: true}`"
        )
    return workflow


def chosen(
    store: Store,
    contact_refs: list[str],
    deal_ids: list[int],
    from_file: Path | None,
    where: list[str],
    ticket_ids: list[int] = (),
) -> tuple[list[tuple[str, int]], list[str]]:
    """The (contact|deal|ticket, id) subjects named, in order, each once; and what named
    nobody."""
    subjects, missing = [], []
    for reference in contact_refs:
        row = contacts.find(store, reference)
        if row is None:
            missing.append(f"no contact '{reference}'")
        else:
            subjects.append(("contact", row["id"]))
    for record, numbers in (("deal", deal_ids), ("ticket", ticket_ids)):
        for number in numbers:
            problem = _unlike(store, str(number), record)
            if problem:
                missing.append(problem)
            else:
                subjects.append((record, number))
    if from_file is not None:
        found, lost = _from_csv(store, from_file)
        subjects += found
        missing += lost
    if where:
        matched = _where(store, where)
        subjects += matched
        if not matched:
            missing.append(f"nobody matches --where {' '.join(where)}")
    return list(dict.fromkeys(subjects)), missing


def _from_csv(store: Store, path: Path) -> tuple[list[tuple[str, int]], list[str]]:
    """Subjects from a CSV file's `email` column (contacts), `deal` or `ticket` column (ids)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: cannot read it ({error})") from None
    header = text.partition("\n")[0]
    delimiter = next((mark for mark in ";\t," if mark in header), ",")  # one column: none
    rows = csv.DictReader(text.splitlines(), delimiter=delimiter)
    columns = {name.strip().lower(): name for name in rows.fieldnames or []}
    kind = next((name for name in ("deal", "ticket", "email") if name in columns), None)
    if kind is None:
        raise UserError(f"{path}: a column named email (contacts), deal or ticket (ids) is"
                        " needed")  # fmt: skip
    column = columns[kind]
    kind = "contact" if kind == "email" else kind
    found, missing = [], []
    for number, row in enumerate(rows, start=2):
        value = (row.get(column) or "").strip()
        if kind != "contact":
            problem = _unlike(store, value, kind)
            subject = None if problem else (kind, int(value))
        else:
            contact = contacts.find(store, value) if value else None
            subject = ("contact", contact["id"]) if contact else None
            problem = f"no contact '{value}'"
        if subject:
            found.append(subject)
        else:
            missing.append(f"{path.name} row {number}: {problem}")
    return found, missing


def _unlike(store: Store, text: str, record: str) -> str | None:
    """Why `text` names no deal (or ticket), in the words of `deals show` (`#4 is a ticket, not
    a deal: …`); None when it names one."""
    try:
        deals.get(store, text, record)
    except UserError as error:
        return str(error)
    return None


def _where(store: Store, filters: list[str]) -> list[tuple[str, int]]:
    """Open deals or tickets (a filter on pipeline or stage; tickets when the pipeline is a
    ticket pipeline) or contacts (tag, owner) that match."""
    values = {}
    for text in filters:
        key, _, value = text.partition("=")
        if key.strip() not in WHERE_KEYS or not value.strip():
            raise UserError(
                f"--where {text!r}: use KEY=VALUE with KEY one of {', '.join(WHERE_KEYS)}"
            )
        values[key.strip()] = value.strip()
    if "pipeline" in values or "stage" in values:
        if "tag" in values:
            raise UserError("--where: a tag selects contacts, a pipeline or stage deals; not both")
        named = store.project.pipelines.get(values.get("pipeline", ""))
        record = named.object if named else "deal"
        rows = deals.search(store, values.get("pipeline"), values.get("stage"),
                            values.get("owner"), "open", record=record)  # fmt: skip
        return [(record, row["id"]) for row in reversed(rows)]
    rows = contacts.search(store, values.get("owner"), values.get("tag"))
    return [("contact", row["id"]) for row in reversed(rows)]


def start(
    store: Store, workflow: Workflow, subjects: list[tuple[str, int]], dry_run: bool = False,
    on_line=None,
) -> Started:  # fmt: skip
    """Start `workflow` for each (contact|deal|ticket, id); with `dry_run`, all is done
    and undone."""
    result = Started()
    processor = Processor(store, only=workflow.id, on_line=on_line)
    with transaction(store.conn, dry_run):
        ids = [
            store.record_event(MANUAL_EVENT, kind, number, {"workflow": workflow.id, "by": "cli"})
            for kind, number in subjects
        ]
        for subject, event_id in zip(subjects, ids, strict=True):
            failures, warnings = processor.result.failed, len(processor.result.warnings)
            runs = processor.handle_one(event_id)
            if processor.result.failed > failures or len(processor.result.warnings) > warnings:
                # the event failed, or the workflow's `if` could not be judged for it
                result.failed.append(f"{subject[0]} #{subject[1]}: {processor.result.warnings[-1]}")
            elif runs:
                result.started.append(subject)
            elif processor.engine.enrolled(workflow, *subject):
                result.already.append(subject)
            else:
                result.skipped.append(subject)
    return result
