"""`salesflow plan`: the coming days replayed on a scratch copy of the database, every
effect the robot would have recorded instead of done.

The clock jumps from one due moment to the next — a run's wake-up (waits, `wait_until`s,
send windows), a schedule's slot, the moment a deal may go stale — and at each one the real
`tick` runs on the copy, without delivery. What the tick wrote there (its runs' trace lines,
the runs it started, the records it flagged stalled) is read back as effects, each at the
moment that made it due. Nothing else comes in: no form, no import, no reply, nobody moves a
deal; emails are taken as delivered and requests as answered 2xx (the inbox, the replies
mailbox and the outbox are never touched, nothing is sent).

Each effect has a stable identity — workflow, step, record and occurrence — so that two plans
of the same data (the working tree's configuration and another's) can be compared effect by
effect (engine/plan_diff.py).
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from salesflow.config.model import Project
from salesflow.engine.context import Renderer, environment
from salesflow.engine.schedules import localize, next_slot, wall_clock
from salesflow.engine.tick import tick
from salesflow.phrases import phrase, say
from salesflow.store import plan as scratch
from salesflow.store.session import Store
from salesflow.translations import N_
from salesflow.values import read_instant

# A step's action → the kind of effect it has (steps not listed, such as waits and
# conditions, only move the run along).
ACTION_KINDS = {
    "send_email": "email",
    "notify": "notification",
    "create_task": "task",
    "create_deal": "deal",
    "create_ticket": "ticket",
    "move_deal": "move",
    "move_ticket": "move",
    "update_contact": "update",
    "upsert_contact": "update",
    "update_deal": "update",
    "update_ticket": "update",
    "assign_owner": "update",
    "http": "request",
}
KIND_ORDER = ("email", "notification", "task", "deal", "ticket", "move", "update", "request",
              "stalled", "not sent", "failure", "run started", "run ended")  # fmt: skip
ASSUMED = {"request": N_("assumes the receiver answers 2xx; what it answers is not known")}
_ENDED = ("done", "cancelled", "failed")
_UNSHOWN_VALUES = {"msg", "id", "ids", "item"}  # numbers of the copy's rows: not the effect's
_NO_CHANGE = say(phrase("no_change"))


@dataclass(frozen=True)
class Effect:
    """One thing the robot would do, at the moment it is due."""

    at: datetime
    kind: str
    workflow: str | None
    step: str | None
    record: str | None  # "cours-essai #1 Julie Martin", a contact's address, or None
    said: str  # the trace line, a stored phrase (phrases.say renders it)
    values: dict = field(default_factory=dict)  # what it is (to, subject, title, due…), as text
    assumes: str | None = None  # what the plan cannot know about it
    occurrence: int = 1  # the nth effect of the same workflow, step, record and kind

    @property
    def identity(self) -> tuple:
        return (self.workflow, self.step, self.record, self.kind, self.occurrence)

    def as_json(self) -> dict:
        return {
            "at": self.at.isoformat(), "kind": self.kind, "workflow": self.workflow,
            "step": self.step, "record": self.record, "occurrence": self.occurrence,
            "said": say(self.said), "values": self.values, "assumes": self.assumes,
        }  # fmt: skip


@dataclass
class Plan:
    start: datetime
    until: datetime
    effects: list[Effect] = field(default_factory=list)
    moments: list[datetime] = field(default_factory=list)  # the moments the clock visited

    def counts(self) -> Counter:
        return Counter(effect.kind for effect in self.effects)


def plan(project: Project, now: datetime, until: datetime) -> Plan:
    """The effects due from `now` to `until` with `project`'s configuration, on a scratch
    copy of its database: the database itself is only read."""
    with tempfile.TemporaryDirectory(prefix="salesflow-plan-") as folder:
        copy = Store(scratch.scratch_copy(project.database, Path(folder) / "plan.db"),
                     project, now)  # fmt: skip
        try:
            return replay(copy, until)
        finally:
            copy.conn.close()


def replay(store: Store, until: datetime) -> Plan:
    """Tick `store` (a scratch copy: it is changed) at each due moment up to `until`."""
    result = Plan(store.now, until)
    seen: Counter = Counter()
    for effect in waiting_deliveries(store, until):
        seen[effect.identity] += 1
        result.effects.append(replace(effect, occurrence=seen[effect.identity]))
    renderer = Renderer(environment(store.project))  # its templates compiled once, not a tick
    moment: datetime | None = store.now
    while moment is not None and moment <= until:
        store.now = moment
        mark = scratch.marks(store)
        tick(store, send=False, renderer=renderer)
        result.moments.append(moment)
        for effect in effects_since(store, mark):
            seen[effect.identity] += 1
            result.effects.append(replace(effect, occurrence=seen[effect.identity]))
        moment = next_moment(store)
    result.effects.sort(key=lambda effect: effect.at)  # the waiting deliveries among the rest
    return result


def waiting_deliveries(store: Store, until: datetime) -> list[Effect]:
    """What the outbox already holds (queued, or retrying after a failure): delivered at its
    next attempt, as the plan assumes every delivery is."""
    found = []
    for row in scratch.waiting_deliveries(store, until):
        at = max(store.now, read_instant(row["next_attempt_at"], store.project.timezone)
                 or store.now)  # fmt: skip
        if row["kind"] == "http":
            kind, said = "request", phrase("plan_queued_request", method=row["subject"],
                                           url=row["to_addr"])  # fmt: skip
        else:
            kind, said = "email", phrase("plan_queued_email", to=row["to_addr"],
                                         subject=row["subject"])  # fmt: skip
        values = {"to": row["to_addr"], "subject": row["subject"]}
        found.append(Effect(at, kind, row["workflow"], row["step"], _record(row), said, values,
                            ASSUMED.get(kind)))  # fmt: skip
    return found


def next_moment(store: Store) -> datetime | None:
    """The first moment after now when something is due: a run wakes, a schedule's slot
    comes, a record may go stale."""
    candidates = [scratch.next_wake(store), *_next_slots(store), *_next_quiet_ends(store)]
    later = [moment for moment in candidates if moment is not None and moment > store.now]
    return min(later, default=None)


def _next_slots(store: Store) -> list[datetime]:
    return [
        _slot_after_now(workflow.trigger.schedule, store)
        for workflow in store.project.workflows.values()
        if workflow.trigger.schedule and workflow.enabled
    ]


def _slot_after_now(expression: str, store: Store) -> datetime:
    """A schedule's first slot after now, as an instant. The wall clock's next slot may be
    behind: in the hour the clocks go back, 02:30 came at its first pass (and fired then)."""
    wall = wall_clock(store.now, store)
    while True:
        wall = next_slot(expression, wall)
        moment = localize(wall, store)
        if moment > store.now:
            return moment


def _next_quiet_ends(store: Store) -> list[datetime | None]:
    return [
        scratch.next_quiet_end(store, pipeline.id, stage.id, stage.rot_after)
        for pipeline in store.project.pipelines.values()
        for stage in pipeline.stages
        if stage.rot_after and not stage.outcome
    ]


def effects_since(store: Store, mark: scratch.Marks) -> list[Effect]:
    """What the tick at `store.now` did after `mark`, as effects (occurrence not counted):
    the records it flagged stalled, then the runs it started, their steps and ends."""
    started = scratch.runs_started_since(store, mark)
    return [*_stalls(store, mark), *_starts(store.now, started),
            *_steps_and_ends(store, mark, started)]  # fmt: skip


def _stalls(store: Store, mark: scratch.Marks) -> list[Effect]:
    found = []
    for stall in scratch.stalls_since(store, mark):
        data = json.loads(stall["data"])
        record = f"{stall['pipeline']} #{stall['subject_id']} {stall['title']}"
        said = phrase("plan_stalled", record=record, days=data.get("days_in_stage"),
                      stage=data.get("stage"))  # fmt: skip
        found.append(Effect(store.now, "stalled", None, None, record, said,
                            {"stage": data.get("stage")}))  # fmt: skip
    return found


def _starts(at: datetime, started: list) -> list[Effect]:
    return [
        Effect(at, "run started", run["workflow"], None, _record(run),
               phrase("plan_run_started", id=run["id"], workflow=run["workflow"]))
        for run in started
    ]  # fmt: skip


def _steps_and_ends(store: Store, mark: scratch.Marks, started: list) -> list[Effect]:
    """Each trace line's effect, then each run that ended (its last line, or a run that
    ended as it started, without a line)."""
    found, ended = [], {}
    for line in scratch.steps_since(store, mark):
        effect = _step_effect(store.now, line)
        if effect is not None:
            found.append(effect)
        if line["status"] in _ENDED:
            ended[line["run_id"]] = line
    for run in started:
        if run["status"] in _ENDED:
            ended.setdefault(run["id"], run)
    for run_id, run in ended.items():
        said = phrase(f"plan_run_{run['status']}", id=run_id, workflow=run["workflow"])
        found.append(Effect(store.now, "run ended", run["workflow"], None, _record(run), said,
                            {"status": run["status"]}))  # fmt: skip
    return found


def _step_effect(at: datetime, line) -> Effect | None:
    """A trace line's effect: a step that did something, an email not sent, a failure."""
    kind = ACTION_KINDS.get(line["action"] or "")
    outcome = line["outcome"]
    if outcome == "failed":
        kind = "failure"
    elif kind is None or outcome in ("waiting", "cancelled"):
        return None
    elif outcome == "skipped":
        if kind not in ("email", "notification"):
            return None  # a condition that did not hold: nothing happens
        kind = "not sent"
    values = _values(line["detail"])
    if kind == "update" and values.get("changed") == _NO_CHANGE:
        return None  # the record already had those values
    return Effect(at, kind, line["workflow"], line["step"], _record(line),
                  line["detail"] or "", values, ASSUMED.get(kind))  # fmt: skip


def _values(detail: str | None) -> dict:
    """The phrase's values a reader compares (not the scratch copy's row numbers)."""
    try:
        data = json.loads(detail or "{}")
    except ValueError:
        return {"text": detail}
    if not isinstance(data, dict):
        return {"text": detail}
    return {key: _text(value) for key, value in data.items() if key not in _UNSHOWN_VALUES}


def _text(value):
    """A value that is itself a phrase ("nobody") as its words; others as they are."""
    return say(json.dumps(value, ensure_ascii=False)) if isinstance(value, dict) else value


def _record(row) -> str | None:
    if row["deal_id"] is not None:
        return f"{row['pipeline']} #{row['deal_id']} {row['deal_title']}"
    return row["contact_email"]
