"""Whether `tick` has anything to do, asked with a few indexed queries and nothing else.

`salesflow run` starts every minute from cron and nearly always finds nothing due; these
checks let it say so without loading the engine, Jinja, mail or the full command line
(`salesflow.cli.quick`). They are conservative: anything that might be work (an unknown
file in the inbox, a message being sent) counts as due, as does a due read of the replies
mailbox (which only the full `run` connects to), and the full `run` looks closer.
The conditions for events, runs and messages are the ones the workers claim by
(salesflow.store.queues).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from salesflow.store import inbound, queues, runs, schedules
from salesflow.store.session import Store

_INBOX_KEPT = {"done", "failed"}  # what the inbox keeps once a file was taken in


def anything_due(store: Store, sending: bool = True, intake: bool = True) -> bool:
    """Whether a `run` has work; `sending=False` leaves out the outbox's emails and requests,
    for serve, which sends them from loops of its own (and ticks without sending);
    `intake=False` leaves out the inbox and the replies mailbox, which `run` takes in and
    `tick` does not."""
    checks = [queues.events_pending, queues.runs_resumable, _changed_workflows]
    if sending:
        checks.append(queues.messages_due)
    checks += [_stalled, _schedules]
    if intake:
        checks += [_inbox, inbound.poll_due]
    return any(check(store) for check in checks)


def _changed_workflows(store: Store) -> bool:
    """Waiting runs of a workflow whose file changed since they started: a wait that follows
    a date may now end sooner than the time stored (24 h → 48 h before), which only the full
    tick computes (and then marks them: this is due once per change). One indexed probe per
    workflow."""
    return any(
        runs.any_on_older_file(store, workflow.id, workflow.content_hash)
        for workflow in store.project.workflows.values()
    )


def _inbox(store: Store) -> bool:
    inbox: Path | None = store.project.inbox
    if inbox is None or not inbox.is_dir():
        return False
    for entry in inbox.iterdir():
        if entry.name == ".processing":
            if any(entry.iterdir()):  # claims of a run that may have died
                return True
        elif entry.name not in _INBOX_KEPT:
            return True
    return False


def _stalled(store: Store) -> bool:
    from salesflow.reports.stalled import stalled_rows

    return any(row["stalled_for"] != row["quiet_since"] for row in stalled_rows(store))


def _schedules(store: Store) -> bool:
    workflows = [w for w in store.project.workflows.values() if w.trigger.schedule and w.enabled]
    if not workflows:
        return False
    from salesflow.engine.schedules import latest_slot, wall_clock

    stored = schedules.last_slots(store)
    wall_now = wall_clock(store.now, store)
    for workflow in workflows:
        last = stored.get(workflow.id)  # never seen: the full run starts counting from now
        slot = latest_slot(workflow.trigger.schedule, wall_now)
        if last is None or slot > datetime.fromisoformat(last):
            return True
    return False
