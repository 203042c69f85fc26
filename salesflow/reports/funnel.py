"""The funnel: how many deals reached each stage, how many went on, and how long they stayed.

Rule for skipped stages: stages are ordered, so a deal that reached a stage is counted as
having reached every stage before it (a deal moved straight from `nouveau` to `inscrit` went
through the whole funnel). Lost stages are not steps of the funnel, nor stages removed from
the YAML: a deal still in one counts in the steps it reached before, and a warning says so,
as on the board. A stay's length runs from entering a stage to the next move; the stay a deal
is still in does not count in the median.

Both come from the stage history through what each move keeps (see migration 3): the deal's
set of stages entered, and each history row's length of the stay it ended.

The wait on a stage's required checklist items (only stages that have some; the others show
nothing, not 0): the median hours from a deal's first entry into the stage to its last
required tick (the tick that first left them all ticked; an untick later does not undo the
wait) — counting the deals still in the stage without them, from entry to now, so that a
stage whose items are never ticked stands out instead of looking fast (its slowest deals
would otherwise be left out); `items_measured` deals measured, `items_waiting` of them
still waiting. A deal that left without the items (forced, moved back, lost) is not
counted: it no longer waits on them.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import itertools
import statistics
from collections.abc import Callable
from datetime import date, datetime

from salesflow.config.model import Stage
from salesflow.reports import Column, Report
from salesflow.store.deals import pipeline as find_pipeline
from salesflow.store.migrations import STAY_BUCKET
from salesflow.store.reports import (
    deals_matching,
    median_stay_seconds,
    stage_bits,
    wait_buckets,
    waits_done,
    waits_in_bucket,
    waits_still,
)
from salesflow.store.session import Store
from salesflow.store.stages import stray_warnings
from salesflow.translations import N_
from salesflow.values import stored_instant

COLUMNS = [
    Column("name", "stage"),
    Column("reached", "reached", "int"),
    Column("to_next", "→ next", "percent"),
    Column("drop_off", "drop-off", "percent"),
    Column("from_first", "from first", "percent"),
    Column("median_days", "median days", "days"),
    Column("items_median_hours", "required items (h)", "hours"),
    Column("items_measured", "measured, waiting included", "int"),
    Column("items_waiting", "still waiting", "int"),
]


SKIPPED = {  # the funnel's rule, said of what moves through the pipeline
    "deal": N_("a deal that skipped stages counts as having reached the stages it skipped"),
    "ticket": N_("a ticket that skipped stages counts as having reached the stages it skipped"),
}


def funnel(store: Store, pipeline_id: str | None = None, since: date | None = None) -> Report:
    of = find_pipeline(store, pipeline_id, None if pipeline_id else "deal")
    steps = [stage for stage in of.stages if stage.outcome != "lost"]
    since_text = stored_instant(_midnight(store, since)) if since else ""
    reached, moved_later = _reached(store, of.id, [s.id for s in steps], since_text)
    rows = []
    for index, stage in enumerate(steps):
        following = reached[index + 1] if index + 1 < len(steps) else None
        stay = median_stay_seconds(store, of.id, stage.id, since_text, moved_later > 0)
        median = stay / 86400 if stay is not None else None
        rows.append(
            {
                "stage": stage.id,
                "name": stage.name,
                "reached": reached[index],
                "to_next": _ratio(following, reached[index]),
                "drop_off": _drop_off(_ratio(following, reached[index])),
                "from_first": _ratio(reached[index], reached[0]),
                "median_days": round(median, 1) if median is not None else None,
                **_items_wait(store, of.id, stage, since_text),
            }
        )
    notes = [SKIPPED[of.object]]
    notes += stray_warnings(store.conn, store.project, of.id)  # no step of the funnel: said
    return Report(f"Funnel — {of.name}", COLUMNS, rows, notes=notes)


def _items_wait(store: Store, pipeline_id: str, stage: Stage, since: str) -> dict:
    """The wait on the stage's required checklist items (see the module's docstring)."""
    if not stage.required_items or stage.outcome:
        return {"items_median_hours": None, "items_measured": None, "items_waiting": None}
    waiting = sorted(waits_still(store, pipeline_id, stage.id, stage.required_items, since))
    measured = None
    if not since:
        buckets = wait_buckets(store, pipeline_id, stage.id)
        measured = sum(count for _, count in buckets) + len(waiting)
        try:
            median = _median(store, pipeline_id, stage.id, buckets, waiting) if measured else None
        except LookupError:  # ticks written or deleted between two reads: read them all
            measured = None
    if measured is None:  # with `since`, the waits of newer deals only: every one read
        done = waits_done(store, pipeline_id, stage.id, since)
        measured = len(done) + len(waiting)
        median = statistics.median(done + waiting) if measured else None
    return {
        "items_median_hours": round(median, 1) if median is not None else None,
        "items_measured": measured,
        "items_waiting": len(waiting),
    }


def _median(
    store: Store, pipeline_id: str, stage_id: str, buckets: list[tuple[int, int]],
    waiting: list[float],
) -> float:  # fmt: skip
    """The median of the ticked waits (counted by bucket) and the `waiting` hours (sorted)
    together, reading the ticked waits of the bucket(s) holding the middle only (once)."""
    count = sum(n for _, n in buckets) + len(waiting)
    read = functools.cache(functools.partial(waits_in_bucket, store, pipeline_id, stage_id))
    middle = [_nth(buckets, waiting, rank, read) for rank in sorted({(count - 1) // 2, count // 2})]
    return statistics.mean(middle) if len(middle) == 2 else middle[0]


def _nth(
    buckets: list[tuple[int, int]], waiting: list[float], rank: int,
    read: Callable[[int], list[float]],
) -> float:  # fmt: skip
    """The wait of `rank` (from 0) among the ticked waits and the `waiting` hours, in order:
    the bucket where the count of both reaches it, then the waits there (`read`). A
    LookupError when the buckets count more ticks than are read (written or deleted
    between the reads)."""
    before = 0  # ticked waits in the buckets before
    for bucket, count in buckets:
        below = bisect.bisect_left(waiting, bucket * STAY_BUCKET / 3600)  # waiting before it
        if before + below > rank:  # a wait still going on, between two buckets
            break
        end = bisect.bisect_left(waiting, (bucket + 1) * STAY_BUCKET / 3600)
        if before + count + end > rank:
            here = heapq.merge(read(bucket), waiting[below:end])
            found = next(itertools.islice(here, rank - before - below, None), None)
            if found is None:
                raise LookupError("the bucket holds fewer waits than its count")
            return found
        before += count
    return waiting[rank - before]  # a wait still going on, before a bucket or past the last


def _reached(store: Store, pipeline_id: str, steps: list[str], since: str) -> tuple[list[int], int]:
    """Per step, the deals whose set of stages entered by now holds that step or a later
    one; and how many of the deals moved after now."""
    bits = stage_bits(store, pipeline_id)
    masks = [sum(1 << bits[s] for s in steps[index:] if s in bits) for index in range(len(steps))]
    return deals_matching(store, pipeline_id, masks, since)


def _ratio(part: int | None, whole: int) -> float | None:
    if part is None or not whole:
        return None
    return round(part / whole, 4)


def _drop_off(to_next: float | None) -> float | None:
    """The share of those who reached a stage and did not reach the next one."""
    return None if to_next is None else round(1 - to_next, 4)


def _midnight(store: Store, day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=store.project.timezone)
