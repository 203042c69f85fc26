"""`salesflow tick`: the time-driven work — fire due schedules, resume runs whose wait is
over, flag stalled deals, process the resulting events, deliver the outbox (emails and
requests side by side).

Every piece claims its work in the write transaction that does it and records it done:
on SQLite by reading it under the write lock (BEGIN IMMEDIATE), so two ticks started at once
take turns and the second finds nothing left to do; on PostgreSQL, where ticks on several
hosts run at once, by locking the rows it reads and skipping those another tick holds
(store/queues.py), and for a schedule by inserting the slot's fire row (store/schedules.py).
A tick killed mid-way leaves whole batches done or undone (its locks go with it), and the
next tick finishes the job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from salesflow.engine.context import Renderer, environment, local_time
from salesflow.engine.process import Processor, ProcessResult, rewake
from salesflow.engine.runs import Engine, TraceLine
from salesflow.engine.schedules import due, localize
from salesflow.outbox.courier import DeliveryResult
from salesflow.outbox.delivery import deliver_both
from salesflow.phrases import phrase
from salesflow.reports.stalled import stalled_rows
from salesflow.store import deals, runs, schedules
from salesflow.store.db import isolated, transaction
from salesflow.store.session import Store
from salesflow.wording import counted

BATCH = 500


@dataclass
class TickResult:
    schedules: int = 0
    moved: int = 0  # waits that follow a changed workflow file
    resumed: int = 0
    stalled: int = 0
    processed: ProcessResult = field(default_factory=ProcessResult)
    delivery: DeliveryResult = field(default_factory=DeliveryResult)
    requests: DeliveryResult = field(default_factory=DeliveryResult)

    def summary(self) -> str:
        busy = self.schedules or self.moved or self.resumed or self.stalled
        busy = busy or self.processed.events
        busy = busy or self.processed.failed
        if not busy and not self.delivery.handled and not self.requests.handled:
            return "nothing was due"
        failed = f" ({self.processed.failed} failed)" if self.processed.failed else ""
        requests = f", {self.requests.told('request')}" if self.requests.handled else ""
        moved = f" ({counted(self.moved, 'wait')} moved: workflow changed)" if self.moved else ""
        return (
            f"{counted(self.schedules, 'schedule')} fired, {counted(self.resumed, 'run')}"
            f" resumed{moved}, {self.stalled} stalled,"
            f" {counted(self.processed.events, 'event')} handled{failed},"
            f" {self.delivery.told('email')}{requests}"
        )

    def as_json(self) -> dict:
        return {
            "schedules_fired": self.schedules, "waits_moved": self.moved,
            "runs_resumed": self.resumed,
            "deals_stalled": self.stalled, "events": self.processed.events,
            "events_failed": self.processed.failed, "runs_started": self.processed.runs,
            "delivery": self.delivery.as_json(), "requests": self.requests.as_json(),
            "warnings": self.processed.warnings,
        }  # fmt: skip


def tick(
    store: Store,
    send: bool = True,
    on_line: Callable[[TraceLine], None] | None = None,
    stop: Callable[[], bool] | None = None,
    renderer: Renderer | None = None,
) -> TickResult:
    """Everything due at `store.now`; what runs did goes to `on_line` as it happens. `stop`
    (serve shutting down) ends the pass between two batches of events, before delivery.
    `renderer`: the project's, kept across ticks by a caller that ticks many times (plan)."""
    renderer = renderer or Renderer(environment(store.project))
    engine = Engine(store, renderer, on_line)
    processor = Processor(store, on_line=on_line, renderer=renderer)
    result = TickResult()
    result.schedules = fire_schedules(store, engine)
    processor.run(stop=stop)  # what happened before now, first: a reply read, a deal moved
    result.moved = follow_changed_workflows(store, engine)
    result.resumed = resume_due_runs(store, engine)
    result.stalled = flag_stalled(store)
    result.processed = processor.run(stop=stop)
    if send and not (stop and stop()):
        result.delivery, result.requests = deliver_both(store)
    return result


def fire_schedules(store: Store, engine: Engine) -> int:
    fired = 0
    with transaction(store.conn):
        for slot in due(store):
            if not schedules.fire(store, slot.workflow.id, slot.slot):
                continue  # another host fired it a moment ago
            run = engine.enrol(slot.workflow)
            when = local_time(localize(slot.slot, store), store)
            if slot.skip:
                detail = phrase("slot_missed", when=when)
                engine.tracer.add(run, slot.workflow, None, "schedule", "skipped", detail)
                engine.tracer.settle()
                runs.cancel_missed(store, run["id"], phrase("missed_slot"))
                continue
            fired_at = (phrase("slot_fired_missed", when=when, missed=slot.missed)
                        if slot.missed else phrase("slot_fired", when=when))  # fmt: skip
            engine.tracer.add(run, slot.workflow, None, "schedule", "fired", fired_at)
            engine.advance(run["id"], run=run)
            engine.tracer.settle()
            fired += 1
    return fired


def follow_changed_workflows(store: Store, engine: Engine) -> int:
    """Runs waiting until a date (a reminder 24 h before the lesson) whose workflow's file
    changed since they started: their wake-up follows the file as it is now, as it follows
    the date when the date changes. An unchanged file costs one indexed probe. How many
    wake-ups moved."""
    moved = 0
    for workflow in store.project.workflows.values():
        if runs.any_on_older_file(store, workflow.id, workflow.content_hash):
            moved += _follow_file(store, engine, workflow)
    return moved


def _follow_file(store: Store, engine: Engine, workflow) -> int:
    """The workflow's waiting runs of older files, a batch a transaction: those waiting
    until a date wake as the file now says (a run whose wait step is gone keeps its time),
    and all of them are marked with the file's version, so they are looked at once."""
    moved = 0
    while True:
        with transaction(store.conn):
            found = runs.waiting_on_older_file(store, workflow.id, workflow.content_hash, BATCH)
            moved += sum(rewake(engine, run, _redefined) for run in found if run["anchor"])
            runs.mark_file_version(store, [run["id"] for run in found], workflow.content_hash)
            engine.tracer.settle()
        if len(found) < BATCH:
            return moved


def _redefined(until: str) -> str:
    return phrase("wait_redefined", until=until)


def resume_due_runs(store: Store, engine: Engine) -> int:
    """Waiting runs whose time has come, found by index, a batch a transaction."""
    resumed = 0
    while True:
        with transaction(store.conn):
            due_runs = runs.resumable(store, BATCH)
            for run_id in due_runs:
                isolated(store.conn, lambda run_id=run_id: engine.resume(run_id),
                         lambda error, run_id=run_id: engine.broken(run_id, error))  # fmt: skip
                engine.tracer.settle()
        resumed += len(due_runs)
        if len(due_runs) < BATCH:
            return resumed


def flag_stalled(store: Store) -> int:
    """deal.stalled (ticket.stalled) once per quiet spell (stage entry, or last completed task
    after it), for deals (tickets) stalled: nothing planned, past their stage's rot_after."""
    objects = {key: of.object for key, of in store.project.pipelines.items()}
    with transaction(store.conn):
        flagged = 0
        for row in stalled_rows(store):
            if row["stalled_for"] == row["quiet_since"]:
                continue
            deals.flag_stalled(store, row["id"], row["quiet_since"])
            data = {"pipeline": row["pipeline"], "stage": row["stage"],
                    "days_in_stage": int(row["days"])}  # fmt: skip
            key = f"stalled:{row['id']}:{row['quiet_since']}"
            record = objects[row["pipeline"]]
            store.record_event(f"{record}.stalled", record, row["id"], data, key=key)
            flagged += 1
        return flagged
