"""`salesflow process`: pending events, in order, each once — cancellations, matching,
enrolment, and runs advanced until they wait or end.

Events are handled in batches, one transaction a batch: a batch's events are marked processed
together with everything their runs did, so a crash redoes the batch and never half of it.
Each event is isolated in a savepoint: one that raises anything is undone alone and marked
failed with its error (`events list --failed`, `events retry`); the batch goes on.
Events that steps record (a deal moved by a workflow) are handled in a later batch — but
those no workflow could react to are recorded processed at once (`unheard`); a chain
deeper than MAX_DEPTH is a loop, stopped and reported.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

from salesflow.config.model import RECORDS, Project, Trigger, Workflow
from salesflow.engine.actions.flow import wake_time
from salesflow.engine.context import (
    Renderer,
    build_context,
    environment,
    event_view,
    local_time,
)
from salesflow.engine.outcome import Act, StepFailed
from salesflow.engine.runs import Engine, TraceLine, raised_unwritten
from salesflow.engine.state import RunState
from salesflow.engine.steps import find
from salesflow.phrases import phrase
from salesflow.store import deals, events, runs
from salesflow.store.db import all_or_nothing, describe, isolated, row_dict, transaction
from salesflow.store.session import Store
from salesflow.values import stored_instant

MAX_DEPTH = 10
# Events a transaction (the demo form's submission records 4): each commit writes again every
# page the batch touched, the indexes' most of all; 200 spent a third more in commits.
BATCH = 500


@dataclass
class ProcessResult:
    events: int = 0
    runs: int = 0
    failed: int = 0
    warnings: list[str] = field(default_factory=list)  # loops stopped, conditions that failed


def workflows_by_event(project: Project, only: str | None = None) -> dict[str, list[Workflow]]:
    """Enabled workflows by the event type that starts them (matching never loops over all)."""
    index: dict[str, list[Workflow]] = defaultdict(list)
    for workflow in project.workflows.values():
        if workflow.trigger.event and (workflow.enabled or only) and only in (None, workflow.id):
            index[workflow.trigger.event].append(workflow)
    return index


def cancellers_by_event(project: Project) -> dict[str, list[tuple[Workflow, Trigger]]]:
    index: dict[str, list[tuple[Workflow, Trigger]]] = defaultdict(list)
    for workflow in project.workflows.values():
        for trigger in workflow.cancel_on:
            index[trigger.event].append((workflow, trigger))
    return index


def unheard(project: Project) -> Callable[[str], bool]:
    """Whether no workflow could react to an event of a kind: none, enabled or not, starts or
    is cancelled on it, and it moves no wait (`.updated`) nor ends a run (`email.replied`).
    A run's steps record such events already processed: handling them would only mark them
    (see `_concerns_nobody`), in a later batch — a read and an update each, which the demo
    form's submission paid twice."""
    heard = frozenset(trigger.event for workflow in project.workflows.values()
                      for trigger in (workflow.trigger, *workflow.cancel_on))  # fmt: skip
    return lambda kind: not (kind in heard or kind.endswith(".updated") or kind == "email.replied")


def matches(trigger: Trigger, data: dict) -> bool:
    """The trigger's filters all hold for the event's data (a list: any of its values)."""
    for key, values in trigger.match.items():
        if key == "changed":
            if not set(values) & set(data.get("changed") or ()):
                return False
        elif data.get(key) not in values:
            return False
    return True


