"""A run waiting until a date follows its workflow's file when the file changes (the reminder
24 h before the lesson becomes 48 h: it wakes a day earlier), in the real engine — at the
next tick, and at the next `salesflow run` even when nothing else is due."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import open_project, query
from test_plan_units import moment

from salesflow.engine.context import Renderer, environment
from salesflow.engine.runs import Engine
from salesflow.engine.tick import follow_changed_workflows
from salesflow.phrases import say
from salesflow.store.session import Store

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL

WORKFLOW = "workflows/essai-formulaire.yaml"
SCRIPT = Path(sys.executable).parent / "salesflow"


def julie_waiting(sf) -> None:
    """Julie's form of 22 November: her reminder waits until 4 December 18:30, 24 h before
    her lesson."""
    sf("ingest", sf.project / "examples/forms/julie.json", "--form", "cours-essai",
       now="2026-11-22T10:00")  # fmt: skip
    sf("tick", now="2026-11-22T10:00")
    assert wake_at(sf) == "2026-12-04T18:30:00+01:00"


def edit(sf, old: str, new: str) -> None:
    path = sf.project / WORKFLOW
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def wake_at(sf, now: str = "2026-11-22T11:00") -> str:
    return sf("runs", "show", "1", "--json", now=now)["wake_at"]


def trace(sf) -> list[str]:
    rows = query(sf.project, "SELECT detail FROM run_steps WHERE run_id = 1 ORDER BY id")
    return [say(detail) for (detail,) in rows]


def reminders(sf) -> list[tuple]:
    return query(sf.project, "SELECT created_at, subject FROM outbox WHERE subject LIKE 'Rappel%'")


def test_a_reminder_two_days_before_wakes_a_day_earlier_from_the_next_tick(sf):
    julie_waiting(sf)
    edit(sf, "before: 24h", "before: 48h")
    result = sf("tick", now="2026-11-22T11:00")
    assert "0 runs resumed (1 wait moved: workflow changed)" in result.output
    assert wake_at(sf) == "2026-12-03T18:30:00+01:00"
    assert trace(sf)[-1] == "the workflow changed: now waiting until 2026-12-03 18:30"
    sf("tick", now="2026-12-03T18:30")
    assert reminders(sf) == [
        ("2026-12-03T17:30:00Z", "Rappel : votre cours d'essai samedi à 18:30")
    ]


def test_a_changed_file_is_followed_once(sf):
    julie_waiting(sf)
    edit(sf, "before: 24h", "before: 48h")
    sf("tick", now="2026-11-22T11:00")
    lines = trace(sf)
    assert sf("tick", now="2026-11-22T11:05").output.strip() == "nothing was due"
    assert trace(sf) == lines


def test_a_change_that_keeps_the_wake_up_adds_no_line(sf):
    julie_waiting(sf)
    lines = trace(sf)
    edit(sf, "name: Formulaire", "name: Le formulaire")
    assert sf("tick", now="2026-11-22T11:00").output.strip() == "nothing was due"
    assert (wake_at(sf), trace(sf)) == ("2026-12-04T18:30:00+01:00", lines)


def test_a_run_whose_wait_step_was_removed_is_left_as_it_is(sf):
    julie_waiting(sf)
    lines = trace(sf)
    edit(sf, "  - id: attendre\n    wait_until: {at: \"{{ contact.date_essai }}\", before: 24h,"
             " if_past: skip}   # follows date_essai\n", "")  # fmt: skip
    sf("tick", now="2026-11-22T11:00")
    assert (wake_at(sf), trace(sf)) == ("2026-12-04T18:30:00+01:00", lines)
    sf("tick", now="2026-12-04T18:30")  # it wakes when it was to, and goes on to the reminder
    assert [subject for _, subject in reminders(sf)] == [
        "Rappel : votre cours d'essai samedi à 18:30"
    ]


def test_run_finds_a_changed_file_due_even_when_nothing_else_is(sf):
    """cron's `salesflow run` answers "nothing due" without loading the engine; a wait that
    a changed file makes end sooner is something due (the full run recomputes it)."""
    julie_waiting(sf)
    quick = [str(SCRIPT), "--project", str(sf.project), "--now", "2026-11-22T11:00", "run"]
    subprocess.run(quick, check=True, capture_output=True)
    assert wake_at(sf) == "2026-12-04T18:30:00+01:00"
    edit(sf, "before: 24h", "before: 48h")
    subprocess.run(quick, check=True, capture_output=True)
    assert wake_at(sf) == "2026-12-03T18:30:00+01:00"


def test_an_unchanged_file_costs_one_indexed_probe_per_workflow(sf, backend):
    """Each tick asks it of every workflow: one statement each, no transaction, read off the
    index (migration 22) — not every waiting run of the workflow, as `<>` would."""
    julie_waiting(sf)
    project = open_project(sf.project)
    store = Store.open(project, moment("2026-11-22T11:00"))
    said: list[str] = []
    try:
        if backend == "sqlite":
            store.conn.set_trace_callback(said.append)
        engine = Engine(store, Renderer(environment(project)))
        assert follow_changed_workflows(store, engine) == 0
        if backend == "sqlite":
            store.conn.set_trace_callback(None)
            assert len(said) == len(project.workflows)
            plans = [
                row[-1] for sql in said for row in store.conn.execute(f"EXPLAIN QUERY PLAN {sql}")
            ]
            index = "SEARCH runs USING COVERING INDEX idx_runs_workflow_status_workflow_hash"
            ranges = [
                f"{index} (workflow=? AND status=? AND workflow_hash{side}?)" for side in "<>"
            ]
            assert [plan for plan in plans if " runs " in plan] == ranges * len(said)
    finally:
        store.conn.close()
