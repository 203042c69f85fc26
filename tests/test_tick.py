"""`salesflow tick` and `salesflow run`: schedules across DST, downtime, stalled deals,
overlapping cron runs and SIGKILL — time moved only with --now."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import query

from salesflow.phrases import say

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL

SCRIPT = Path(sys.executable).parent / "salesflow"


def schedule_workflow(project: Path, cron: str, catch_up: str = "last") -> None:
    (project / "workflows" / "nightly.yaml").write_text(
        f'id: nightly\ntrigger: {{schedule: "{cron}", catch_up: {catch_up}}}\n'
        "steps:\n  - notify: {to: marie, template: revue-hebdo}\n"
    )


def fired(project: Path) -> list[str]:
    rows = query(project, "SELECT detail FROM run_steps WHERE outcome = 'fired' ORDER BY id")
    return [say(row[0]) for row in rows]


def tick_every(sf, start: str, end: str, minutes: int) -> None:
    """Tick as cron would, every `minutes`, from `start` to `end` (UTC instants)."""
    from datetime import datetime, timedelta

    moment, stop = datetime.fromisoformat(start), datetime.fromisoformat(end)
    while moment <= stop:
        sf("tick", now=moment.isoformat())
        moment += timedelta(minutes=minutes)


def test_a_0230_schedule_fires_once_when_clocks_go_forward(sf):
    schedule_workflow(sf.project, "30 2 * * *")
    # 2026-03-29 in Paris: 02:00 CET → 03:00 CEST; 02:30 does not exist that night.
    tick_every(sf, "2026-03-28T23:00+00:00", "2026-03-29T03:00+00:00", 15)
    assert fired(sf.project) == ["slot 2026-03-29 03:30"]  # what the clock read then


def test_a_0230_schedule_fires_once_when_clocks_go_back(sf):
    schedule_workflow(sf.project, "30 2 * * *")
    # 2026-10-25 in Paris: 03:00 CEST → 02:00 CET; 02:30 happens twice.
    tick_every(sf, "2026-10-24T22:00+00:00", "2026-10-25T03:00+00:00", 15)
    assert fired(sf.project) == ["slot 2026-10-25 02:30"]


def test_after_downtime_the_latest_missed_slot_fires_once(sf):
    schedule_workflow(sf.project, "0 * * * *")
    sf("tick", now="2026-11-20T09:30")
    sf("tick", now="2026-11-20T15:10")  # five hourly slots missed while the machine was off
    assert fired(sf.project) == ["slot 2026-11-20 15:00; 5 earlier slot(s) missed, fired once"]
    sf("tick", now="2026-11-20T15:11")
    assert len(fired(sf.project)) == 1


def test_catch_up_none_skips_a_late_slot_and_says_so(sf):
    schedule_workflow(sf.project, "0 8 * * *", catch_up="none")
    sf("tick", now="2026-11-20T07:00")
    sf("tick", now="2026-11-20T11:00")
    assert fired(sf.project) == []
    skipped = query(sf.project, "SELECT detail FROM run_steps WHERE outcome = 'skipped'")
    assert [say(detail) for (detail,) in skipped] == [
        "slot 2026-11-20 08:00 missed while salesflow was not running (catch_up: none)"
    ]
    sf("tick", now="2026-11-21T08:01")
    assert fired(sf.project) == ["slot 2026-11-21 08:00"]


def test_stalled_deals_flagged_once_and_listed_in_the_monday_digest(sf):
    sf("contacts", "add", "julie@example.org", "--first-name", "Julie", now="2026-11-20T10:00")
    sf("deals", "add", "--title", "Essai Julie", "--contact", "julie@example.org",
       "--stage", "nouveau", "--owner", "paul", now="2026-11-20T10:00")  # fmt: skip
    sf("tick", now="2026-11-20T10:00")  # the weekly schedule starts counting here
    sf("tick", now="2026-11-23T09:00")  # 3 days in `nouveau` is not yet more than 3 days
    assert query(sf.project, "SELECT count(*) FROM events WHERE type = 'deal.stalled'") == [(0,)]
    sf("tick", now="2026-11-23T10:01")
    sf("tick", now="2026-11-24T10:01")
    assert query(sf.project, "SELECT count(*) FROM events WHERE type = 'deal.stalled'") == [(1,)]
    sf("tick", now="2026-11-30T08:00")
    digest = query(sf.project, "SELECT to_addr, subject, text FROM outbox ORDER BY id")[-2:]
    assert [row[:2] for row in digest] == [
        ("marie@club.example", "Revue du lundi : 1 prospect(s) à relancer"),
        ("paul@club.example", "Revue du lundi : 1 prospect(s) à relancer"),
    ]
    assert "- Essai Julie (julie@example.org) : Nouveau prospect depuis 9 jours" in digest[0][2]


def test_tick_json_summary(sf):
    form = sf.project / "julie.json"
    form.write_text(json.dumps({"email": "julie@example.org", "date_essai": "2026-12-05T18:30"}))
    sf("ingest", form, "--form", "cours-essai", now="2026-11-20T10:00")
    summary = sf("tick", "--json", now="2026-11-20T10:00")
    assert (summary["runs_started"], summary["runs_resumed"], summary["delivery"]["sent"]) == (
        1, 0, 2,
    )  # fmt: skip
    later = sf("tick", "--json", now="2026-12-04T18:31")
    assert (later["runs_resumed"], later["delivery"]["sent"]) == (
        1,
        3,
    )  # reminder + Monday digest ×2


def test_run_is_quiet_off_a_terminal_and_drains_the_inbox(demo):
    inbox = demo / "inbox" / "cours-essai"
    inbox.mkdir(parents=True)
    (inbox / "julie.json").write_text(json.dumps({"email": "julie@example.org",
                                                  "date_essai": "2026-12-05T18:30"}))  # fmt: skip
    result = subprocess.run([SCRIPT, "--project", demo, "--now", "2026-11-22T10:00", "run"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert (result.stdout, result.stderr) == ("", "")
    assert len(list((demo / "outbox").glob("*.eml"))) == 2


def many_forms(project: Path, count: int) -> None:
    inbox = project / "inbox" / "cours-essai"
    inbox.mkdir(parents=True)
    batch = [{"submissionId": f"s{n}", "email": f"p{n}@example.org", "prenom": f"P{n}",
              "date_essai": "2026-12-05T18:30"} for n in range(count)]  # fmt: skip
    (inbox / "batch.json").write_text(json.dumps(batch))


def test_overlapping_runs_never_do_the_same_work_twice(demo):
    many_forms(demo, 60)
    env = {**os.environ, "SALESFLOW_NOW": "2026-11-22T10:00"}
    command = [SCRIPT, "--project", demo, "run"]
    processes = [subprocess.Popen(command, env=env, stderr=subprocess.PIPE) for _ in range(4)]
    errors = [process.communicate()[1] for process in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], errors
    env["SALESFLOW_NOW"] = "2026-12-04T19:00"  # the reminders fall due: four runs at once again
    processes = [subprocess.Popen(command, env=env) for _ in range(4)]
    assert [p.wait() for p in processes] == [0, 0, 0, 0]
    assert query(demo, "SELECT count(*), count(DISTINCT email) FROM contacts") == [(60, 60)]
    steps = query(demo, "SELECT run_id, step, count(*) FROM run_steps GROUP BY run_id, step"
                  " HAVING count(*) > 1")  # fmt: skip
    assert steps == []
    assert query(demo, "SELECT count(*) FROM runs WHERE workflow = 'essai-formulaire'") == [(60,)]
    # 60 welcomes, 60 notifications, 60 reminders, and Monday 30's digest to the 2 members
    assert query(demo, "SELECT status, count(*) FROM outbox GROUP BY status") == [("sent", 182)]
    assert len(list((demo / "outbox").glob("*.eml"))) == 182


def test_killed_run_finishes_on_the_next_run_without_doubles(demo):
    many_forms(demo, 300)
    env = {**os.environ, "SALESFLOW_NOW": "2026-11-22T10:00"}
    command = [SCRIPT, "--project", demo, "run"]
    process = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline:
        if _started(demo):
            break
        time.sleep(0.01)  # waiting for the work to be under way, to kill it there
    process.send_signal(signal.SIGKILL)
    process.wait()
    subprocess.run(command, env=env, check=True)
    assert query(demo, "SELECT count(*) FROM runs WHERE workflow = 'essai-formulaire'") == [(300,)]
    assert query(demo, "SELECT count(*) FROM outbox") == [(600,)]
    assert query(demo, "SELECT count(*) FROM outbox WHERE status != 'sent'") == [(0,)]
    steps = query(
        demo, "SELECT run_id, step FROM run_steps GROUP BY run_id, step HAVING count(*) > 1"
    )
    assert steps == []
    assert len(list((demo / "outbox").glob("*.eml"))) == 600


def _started(project: Path) -> bool:
    """Whether the run is under way; its database (SQLite's file) or tables may not be yet."""
    if not os.environ.get("SALESFLOW_DB") and not (project / "salesflow.db").exists():
        return False  # reading it would create the file
    try:
        return query(project, "SELECT count(*) FROM runs")[0][0] > 0
    except Exception:  # no such table yet, in either engine's words
        return False


def test_send_window_defers_emails_to_the_next_opening(sf):
    workflow = sf.project / "workflows" / "essai-formulaire.yaml"
    window = 'send_window: {days: [mon, tue, wed, thu, fri, sat], from: "09:00", to: "20:00"}'
    workflow.write_text(workflow.read_text().replace("steps:\n", f"{window}\nsteps:\n", 1))
    form = sf.project / "julie.json"
    form.write_text(json.dumps({"email": "julie@example.org", "date_essai": "2026-12-05T18:30"}))
    sf("ingest", form, "--form", "cours-essai", now="2026-11-22T21:00")  # a Sunday evening
    sf("tick", now="2026-11-22T21:00")
    [run] = sf("runs", "list", "--json", now="2026-11-22T21:00")
    assert (run["status"], run["next_step"], run["wake_at"]) == (
        "waiting", "bienvenue", "2026-11-23T09:00:00+01:00",
    )  # fmt: skip
    assert query(sf.project, "SELECT count(*) FROM outbox") == [(0,)]
    sf("tick", now="2026-11-23T09:00")
    welcome = "SELECT subject, created_at FROM outbox WHERE to_addr = 'julie@example.org'"
    assert query(sf.project, welcome) == [("Bienvenue !", "2026-11-23T08:00:00Z")]


def test_schedule_lists_the_next_fire_time_in_local_time(sf):
    schedules = sf("schedule", "--json", now="2026-11-24T10:00")
    assert schedules == [{"workflow": "revue-hebdo", "schedule": "0 8 * * 1", "enabled": True,
                          "next": "2026-11-30T08:00:00+01:00", "last_slot": None,
                          "catch_up": "last"}]  # fmt: skip


def test_schedule_gives_every_time_with_its_offset(sf):
    sf("tick", now="2026-11-30T08:05")  # Monday: the digest fires
    [row] = sf("schedule", "--json", now="2026-11-30T09:00")
    assert row["last_slot"] == "2026-11-30T08:00:00+01:00"
    assert row["next"] == "2026-12-07T08:00:00+01:00"