class Processor:
    def __init__(
        self,
        store: Store,
        only: str | None = None,
        on_line: Callable[[TraceLine], None] | None = None,
        renderer: Renderer | None = None,
        at_once: bool = True,
    ):
        """`renderer`: one already made for the project (a tick's), its templates compiled;
        `at_once` False: every batch one event by one, each in its savepoint (what a batch
        that raised is redone as)."""
        self.store = store
        self.at_once = at_once
        renderer = renderer or Renderer(environment(store.project))
        self.engine = Engine(store, renderer, on_line)
        self.starters = workflows_by_event(store.project, only)
        self.cancellers = cancellers_by_event(store.project)
        self.stop_on_reply = any(w.stop_on_reply for w in store.project.workflows.values())
        self.unheard = unheard(store.project)
        self.result = ProcessResult()
        self._processed: list[tuple[int, str | None]] | None = None  # a batch done at once's
        # in a pass (`run`), what a run records that no workflow hears is processed at once:
        # the pass would mark it so with these same workflows (`handle_one` leaves it pending
        # for `process`, whose workflows may have changed by then)
        self._settling = False

    def run(
        self, dry_run: bool = False, stop: Callable[[], bool] | None = None, batch: int = BATCH
    ) -> ProcessResult:
        """Handle every pending event (also those the handling records), `batch` at a time;
        when `stop` says so, end after the batch under way (each batch is a transaction:
        nothing is half done)."""
        self._settling = True
        if dry_run:
            with transaction(self.store.conn, dry_run=True):
                while self._batch(batch):
                    pass
        else:
            while not (stop and stop()):
                with transaction(self.store.conn):
                    if not self._batch(batch):
                        break
        return self.result

    def handle_one(self, event_id: int) -> int:
        """Handle this event now, in the caller's transaction (other pending events wait for
        `process`); how many runs it started."""
        event = events.get(self.store, event_id)
        before = self.result.runs
        self._isolated(event)
        return self.result.runs - before

    def _batch(self, size: int) -> int:
        batch = events.pending_batch(self.store, size)
        if batch and not (self.at_once and self._at_once(batch)):
            self._one_by_one(batch)
        return len(batch)

    def _one_by_one(self, batch: list) -> None:
        """Each event in its own savepoint: one that raises fails alone."""
        idle = []
        for event in batch:
            if self._concerns_nobody(event):
                idle.append(event["id"])
            else:
                self._isolated(row_dict(event))
        events.mark_idle_processed(self.store, idle)
        self.result.events += len(idle)

    def _at_once(self, batch: list) -> bool:
        """The batch without a savepoint per event and per step (on PostgreSQL each is a
        round trip), its events marked and its trace written in one statement each. True
        when it went through; when anything raised, all of it is undone and False: the
        caller redoes the batch one by one, so that the bad event (or step) fails alone,
        as if the batch had never been tried at once."""
        tracer = self.engine.tracer
        before = replace(self.result, warnings=list(self.result.warnings))
        self._processed = []
        self.engine.guarded, tracer.holding = False, True

        def at_once() -> None:
            self._one_by_one(batch)
            events.mark_processed_many(self.store, self._processed)
            tracer.release()

        try:
            went = all_or_nothing(self.store.conn, at_once)
        finally:
            self.engine.guarded, tracer.holding = True, False
            self._processed = None
        if not went:
            tracer.discard()
            tracer.drop()
            vars(self.result).update(vars(before))  # in place: a caller may hold this result
        return went

    def _concerns_nobody(self, event) -> bool:
        """No workflow starts on this event or is cancelled by it, it moves no wait and ends
        no chain: it is only marked processed, with the batch's others together — no
        savepoint, no reads (on PostgreSQL, where each statement is a round trip, that made
        a demo submission's 63 statements 56)."""
        kind = event["type"]
        return (
            kind not in self.starters
            and kind not in self.cancellers
            and not kind.endswith(".updated")
            and not (kind == "email.replied" and self.stop_on_reply)
            and event["depth"] <= MAX_DEPTH
        )

    def _isolated(self, event) -> None:
        """Handle one event; if it raises, undo what it did and mark it failed (in a batch
        done at once: the exception ends the attempt)."""
        started, settled = self.result.runs, self.result.events

        def failed(error: Exception) -> None:
            self.engine.tracer.discard()
            self.result.runs, self.result.events = started, settled  # its runs' events undone
            self.result.failed += 1
            reason = describe(error)
            events.mark_failed(self.store, event["id"], reason)
            self.result.warnings.append(
                f"event #{event['id']} ({event['type']}) failed: {reason}"
                " (see `salesflow events show`, then `salesflow events retry`)"
            )

        if self.engine.guarded:
            isolated(self.store.conn, lambda: self.handle(event), failed)
        else:
            changes = self.store.conn.total_changes
            try:
                self.handle(event)
            except Exception as error:
                raised_unwritten(self.store.conn, changes, error)
                failed(error)
        self.engine.tracer.settle()

    def handle(self, event) -> None:
        data = json.loads(event["data"])
        contact_id, deal_id = self._subject(event)
        note = None
        if event["type"].endswith(".updated") and data.get("changed"):
            record = event["type"].split(".")[0]
            subject = contact_id if record == "contact" else deal_id
            self._follow_anchors(record, subject, data["changed"])
        self._cancel(event, data, contact_id, deal_id)
        if event["type"] == "email.replied":
            self._stop_on_reply(data, contact_id)
        if event["depth"] > MAX_DEPTH:
            note = f"loop stopped: a chain of {event['depth']} events caused by workflows"
            self.result.warnings.append(f"event #{event['id']} ({event['type']}): {note}")
        else:
            for workflow in self.starters.get(event["type"], ()):
                if matches(workflow.trigger, data) and self._condition(
                    workflow, event, contact_id, deal_id
                ):
                    self._start(workflow, event, contact_id, deal_id)
        if self._processed is None:
            events.mark_processed(self.store, event["id"], note)
        else:
            self._processed.append((event["id"], note))
        self.result.events += 1

    def _subject(self, event) -> tuple[int | None, int | None]:
        if event["subject_type"] == "contact":
            return event["subject_id"], None
        if event["subject_type"] in RECORDS:
            return deals.contact_of(self.store, event["subject_id"]), event["subject_id"]
        return None, None

    def _condition(self, workflow: Workflow, event, contact_id, deal_id) -> bool:
        if not workflow.condition:
            return True
        context = build_context(
            self.store, workflow, None, event_view(event, self.store), contact_id, deal_id
        )
        try:
            return self.engine.renderer.test(workflow.condition, context)
        except Exception as error:
            detail = f"workflow {workflow.id}: its `if` failed on event #{event['id']}: {error}"
            self.result.warnings.append(detail)
            return False

    def _start(self, workflow: Workflow, event, contact_id, deal_id) -> None:
        run = self.engine.enrol(
            workflow, event, contact_id=contact_id, deal_id=deal_id, depth=event["depth"]
        )
        if run is not None:
            self.result.runs += 1
            # what the run records is one deeper than the event: past MAX_DEPTH, a loop to note
            settling = self._settling and event["depth"] < MAX_DEPTH
            self.store.settles = self._settles if settling else None
            try:
                self.engine.advance(run["id"], event, run)
            finally:
                self.store.settles = None

    def _settles(self, kind: str) -> bool:
        """Whether a run records an event of this kind already processed (handled: counted)."""
        if self.unheard(kind):
            self.result.events += 1
            return True
        return False

    def _cancel(self, event, data: dict, contact_id, deal_id) -> None:
        """Active runs of this subject in workflows that this event cancels end now."""
        for workflow, trigger in self.cancellers.get(event["type"], ()):
            if not matches(trigger, data):
                continue
            for run_id in runs.active_of(self.store, workflow.id, contact_id, deal_id):
                self.engine.cancel(run_id, _cancelled_by(event["type"], data))

    def _stop_on_reply(self, data: dict, contact_id: int | None) -> None:
        """The run that sent the email answered ends, if its workflow stops on a reply and
        the one who replied is the run's contact (not another contact writing in the
        thread; a run without a contact wrote to an address: its contact answered)."""
        workflow = self.store.project.workflows.get(data.get("workflow") or "")
        run_id = data.get("run")
        if not (workflow and workflow.stop_on_reply and run_id and contact_id):
            return
        if not runs.is_active(self.store, run_id):
            return  # over already, or gone
        if runs.get(self.store, run_id)["contact_id"] in (None, contact_id):
            reason = phrase("stopped_on_reply", email=data.get("from") or data.get("email"),
                            subject=data.get("sent_subject") or "")  # fmt: skip
            self.engine.cancel(run_id, reason)

    def _follow_anchors(self, record: str, subject_id: int, changed: list[str]) -> None:
        """Waiting runs anchored on a field of their contact or deal that changed: their
        wake-up time follows it."""
        anchors = [f"{record}.{name}" for name in changed]
        for run in runs.anchored(self.store, record, subject_id, anchors):
            field_name = json.loads(run["anchor"])["field"]
            rewake(self.engine, run, partial(_moved_by_field, field_name))


