"""The plan's parts: two plans compared effect by effect, when the clock goes next (a wake-up,
a schedule's slot in the project's zone across a change of time, the second a deal goes
stale), and how the same step for the same record is counted."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import open_project

from salesflow.engine.plan import Effect, Plan, next_moment, plan
from salesflow.engine.plan_diff import Change, compare
from salesflow.reports.stalled import stalled_rows
from salesflow.store.plan import next_quiet_end
from salesflow.store.session import Store

PARIS = ZoneInfo("Europe/Paris")
JULIE = "cours-essai #1 Julie Martin"


def moment(text: str) -> datetime:
    """A time as the demo's clock reads it (Paris), or with its own offset."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=PARIS)


def effect(when: str, kind: str = "email", step: str | None = "rappel", record=JULIE,
           occurrence: int = 1, **values) -> Effect:  # fmt: skip
    return Effect(moment(when), kind, "essai-formulaire", step, record, "", values,
                  occurrence=occurrence)  # fmt: skip


def plans(before: list[Effect], after: list[Effect]) -> list[Change]:
    start, until = moment("2026-11-22T10:00"), moment("2026-12-06T10:00")
    return compare(Plan(start, until, before), Plan(start, until, after))


# -- compare


REMINDER = {"to": "julie.martin@example.org", "subject": "Rappel : votre cours d'essai"}


def test_a_step_that_moves_in_time_is_one_change_of_its_time():
    old = effect("2026-12-04T18:30", **REMINDER)
    new = effect("2026-12-03T18:30", **REMINDER)
    assert plans([old], [new]) == [Change("changed", new, old, ("at",))]


def test_a_new_subject_is_a_change_of_that_value():
    old = effect("2026-12-04T18:30", **REMINDER)
    new = effect("2026-12-04T18:30", **{**REMINDER, "subject": "À demain !"})
    assert plans([old], [new]) == [Change("changed", new, old, ("subject",))]


def test_a_step_no_longer_done_is_removed_and_a_new_run_is_added():
    kept = effect("2026-11-23T08:00", "notification", "revue", None, who="marie",
                  subject="Revue")  # fmt: skip
    gone = effect("2026-12-04T18:30", **REMINDER)
    started = effect("2026-11-24T18:00", "run started", None, "cours-essai #3 Œdipe Lefèvre")
    task = effect("2026-11-24T18:00", "task", "appeler", "cours-essai #3 Œdipe Lefèvre",
                  title="Rappeler Œdipe")  # fmt: skip
    assert plans([kept, gone], [kept, started, task]) == [
        Change("added", started), Change("added", task), Change("removed", gone),
    ]  # fmt: skip


def test_a_run_that_starts_or_ends_at_another_time_is_no_change_but_ending_otherwise_is():
    old = [effect("2026-11-22T10:00", "run started", None),
           effect("2026-12-04T18:30", "run ended", None, status="done")]  # fmt: skip
    moved = [effect("2026-11-22T10:05", "run started", None),
             effect("2026-12-03T18:30", "run ended", None, status="done")]  # fmt: skip
    assert plans(old, moved) == []
    failed = effect("2026-12-04T18:30", "run ended", None, status="failed")
    assert plans(old, [old[0], failed]) == [Change("changed", failed, old[1], ("status",))]


def test_occurrences_are_matched_one_by_one():
    first = effect("2026-11-23T08:00", "notification", "revue", None, subject="Revue")
    second = effect("2026-11-30T08:00", "notification", "revue", None, occurrence=2,
                    subject="Revue")  # fmt: skip
    assert plans([first, second], [first]) == [Change("removed", second)]
    later = effect("2026-11-30T09:00", "notification", "revue", None, occurrence=2,
                   subject="Revue")  # fmt: skip
    assert plans([first, second], [first, later]) == [Change("changed", later, second, ("at",))]


def test_the_same_plan_has_no_change():
    effects = [effect("2026-12-04T18:30", **REMINDER), effect("2026-12-04T18:30", "run ended",
                                                                None, status="done")]  # fmt: skip
    assert plans(effects, list(effects)) == []


# -- when the clock goes next


def store_at(project: Path, now: str) -> Store:
    return Store.open(open_project(project), moment(now))


@pytest.fixture
def store(sf):
    """A store on the demo's database, opened by `open(now)`, closed after the test."""
    opened: list[Store] = []

    def open_at(now: str) -> Store:
        opened.append(store_at(sf.project, now))
        return opened[-1]

    yield open_at
    for each in opened:
        each.conn.close()


def daily(project: Path, cron: str) -> None:
    (project / "workflows" / "quotidien.yaml").write_text(
        f'id: quotidien\ntrigger: {{schedule: "{cron}"}}\n'
        "steps:\n  - id: revue\n    notify: {to: marie, template: revue-hebdo}\n"
    )


def test_the_next_moment_is_the_next_wake_up(sf, store):
    form = sf.project / "examples" / "forms" / "julie.json"
    sf("ingest", form, "--form", "cours-essai", now="2026-11-22T10:00")
    sf("tick", now="2026-11-22T10:00")  # Julie waits until 24 h before her lesson
    assert next_moment(store("2026-12-01T09:00")) == moment("2026-12-04T18:30")
    assert next_moment(store("2026-12-04T18:30")) == moment("2026-12-06T10:00:01")  # her stall
    assert next_moment(store("2026-11-22T10:00")) == moment("2026-11-23T08:00")  # Monday's digest


