"""Several workers, each item once (#27): events, due runs, schedule slots and outbox leases
as two passes see them at the same moment, on two connections to one database. On SQLite the
second pass waits for the first's write lock; on PostgreSQL it runs beside it and must skip
what the first holds. Store and engine calls, no CLI (tests/test_tick.py has the processes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import REPO, open_project, query

from salesflow.engine import tick as ticking
from salesflow.engine.process import Processor
from salesflow.engine.runs import Engine
from salesflow.engine.schedules import due
from salesflow.mail.compose import queue as queue_email
from salesflow.outbox import claims
from salesflow.outbox.claims import HOST, claim
from salesflow.store import contacts, events, outbox, runs
from salesflow.store.db import transaction
from salesflow.store.session import Store

NOW = datetime.fromisoformat("2026-12-01T12:00:00+00:00")
SCRIPT = Path(sys.executable).parent / "salesflow"
ALIVE = f"{HOST}:{os.getpid()}:alive"
NIGHTLY = """id: nightly
trigger: {schedule: "0 3 * * *"}
steps:
  - notify: {to: marie, template: revue-hebdo}
"""


pytestmark = pytest.mark.engines


@pytest.fixture
def open_store(demo: Path, backend: str) -> Callable[[], Store]:
    """A new store (its own connection) on the demo project's database, at NOW."""
    (demo / "workflows" / "nightly.yaml").write_text(NIGHTLY)
    project = open_project(demo)
    opened: list[Store] = []

    def open_one() -> Store:
        opened.append(Store.open(project, NOW))
        return opened[-1]

    open_one.project = project
    yield open_one
    for store in opened:
        store.conn.close()


def beside(open_store, work: Callable[[Store], object]) -> tuple[threading.Thread, dict]:
    """A second worker: `work` on a store of its own, in a thread of its own; its result
    lands in the dict."""
    done: dict = {}

    def run() -> None:
        store = Store.open(open_store.project, NOW)
        try:
            done["result"] = work(store)
        except BaseException as error:  # the test reads it
            done["error"] = error
        finally:
            store.conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def in_transaction(work: Callable[[Store], object]) -> Callable[[Store], object]:
    """`work` in a transaction of its own, committed at its end."""

    def run(store: Store):
        with transaction(store.conn):
            return work(store)

    return run


def finished(thread: threading.Thread, done: dict):
    """The second worker's result, once it ended (SQLite: after the first one committed)."""
    thread.join(10)
    assert not thread.is_alive()
    if "error" in done:
        raise done["error"]
    return done["result"]


def test_two_event_passes_at_once_never_share_an_event_and_keep_the_order(open_store, backend):
    """SQLite: the second pass waits for the first's write lock and takes the next events.
    PostgreSQL: one event pass at a time, so that events are handled in the order they
    happened (a cancellation meets the run its cause started): the second takes none."""
    first = open_store()
    with transaction(first.conn):
        for n in range(4):
            first.record_event("test.ping", None, None, {"n": n}, key=f"ping-{n}")
    with transaction(first.conn):
        mine = [row["id"] for row in events.pending_batch(first, 2)]
        thread, done = beside(open_store, in_transaction(lambda store: [
            row["id"] for row in events.pending_batch(store, 2)]))  # fmt: skip
        thread.join(0.5)  # PostgreSQL: it ends now, beside us; SQLite: it waits for our lock
        for event_id in mine:
            events.mark_processed(first, event_id, None)
    theirs = finished(thread, done)
    assert len(mine) == 2 and not set(mine) & set(theirs)
    assert len(theirs) == (2 if backend == "sqlite" else 0)


def test_two_passes_at_once_resume_disjoint_runs(open_store):
    first = open_store()
    with transaction(first.conn):
        for _ in range(4):
            run_id = runs.start(first, "nightly", "h", None, ["0"])["id"]
            runs.save(first, run_id, "waiting", cursor=["0"], reason=None, contact_id=None,
                      deal_id=None, wake=NOW - timedelta(minutes=1))  # fmt: skip
    with transaction(first.conn):
        mine = runs.resumable(first, 2)
        thread, done = beside(open_store, in_transaction(lambda store: runs.resumable(store, 2)))
        thread.join(0.5)
        for run_id in mine:
            runs.mark_resumed(first, run_id)
    theirs = finished(thread, done)
    assert len(mine) == len(theirs) == 2
    assert not set(mine) & set(theirs)


def test_a_run_another_pass_is_finishing_is_not_cancelled_as_if_still_waiting(open_store):
    """An event cancelling a contact's runs while another pass resumes one of them: it waits
    for that pass, then finds the run done, not active."""
    first = open_store()
    with transaction(first.conn):
        julie, _, _ = contacts.upsert(first, "julie@example.org", {})
        run_id = runs.start(first, "nightly", "h", "contact", ["0"], contact_id=julie["id"])["id"]
        runs.save(first, run_id, "waiting", cursor=["0"], reason=None, contact_id=julie["id"],
                  deal_id=None, wake=NOW - timedelta(minutes=1))  # fmt: skip
    with transaction(first.conn):
        assert runs.resumable(first, 10) == [run_id]
        thread, done = beside(open_store, in_transaction(lambda store: runs.active_of(
            store, "nightly", julie["id"], None)))  # fmt: skip
        thread.join(0.5)  # PostgreSQL: it waits for the run we hold
        runs.save(first, run_id, "done", cursor=None, reason=None, contact_id=julie["id"],
                  deal_id=None)  # fmt: skip
    assert finished(thread, done) == []