def rewake(engine: Engine, run, why: Callable[[str], str]) -> bool:
    """Compute again when this run, waiting in a `wait_until` that follows a date, wakes —
    with its workflow as the project has it now; trace `why(until)` if the moment moved.
    Whether it moved: not when its wait step is gone or cannot say (its `at` unreadable
    now), which leaves the run waiting as it was."""
    store = engine.store
    workflow = store.project.workflows.get(run["workflow"])
    anchor = json.loads(run["anchor"])
    step = find(workflow.steps, anchor["step"]) if workflow else None
    if step is None or not hasattr(step.config, "at"):
        return False
    state = RunState(run["id"], contact_id=run["contact_id"], deal_id=run["deal_id"])
    try:
        wake = wake_time(Act(store, engine.renderer, workflow, step, state), step.config)
    except StepFailed:
        return False
    if stored_instant(wake) == run["wake_at"]:
        return False
    runs.reschedule(store, run["id"], wake)
    engine.tracer.add(run, workflow, anchor["step"], "wait_until", "rescheduled",
                      why(local_time(wake, store)))  # fmt: skip
    return True


def _moved_by_field(field_name: str, until: str) -> str:
    return phrase("wait_moved", field=field_name, until=until)


def _cancelled_by(kind: str, data: dict) -> str:
    """Why a run was cancelled: the event, and the move or form that says what it was."""
    if data.get("from") and data.get("to"):
        return phrase("cancelled_by_move", event=kind, from_stage=data["from"],
                      to_stage=data["to"], pipeline=data.get("pipeline") or "")  # fmt: skip
    if data.get("form"):
        return phrase("cancelled_by_form", event=kind, form=data["form"])
    return phrase("cancelled_by", event=kind)
