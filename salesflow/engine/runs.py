"""Runs: a subject's way through a workflow — enrolled, advanced step by step, parked while
waiting, ended done, failed or cancelled, with a trace row for everything each step did.

All of a run's changes happen in the caller's transaction, together with the step's own
effects (records changed, events, outbox rows), so a crash never repeats or loses a step.
Each step runs in a savepoint: whatever it raises undoes its own half-done writes and fails
the run at that step (retryable with `runs retry`), never the other runs of the pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from salesflow.config.model import MANUAL_EVENT, RECORDS, Workflow
from salesflow.engine import steps as path_of
from salesflow.engine.actions import HANDLERS
from salesflow.engine.context import Renderer, event_view
from salesflow.engine.outcome import Act, Outcome, StepFailed
from salesflow.engine.state import RunState
from salesflow.errors import UserError
from salesflow.phrases import phrase
from salesflow.store import events, runs
from salesflow.store.db import describe, fault_advice, isolated, row_dict, transaction
from salesflow.store.queues import ACTIVE
from salesflow.store.session import Store

# Actions that change no contact or deal: the run's template context stays true after them.
KEEP_CONTEXT = frozenset(
    {"send_email", "notify", "create_task", "http", "wait", "wait_until", "branch", "stop"}
)
# Actions that change the run's deal (or ticket) and not its contact: only the deal is read
# again for the next step's templates (a contact's change reads both: a deal shows its email).
DEAL_ONLY = frozenset(
    {"create_deal", "move_deal", "update_deal", "create_ticket", "move_ticket", "update_ticket"}
)


@dataclass
class TraceLine:
    """One line of what the engine did, for --dry-run plans and `runs show` (`detail` as the
    trace keeps it: a phrase, see salesflow.phrases)."""

    run_id: int
    workflow: str
    step: str
    action: str
    outcome: str
    detail: str


class Tracer:
    """What runs did, traced per item (an event, a resumed run): when the item went through,
    `settle` writes its trace rows in one statement and tells its lines to `on_line`; when it
    was undone, `discard` forgets them. Nothing is kept beyond the current item, so a long
    pass holds no more than one item's lines — except while `holding` (a batch done at once):
    settled items then wait for `release` (the batch went through: one statement for all) or
    `drop` (it was undone)."""

    def __init__(self, store: Store, on_line: Callable[[TraceLine], None] | None = None):
        self.store = store
        self.on_line = on_line
        self.pending: list[TraceLine] = []  # the current item's lines, for on_line
        self.pending_rows: list[tuple] = []  # and its trace rows
        self.holding = False
        self.held: list[TraceLine] = []  # a batch's settled items' lines
        self.held_rows: list[tuple] = []  # and their trace rows

    def add(self, run, workflow: Workflow | None, cursor, action, outcome: str, detail: str):
        """A trace row for `run` (its row: id and workflow) at `cursor`."""
        step = "/".join(cursor) if cursor else ""
        self.pending_rows.append((run["id"], step, action, outcome, detail, self.store.stamp))
        if self.on_line:
            name = workflow.id if workflow else run["workflow"]
            self.pending.append(TraceLine(run["id"], name, step, action or "", outcome, detail))

    def settle(self) -> None:
        """The current item went through: its trace is written, its lines told (while
        holding: at `release`)."""
        if self.holding:
            self.held_rows += self.pending_rows
            self.held += self.pending
        else:
            self._write(self.pending_rows, self.pending)
        self.discard()

    def release(self) -> None:
        """The batch held went through: its items' trace written, their lines told."""
        self._write(self.held_rows, self.held)
        self.drop()

    def drop(self) -> None:
        """The batch held was undone: what its items did did not happen."""
        self.held, self.held_rows = [], []

    def _write(self, rows: list[tuple], lines: list[TraceLine]) -> None:
        if rows:  # most events start no run
            runs.write_trace(self.store, rows)
        if self.on_line:
            for line in lines:
                self.on_line(line)

    def discard(self) -> None:
        """The current item was undone: what it did did not happen."""
        self.pending.clear()
        self.pending_rows.clear()