@pytest.mark.parametrize(
    ("cron", "now", "expected"),
    [
        # 29 March 2026 in Paris: 02:00 CET → 03:00 CEST
        ("0 8 * * *", "2026-03-28T09:00", "2026-03-29T08:00:00+02:00"),
        ("30 2 * * *", "2026-03-28T12:00", "2026-03-29T03:30:00+02:00"),  # as the clock reads
        # 25 October 2026: 03:00 CEST → 02:00 CET, 02:30 happens twice and fires at the first
        ("30 2 * * *", "2026-10-24T12:00", "2026-10-25T02:30:00+02:00"),
        ("30 2 * * *", "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"),
        ("30 2 * * *", "2026-10-25T02:10:00+01:00", "2026-10-26T02:30:00+01:00"),
        ("0 8 * * *", "2026-10-24T09:00", "2026-10-25T08:00:00+01:00"),
    ],
)
def test_a_schedules_next_slot_is_read_in_the_projects_zone(sf, store, cron, now, expected):
    daily(sf.project, cron)
    assert next_moment(store(now)).isoformat() == expected


def test_a_plan_over_the_night_the_clocks_go_back_fires_once_a_night(sf):
    daily(sf.project, "30 2 * * *")
    sf("tick", now="2026-10-24T12:00")
    project = open_project(sf.project)
    result = plan(project, moment("2026-10-24T12:00"), moment("2026-10-26T12:00"))
    assert [(e.at.isoformat(), e.occurrence) for e in result.effects
            if e.workflow == "quotidien" and e.kind == "notification"] == [
        ("2026-10-25T02:30:00+02:00", 1), ("2026-10-26T02:30:00+01:00", 2),
    ]  # fmt: skip


def imported(sf) -> None:
    """Julie, Inès and Œdipe in `nouveau` (rot_after 3d) since 21 November 18:00."""
    sf("import", sf.project / "examples" / "prospects.csv", "--pipeline", "cours-essai",
       "--stage", "nouveau", now="2026-11-21T18:00")  # fmt: skip


def stalled_at(store: Store, now: str) -> set[int]:
    store.now = moment(now)
    return {row["id"] for row in stalled_rows(store)}


ROT = timedelta(days=3)


def test_a_stall_is_due_the_second_stalled_rows_says_stalled(sf, store):
    imported(sf)
    opened = store("2026-11-22T10:00")
    assert next_quiet_end(opened, "cours-essai", "nouveau", ROT) == moment("2026-11-24T18:00:01")
    assert stalled_at(opened, "2026-11-24T18:00:00") == set()
    assert stalled_at(opened, "2026-11-24T18:00:01") == {1, 2, 3}
    assert next_moment(store("2026-11-23T09:00")) == moment("2026-11-24T18:00:01")


def test_an_open_task_puts_the_stall_off_to_its_due_time(sf, store):
    imported(sf)
    sf("tasks", "add", "Appeler Julie", "--deal", "1", "--due", "2026-11-26T12:00",
       now="2026-11-22T10:00")  # fmt: skip
    opened = store("2026-11-24T18:00:01")
    assert stalled_at(opened, "2026-11-24T18:00:01") == {2, 3}
    opened.now = moment("2026-11-24T18:00:01")
    assert next_quiet_end(opened, "cours-essai", "nouveau", ROT) == moment("2026-11-26T12:00")
    assert stalled_at(opened, "2026-11-26T11:59:59") == {2, 3}
    assert stalled_at(opened, "2026-11-26T12:00:00") == {1, 2, 3}


def test_a_task_done_starts_the_quiet_spell_again(sf, store):
    imported(sf)
    task = sf("tasks", "add", "Appeler Inès", "--deal", "2", "--due", "1d", "--json",
                now="2026-11-22T10:00")  # fmt: skip
    sf("tasks", "done", str(task["id"]), now="2026-11-25T10:00")
    opened = store("2026-11-25T10:00")
    assert next_quiet_end(opened, "cours-essai", "nouveau", ROT) == moment("2026-11-28T10:00:01")
    assert stalled_at(opened, "2026-11-28T10:00:00") == {1, 3}
    assert stalled_at(opened, "2026-11-28T10:00:01") == {1, 2, 3}


# -- occurrences


ON_EACH_STALL = """\
id: alerte
trigger: {event: deal.stalled, match: {pipeline: cours-essai}}
reenroll: true
steps:
  - id: prevenir
    notify: {to: marie, template: revue-hebdo}
  - id: avancer
    move_deal: {stage: essai-planifie}
"""


def test_the_same_step_for_the_same_record_twice_is_occurrence_1_then_2(sf):
    """Œdipe stalls in `nouveau` after 3 days, is moved on and stalls in `essai-planifie`
    two weeks later: the same workflow warns Marie twice about the same deal."""
    (sf.project / "workflows" / "alerte.yaml").write_text(ON_EACH_STALL.replace(
        "{stage: essai-planifie}", "{stage: essai-planifie, force: true}"))  # fmt: skip
    imported(sf)
    result = plan(open_project(sf.project), moment("2026-11-22T10:00"),
                  moment("2026-12-12T10:00"))  # fmt: skip
    oedipe = "cours-essai #3 Œdipe Lefèvre"
    warned = [(e.at, e.occurrence) for e in result.effects
              if e.step == "prevenir" and e.record == oedipe]  # fmt: skip
    assert warned == [(moment("2026-11-24T18:00:01"), 1), (moment("2026-12-08T18:00:02"), 2)]
    assert len({e.identity for e in result.effects}) == len(result.effects)
