"""Cron schedules, in the project's time zone, each slot fired at most once.

Slots are computed on the wall clock (naive local times) and only then placed in the zone:
a 02:30 slot fires once on the night the clocks go forward (02:30 does not exist: it fires at
what the clock then reads) and once on the night they go back (02:30 happens twice: the
second one is not a new slot, because the last fired slot is stored).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

from salesflow.config.model import Workflow
from salesflow.store import schedules
from salesflow.store.session import Store

LATE = timedelta(minutes=10)  # with catch_up: none, a slot later than this is skipped


@dataclass
class Due:
    workflow: Workflow
    slot: datetime  # naive local wall-clock time
    missed: int  # slots between the last fired one and this one
    skip: bool  # catch_up: none and too late


def wall_clock(moment: datetime, store: Store) -> datetime:
    return moment.astimezone(store.project.timezone).replace(tzinfo=None)


def latest_slot(expression: str, wall_now: datetime) -> datetime:
    """The most recent slot at or before `wall_now`."""
    return croniter(expression, wall_now + timedelta(seconds=1)).get_prev(datetime)


def next_slot(expression: str, wall_now: datetime) -> datetime:
    return croniter(expression, wall_now).get_next(datetime)


def localize(wall: datetime, store: Store) -> datetime:
    """A wall-clock slot as an instant: a time in the spring-forward gap reads as the clock
    then does (02:30 → 03:30), an ambiguous one as its first occurrence."""
    zone = store.project.timezone
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC).astimezone(zone)


def due(store: Store) -> list[Due]:
    """Scheduled workflows with a slot to fire; a schedule seen for the first time starts
    counting from now (it does not fire for the past)."""
    wall_now = wall_clock(store.now, store)
    stored = schedules.last_slots(store)
    found = []
    for workflow in store.project.workflows.values():
        expression = workflow.trigger.schedule
        if not expression or not workflow.enabled:
            continue
        slot = latest_slot(expression, wall_now)
        last = stored.get(workflow.id)
        if last is None:
            schedules.remember(store, workflow.id, slot, fired=False)
            continue
        last_slot = datetime.fromisoformat(last)
        if slot <= last_slot:
            continue
        missed = _count_between(expression, last_slot, slot)
        late = store.now - localize(slot, store) > LATE
        found.append(Due(workflow, slot, missed, workflow.trigger.catch_up == "none" and late))
    return found


def _count_between(expression: str, after: datetime, until: datetime, cap: int = 1000) -> int:
    """How many slots come after `after` and before `until` (both excluded), capped."""
    iterator = croniter(expression, after)
    count = 0
    while count < cap and iterator.get_next(datetime) < until:
        count += 1
    return count


def listing(store: Store) -> list[dict]:
    """Each scheduled workflow with its next slot and the last one fired, both as instants
    in the project's zone (ISO with offset)."""
    wall_now = store.now.replace(tzinfo=None)
    last = schedules.last_slots(store)
    rows = []
    for workflow in store.project.workflows.values():
        expression = workflow.trigger.schedule
        if not expression:
            continue
        upcoming = localize(next_slot(expression, wall_now), store)
        fired = last.get(workflow.id)
        rows.append({
            "workflow": workflow.id, "schedule": expression, "enabled": workflow.enabled,
            "next": upcoming.isoformat() if workflow.enabled else None,
            "last_slot": localize(datetime.fromisoformat(fired), store).isoformat() if fired
            else None,
            "catch_up": workflow.trigger.catch_up,
        })  # fmt: skip
    return rows