class Engine:
    """Advances runs for one store (one `now`): enrols them, runs their steps until they wait
    or end, and resumes, retries or cancels them; what they did goes to `tracer`."""

    def __init__(
        self,
        store: Store,
        renderer: Renderer,
        on_line: Callable[[TraceLine], None] | None = None,
    ):
        self.store = store
        self.renderer = renderer
        self.tracer = Tracer(store, on_line)
        # False while a batch is done at once: a step that raises is not undone alone, its
        # exception ends the attempt (the caller then undoes the batch, redoes it item by item)
        self.guarded = True

    # -- enrolment
    def enrol(
        self,
        workflow: Workflow,
        event=None,
        *,
        contact_id: int | None = None,
        deal_id: int | None = None,
        depth: int = 0,
    ) -> dict | None:
        """A new run of `workflow` for the event's subject — its deal (or ticket) for deal
        (ticket) events, else its contact (a form's contact is known only at upsert_contact);
        no event: a scheduled run, without subject. Its row; None if the subject is (or was,
        without reenroll) in the workflow already. A ticket is a pipeline record like a deal:
        its run keeps it in `deal_id`."""
        kind = event["type"] if event is not None else ""
        record = kind.split(".")[0]
        subject = record if record in RECORDS else "contact" if event is not None else None
        if kind == MANUAL_EVENT:  # started by hand for a contact, a deal or a ticket
            subject = event["subject_type"]
        if self.enrolled(workflow, subject, deal_id if subject in RECORDS else contact_id):
            return None
        return runs.start(
            self.store, workflow.id, workflow.content_hash, subject,
            path_of.first(workflow.steps), contact_id=contact_id, deal_id=deal_id,
            event_id=event["id"] if event is not None else None, depth=depth,
        )  # fmt: skip

    def enrolled(self, workflow: Workflow, subject, subject_id, other_than=None) -> int | None:
        """An earlier run of this subject in `workflow` (an active one, with reenroll)."""
        if subject is None or not subject_id:
            return None
        return runs.enrolled(self.store, workflow.id, subject, subject_id,
                             active_only=workflow.reenroll, other_than=other_than)  # fmt: skip

    # -- advancing
    def advance(self, run_id: int, event=None, run: dict | None = None) -> None:
        """Run steps from the cursor until the run waits or ends (`event`: the run's, and
        `run`: its row as it stands, when the caller holds them)."""
        store = self.store
        run = run if run is not None else row_dict(runs.get(store, run_id))
        workflow = store.project.workflows.get(run["workflow"])
        if workflow is None:
            self._end(run, "cancelled", phrase("workflow_gone", workflow=run["workflow"]))
            return
        if event is None or event["id"] != run["event_id"]:
            event = events.find(store, run["event_id"]) if run["event_id"] else None
        state = RunState(run["id"], contact_id=run["contact_id"], deal_id=run["deal_id"],
                         depth=run["depth"], event=event_view(event, store))  # fmt: skip
        cursor = json.loads(run["cursor"]) if run["cursor"] else None
        store.event_depth = run["depth"] + 1
        try:
            self._steps(run, workflow, state, cursor)
        finally:
            store.event_depth = 0

    def _steps(self, run, workflow: Workflow, state: RunState, cursor) -> None:
        while True:
            if cursor is None:
                self._save(run, state, "done", None, None)
                return
            step = path_of.find(workflow.steps, cursor)
            if step is None:
                self._end(run, "cancelled", phrase("step_gone", step="/".join(cursor)))
                return
            known = state.contact_row
            outcome = self._attempt(run, workflow, state, cursor, step)
            if step.action not in KEEP_CONTEXT:
                self._changed(state, step.action, known)
            if outcome is None:
                return
            self.tracer.add(run, workflow, cursor, step.action, _status_word(outcome),
                            outcome.detail)  # fmt: skip
            if self._bind(run, workflow, state):
                return
            if outcome.status == "stop":
                self._save(run, state, "done", None, phrase("run_stopped", reason=outcome.detail))
                return
            if outcome.status == "wait":
                following = cursor if outcome.again else path_of.following(workflow.steps, cursor)
                anchor = outcome.anchor and json.dumps({"field": outcome.anchor, "step": cursor})
                self._save(run, state, "waiting", following, None, outcome.wake_at, anchor)
                return
            cursor = self._next(workflow, step, cursor, outcome)

    @staticmethod
    def _changed(state: RunState, action: str, known) -> None:
        """After a step that changed records: the context is read again before the next
        step's templates (only its deal after a step that changed only that); the contact's
        row too, unless the step left the row it wrote (`known`: the row before it)."""
        if state.context is not None:
            state.stale = "deal" if action in DEAL_ONLY and state.stale != "records" else "records"
        if action not in DEAL_ONLY and state.contact_row is known:
            state.contact_row = None

    def _bind(self, run, workflow: Workflow, state: RunState) -> bool:
        """The records the step bound become the run's; True when the contact it found is in
        this workflow already (the run is then cancelled: one run a contact)."""
        bound, state.bound_contact = state.bound_contact, None
        if bound is not None and state.contact_id is None:
            state.contact_id = bound
            duplicate = self.enrolled(workflow, "contact", bound, other_than=run["id"])
            if duplicate:
                state.bound_deal = None
                self._save(run, state, "cancelled", None,
                           phrase("contact_already_in", run=duplicate))  # fmt: skip
                return True
        state.deal_id = state.bound_deal or state.deal_id
        state.bound_deal = None
        return False

    def _attempt(self, run, workflow: Workflow, state: RunState, cursor, step) -> Outcome | None:
        """The step's outcome; None when it failed (undone, and the run failed there)."""
        act = Act(self.store, self.renderer, workflow, step, state)
        if not self.guarded:
            return self._unguarded(act, lambda error: self._fail(run, workflow, state, cursor,
                                                                 step, error))  # fmt: skip
        done: list[Outcome] = []
        isolated(
            self.store.conn,
            lambda: done.append(self._act(act, step)),
            lambda error: self._fail(run, workflow, state, cursor, step, error),
        )
        return done[0] if done else None

    def _unguarded(self, act: Act, failed: Callable[[Exception], None]) -> Outcome | None:
        """The step without its savepoint: one that raised before writing anything has
        nothing to undo and fails its run as a guarded one would; one that wrote, then
        raised, ends the batch's attempt (see `raised_unwritten`)."""
        changes = self.store.conn.total_changes
        try:
            return self._act(act, act.step)
        except Exception as error:
            raised_unwritten(self.store.conn, changes, error)
            failed(error)
            return None

    def _act(self, act: Act, step) -> Outcome:
        if step.condition:
            try:
                holds = self.renderer.test(step.condition, act.context())
            except Exception as error:
                raise StepFailed(
                    phrase("condition_failed", condition=repr(step.condition), error=str(error))
                ) from None
            if not holds:
                return Outcome(phrase("condition_false", condition=step.condition), "skipped")
        return HANDLERS[step.action](act, step.config)

    def _fail(
        self, run, workflow: Workflow, state: RunState, cursor, step, error: Exception
    ) -> None:
        reason = error.phrase if isinstance(error, StepFailed) else describe(error)
        state.forget_bindings()
        self.tracer.add(run, workflow, cursor, step.action, "failed", reason)
        self._save(run, state, "failed", cursor, phrase("step_failed", step=step.id, reason=reason))

    @staticmethod
    def _next(workflow: Workflow, step, cursor, outcome: Outcome):
        if outcome.arm:
            arm = step.config.then if outcome.arm == "then" else step.config.otherwise
            inner = path_of.into_arm(cursor, outcome.arm, arm)
            if inner:
                return inner
        following = path_of.following(workflow.steps, cursor)
        if outcome.status == "skip_next" and following is not None:
            return path_of.following(workflow.steps, following)
        return following

    def _save(self, run, state: RunState, status: str, cursor, reason, wake=None, anchor=None):
        runs.save(self.store, run["id"], status, cursor=cursor, reason=reason,
                  contact_id=state.contact_id, deal_id=state.deal_id, wake=wake,
                  anchor=anchor)  # fmt: skip

    def _end(self, run, status: str, reason: str) -> None:
        runs.end(self.store, run["id"], status, reason)
        self.tracer.add(run, None, None, None, status, reason)

    # -- other ways a run changes
    def cancel(self, run_id: int, reason: str) -> None:
        """`reason`: a phrase, or the words of the person who cancelled it."""
        run = runs.get(self.store, run_id)
        if run["status"] not in ACTIVE and run["status"] != "failed":
            raise UserError(f"run #{run_id} is {run['status']}: nothing to cancel")
        self._end(run, "cancelled", reason)

    def retry(self, run_id: int) -> None:
        run = runs.get(self.store, run_id)
        if run["status"] != "failed":
            raise UserError(f"run #{run_id} is {run['status']}; only failed runs are retried")
        runs.mark_retried(self.store, run_id)
        self.tracer.add(run, None, None, None, "retried", phrase("retried_by_hand"))
        self.advance(run_id)

    def broken(self, run_id: int, error: Exception) -> None:
        """A run that raised outside any step (its stored state is unreadable…): failed."""
        self.tracer.discard()
        self._end(runs.get(self.store, run_id), "failed", describe(error))

    def resume(self, run_id: int) -> None:
        """A waiting run whose time came: on from its cursor."""
        runs.mark_resumed(self.store, run_id)
        self.advance(run_id)


def raised_unwritten(conn, changes: int, error: Exception) -> None:
    """Re-raise `error` unless an item done without its savepoint can fail in place, as if
    its savepoint had been rolled back: nothing written since `changes` (the connection's
    `total_changes` when it began) and no fault of the environment."""
    if conn.total_changes != changes or not conn.in_transaction or fault_advice(error):
        raise error


def _status_word(outcome: Outcome) -> str:
    return {"wait": "waiting", "stop": "stopped", "skip_next": "done"}.get(
        outcome.status, outcome.status
    )


def change_run(store: Store, run_id: int, change: Callable[[Engine], object]) -> list[TraceLine]:
    """Retry or cancel a run by hand (`change(engine)`), in a transaction, and let what it
    started settle; the trace lines of what happened."""
    from salesflow.engine.context import environment

    runs.get(store, run_id)
    lines: list[TraceLine] = []
    engine = Engine(store, Renderer(environment(store.project)), lines.append)
    with transaction(store.conn):
        change(engine)
        engine.tracer.settle()
    return lines