def test_a_slot_seen_due_by_two_passes_fires_once(open_store, monkeypatch):
    first, second = open_store(), open_store()
    with transaction(first.conn):
        assert due(first) == []  # the schedule is seen for the first time: counted from now
    for store in (first, second):
        store.now = NOW + timedelta(days=1)
    with transaction(second.conn):
        seen = due(second)  # the second pass sees 03:00 due before the first fires it
    assert [slot.workflow.id for slot in seen] == ["nightly"]
    engine = Engine(first, None)
    assert ticking.fire_schedules(first, engine) == 1
    monkeypatch.setattr(ticking, "due", lambda store: seen)
    assert ticking.fire_schedules(second, Engine(second, None)) == 0
    assert [run["workflow"] for run in runs.listing(first)] == ["nightly"]


def test_a_host_whose_clock_runs_ahead_does_not_take_a_live_lease(open_store, monkeypatch):
    """Leases are on the database's clock: neither this process's clock nor --now moves
    them."""
    first = open_store()
    with transaction(first.conn):
        queue_email(first, None, None, (None, "a@x.example"), "Hi", "Hello\n", None)
    assert len(claim(first, ALIVE, 10)) == 1

    class AheadClock(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + timedelta(days=1)

    monkeypatch.setattr(claims, "datetime", AheadClock, raising=False)
    other = open_store()
    other.now = NOW + timedelta(days=365)  # business time a year on
    assert claim(other, "elsewhere:1:x", 10) == []
    other.now = NOW - timedelta(days=365)  # or a year back: the lease is not extended either
    monkeypatch.setattr(claims, "CLAIM", timedelta(seconds=-1))
    outbox.renew(first, ALIVE, claims.lease())  # the lease runs out, on the database's clock
    assert [row["claimed_by"] for row in claim(other, "elsewhere:1:x", 10)] == ["elsewhere:1:x"]


def test_two_workers_taking_in_one_new_email_at_once_both_succeed(open_store):
    first = open_store()
    with transaction(first.conn):
        contacts.upsert(first, "julie@example.org", {"first_name": "Julie"}, ["essai"])
        thread, done = beside(open_store, in_transaction(lambda store: contacts.upsert(
            store, "julie@example.org", {"phone": "0612345678"})))  # fmt: skip
        thread.join(0.5)  # PostgreSQL: its insert waits for our transaction to end
    contact, created, changed = finished(thread, done)
    assert not created and changed == ["phone"]
    assert (contact["first_name"], contact["phone"]) == ("Julie", "0612345678")
    assert [row["type"] for row in events.listing(first)] == ["contact.updated", "contact.created"]


def test_two_workers_enrolling_one_contact_at_once_enrol_it_once(open_store):
    first = open_store()
    with transaction(first.conn):
        julie, _, _ = contacts.upsert(first, "julie@example.org", {})
    with transaction(first.conn):
        assert runs.enrolled(first, "nightly", "contact", julie["id"], active_only=False) is None
        run_id = runs.start(first, "nightly", "h", "contact", ["0"], contact_id=julie["id"])["id"]
        thread, done = beside(open_store, in_transaction(lambda store: runs.enrolled(
            store, "nightly", "contact", julie["id"], active_only=False)))  # fmt: skip
        thread.join(0.5)  # PostgreSQL: it waits for our enrolment to commit, then sees it
    assert finished(thread, done) == run_id


def test_a_pass_processes_the_events_another_pass_left(open_store):
    """Two `process` at once: every event handled once, by one or the other."""
    first = open_store()
    with transaction(first.conn):
        for n in range(6):
            first.record_event("test.ping", None, None, {"n": n}, key=f"ping-{n}")
    thread, done = beside(open_store, lambda store: Processor(store).run().events)
    handled = Processor(first).run().events
    assert handled + finished(thread, done) == 6
    assert [row["note"] for row in events.listing(first, "pending")] == []


def test_a_slot_fires_once_when_two_ticks_run_at_the_same_moment(open_store, demo):
    open_store()  # the database, migrated
    command = [SCRIPT, "--project", demo, "--now", "2026-12-01T02:00", "tick"]
    subprocess.run(command, check=True, capture_output=True)  # the schedule is seen: from now on
    command[4] = "2026-12-01T03:00"
    ticks = [subprocess.Popen(command, stdout=subprocess.PIPE) for _ in range(2)]
    summaries = [tick.communicate(timeout=30)[0].decode().splitlines()[-1] for tick in ticks]
    fired = [summary.split(",")[0] for summary in summaries]
    # the other tick saw the slot due and lost the race ("0 schedules fired"), or came after
    assert fired.count("1 schedule fired") == 1
    assert {*fired} - {"1 schedule fired"} <= {"0 schedules fired", "nothing was due"}
    assert query(demo, "SELECT workflow, slot FROM schedule_fires") == [
        ("nightly", "2026-12-01T03:00:00")]  # fmt: skip


def test_a_submission_costs_three_statements_to_take_in_and_no_more_in_all_than_measured(
    open_store, demo, monkeypatch, backend
):
    """On PostgreSQL each statement is a round trip: bench/statements.py prints what one
    submission costs by phase (alone: SQLite 3 + 60 + 8, PostgreSQL 3 + 64 + 8 with its
    event pass's lock a batch; events no workflow concerns are marked together, no savepoint
    each; 77 and 78 before); this keeps the figures from growing unnoticed."""
    open_store()  # the database, migrated
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    from statements import count

    cost = count(demo, 1, os.environ.get("SALESFLOW_DB")).per_submission()
    assert cost["taken in"] == 3  # BEGIN, the event, COMMIT: what a POST waits for
    assert cost["total"] <= {"sqlite": 71, "postgresql": 75}[backend]
