"""`salesflow run` and `tick` with nothing due answer before loading the command line; what
they call "nothing due" must be exactly what `tick` would find nothing to do in."""

import json
import sqlite3
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from conftest import open_project

from salesflow import clock
from salesflow.cli.quick import _plain_call
from salesflow.config.model import DatabaseUrl
from salesflow.engine.due import anything_due
from salesflow.engine.tick import tick
from salesflow.store.db import Connection, connect
from salesflow.store.session import Store

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL

SUBMISSION = {"email": "julie@example.org", "prenom": "Julie", "date_essai": "2026-12-05T18:30"}


@pytest.fixture
def due_and_busy(request, backend):
    """(anything_due, whether a tick found work) at `now`, both on a copy of the database,
    which stays as it was: SQLite's backup in memory, or a PostgreSQL database made from it
    as a template."""
    copies = []

    def copy_of(project):
        if backend == "sqlite":
            copy = sqlite3.connect(":memory:", isolation_level=None, factory=Connection)
            with sqlite3.connect(project.database) as live:
                live.backup(copy)
            copy.row_factory = sqlite3.Row
            return copy
        cluster = request.getfixturevalue("postgres_cluster")
        live = urlsplit(project.database).path.lstrip("/")
        copies.append(f"{live}_copy_{len(copies)}")
        cluster.admin(f"CREATE DATABASE {copies[-1]} TEMPLATE {live}")
        return connect(DatabaseUrl(cluster.url(copies[-1])))

    def check(project_dir, now: str) -> tuple[bool, bool]:
        project = open_project(project_dir)
        copy = copy_of(project)
        store = Store(copy, project, clock.now(now, project.timezone))
        due = anything_due(store)
        for_tick = anything_due(store, intake=False)  # the inbox aside, the same
        busy = tick(store, send=True).summary() != "nothing was due"
        copy.close()
        assert for_tick == busy or (due and not busy)
        return due, busy

    yield check
    for name in copies:
        request.getfixturevalue("postgres_cluster").admin(f"DROP DATABASE {name} WITH (FORCE)")


def test_due_says_what_tick_would_do_at_every_turn_of_the_story(sf, tmp_path, due_and_busy):
    sf("tick")
    assert due_and_busy(sf.project, "2026-11-20T10:01") == (False, False)  # Monday is far
    (tmp_path / "julie.json").write_text(json.dumps(SUBMISSION))
    sf("ingest", "--form", "cours-essai", tmp_path / "julie.json", now="2026-11-22T10:00")
    assert due_and_busy(sf.project, "2026-11-22T10:00") == (True, True)  # an event
    sf("process", now="2026-11-22T10:00")
    assert due_and_busy(sf.project, "2026-11-22T10:00") == (True, True)  # two emails
    sf("tick", now="2026-11-22T10:00")
    assert due_and_busy(sf.project, "2026-11-22T10:01") == (False, False)
    assert due_and_busy(sf.project, "2026-11-23T08:00") == (True, True)  # the weekly review
    assert due_and_busy(sf.project, "2026-12-04T18:30") == (True, True)  # the reminder


def test_a_deal_past_its_stage_rot_after_is_due_once(sf, tmp_path, due_and_busy):
    sf("deals", "add", "--title", "Chorale", "--stage", "nouveau", now="2026-11-20T10:00")
    sf("tick", now="2026-11-20T10:00")
    assert due_and_busy(sf.project, "2026-11-22T10:00") == (False, False)
    assert due_and_busy(sf.project, "2026-11-24T10:00") == (True, True)  # 3d later
    sf("tick", now="2026-11-24T10:00")
    assert due_and_busy(sf.project, "2026-11-24T10:01") == (False, False)


def test_a_file_in_the_inbox_is_due(sf, tmp_path, due_and_busy):
    sf("tick")
    (sf.project / "inbox" / "done").mkdir(parents=True)
    assert due_and_busy(sf.project, "2026-11-20T10:01")[0] is False
    (sf.project / "inbox" / "cours-essai").mkdir()
    (sf.project / "inbox" / "cours-essai" / "julie.json").write_text(json.dumps(SUBMISSION))
    assert due_and_busy(sf.project, "2026-11-20T10:01")[0] is True


def test_a_file_in_the_inbox_is_not_due_for_tick_which_leaves_it_to_run(sf):
    sf("tick")
    (sf.project / "inbox" / "cours-essai").mkdir(parents=True)
    (sf.project / "inbox" / "cours-essai" / "julie.json").write_text(json.dumps(SUBMISSION))
    project = open_project(sf.project)
    store = Store.open(project, clock.now("2026-11-20T10:01", project.timezone))
    assert anything_due(store) is True
    assert anything_due(store, intake=False) is False
    store.conn.close()


@pytest.mark.parametrize(
    ("argv", "options"),
    [
        (["run"], {"project": None, "now": None, "command": "run", "arguments": []}),
        (
            ["--project", "club", "run"],
            {"project": "club", "now": None, "command": "run", "arguments": []},
        ),
        (
            ["-C", "club", "--now=2026-12-01T09:00", "run"],
            {"project": "club", "now": "2026-12-01T09:00", "command": "run", "arguments": []},
        ),
        (["tick"], {"project": None, "now": None, "command": "tick", "arguments": []}),
        (
            ["import", "a.csv"],
            {"project": None, "now": None, "command": "import", "arguments": ["a.csv"]},
        ),
        (["run", "--json"], None),
        (["tick", "--json"], None),
        (["--debug", "run"], None),
        (["process"], None),
        (["--now", "run"], None),
        (["-C=club", "run"], None),  # click reads "=club": the full command line says it
        (["--now=", "run"], None),
        (["import"], None),
        (["import", "a.csv", "--dry-run"], None),
        (["import", "--", "a.csv"], None),
        (["run", "a.csv"], None),
        ([], None),
    ],
)
def test_only_the_plain_run_tick_or_import_takes_the_quick_path(argv, options, monkeypatch):
    monkeypatch.delenv("SALESFLOW_PROJECT", raising=False)
    monkeypatch.delenv("SALESFLOW_NOW", raising=False)
    assert _plain_call(argv) == options


def quick(project, command: str, now: str = "2026-11-20T10:05") -> tuple[str, str]:
    """What `salesflow … command` printed (off a terminal), and which of typer, Jinja and the
    engine it loaded."""
    probe = (
        "import sys; from salesflow.cli import main; main();"
        " print(sorted({'typer', 'jinja2', 'salesflow.engine.runs'} & set(sys.modules)))"
    )
    argv = ["salesflow", "--project", str(project), "--now", now, command]
    result = subprocess.run([sys.executable, "-c", f"import sys; sys.argv = {argv!r}; {probe}"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert result.stderr == ""
    return result.stdout


def test_run_with_nothing_due_loads_neither_typer_nor_the_engine(sf):
    sf("tick")
    assert quick(sf.project, "run") == "[]\n"  # quiet off a terminal, as the full run


def test_tick_with_nothing_due_says_so_without_loading_typer_or_the_engine(sf):
    sf("tick")
    assert quick(sf.project, "tick") == "nothing was due\n[]\n"


def test_tick_with_work_due_does_it(sf, tmp_path):
    sf("tick")
    (tmp_path / "julie.json").write_text(json.dumps(SUBMISSION))
    sf("ingest", "--form", "cours-essai", tmp_path / "julie.json", now="2026-11-20T10:05")
    said = quick(sf.project, "tick")
    assert "4 events handled, 2 emails sent" in said  # the full tick (typer exits: no probe)
