"""Faults of the machine, not of the input: one line naming the file and what to do, exit 1;
a cron run that meets a lock skips its turn quietly; `check` and `backup`."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import query

from salesflow.config.cache import load_project
from salesflow.engine.process import Processor
from salesflow.store.session import Store
from salesflow.values import parse_datetime

SCRIPT = Path(sys.executable).parent / "salesflow"
NOW = "2026-11-22T10:00"


def test_a_zero_byte_database_is_damage_not_a_new_database(sf):
    (sf.project / "salesflow.db").write_bytes(b"")
    result = sf("contacts", "list", code=1)
    assert result.output == (
        f"error: {sf.project / 'salesflow.db'}: the file is empty (0 bytes), so it is not a"
        " salesflow database; restore a backup, or delete it to start a new database\n"
    )


def test_a_file_that_is_not_a_database_is_named(sf):
    (sf.project / "salesflow.db").write_bytes(b"these are not the pages you are looking for" * 99)
    result = sf("run", code=1)
    assert result.output.startswith(f"error: {sf.project / 'salesflow.db'}: it is not a salesflow")
    assert "restore a backup" in result.output


def test_a_database_from_a_newer_salesflow_is_refused(sf):
    sf("contacts", "list")
    with sqlite3.connect(sf.project / "salesflow.db") as connection:
        connection.execute("PRAGMA user_version = 99")
    result = sf("contacts", "list", code=1)
    assert "schema version 99, newer than this salesflow knows" in result.output
    assert str(sf.project / "salesflow.db") in result.output


def test_a_database_in_a_missing_folder_is_an_error_not_a_new_file(sf, monkeypatch):
    monkeypatch.setenv("SALESFLOW_DB", "state/salesflow.db")
    result = sf("contacts", "list", code=1)
    assert result.output == (
        f"error: {sf.project / 'state' / 'salesflow.db'}: the folder {sf.project / 'state'}"
        " does not exist; create it, or correct `database:` in salesflow.yaml (or SALESFLOW_DB)\n"
    )
    assert not (sf.project / "state").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files anyway")
def test_a_read_only_database_is_named(sf):
    sf("contacts", "add", "julie@example.org")
    (sf.project / "salesflow.db").chmod(0o444)
    result = sf("contacts", "add", "paul@example.org", code=1)
    assert result.output.startswith(f"error: {sf.project / 'salesflow.db'}: it cannot be")


def test_a_full_disk_stops_the_pass_and_fails_no_item(demo):
    """A full disk is the environment: it must not be recorded as the event's own failure."""
    inbox = demo / "inbox" / "cours-essai"
    inbox.mkdir(parents=True)
    batch = [{"submissionId": f"s{n}", "email": f"p{n}@example.org",
              "date_essai": "2026-12-05T18:30"} for n in range(50)]  # fmt: skip
    (inbox / "batch.json").write_text(json.dumps(batch))
    subprocess.run([SCRIPT, "--project", demo, "--now", NOW, "ingest", "--inbox"], check=True)
    project = load_project(demo)
    store = Store.open(project, parse_datetime(NOW, "fr_FR", project.timezone))
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # the "disk" is nearly full
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        Processor(store).run()
    store.conn.close()
    assert query(demo, "SELECT count(*) FROM events WHERE failed_at IS NOT NULL") == [(0,)]
    assert query(demo, "SELECT count(*) FROM runs") == [(0,)]  # the batch was undone whole
    subprocess.run([SCRIPT, "--project", demo, "--now", NOW, "process"], check=True,
                   capture_output=True)  # fmt: skip
    assert query(demo, "SELECT count(*) FROM runs WHERE status = 'waiting'") == [(50,)]


def test_a_run_that_meets_a_lock_skips_quietly_and_check_says_so(sf):
    sf("contacts", "list")
    holder = sqlite3.connect(sf.project / "salesflow.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a long import holds the write lock
    env = {**os.environ, "SALESFLOW_LOCK_TIMEOUT": "0.2", "SALESFLOW_NOW": NOW}
    command = [SCRIPT, "--project", sf.project, "run"]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    env["SALESFLOW_NOW"] = "2026-11-22T10:20"
    subprocess.run(command, env=env, check=True)
    holder.execute("ROLLBACK")
    check = sf("check", now="2026-11-22T10:21", code=1)
    assert (
        "PROBLEM skipped runs: 2 cron run(s) skipped since 2026-11-22 10:00: another command"
        " held the database (a long import?)" in check.output
    )
    subprocess.run(command, env=env, check=True)  # the lock is gone: the run works again
    assert "skipped runs" not in sf("check", now="2026-11-22T10:21").output


def test_validate_never_creates_a_database(sf):
    sf("validate")
    assert not (sf.project / "salesflow.db").exists()


def test_check_on_a_healthy_project(sf):
    sf("contacts", "add", "julie@example.org")
    sf("process")
    result = sf("check", "--json")
    # the demo's folder transport: the variable http would need is a note, nothing is wrong
    assert [f["what"] for f in result if f["level"] != "ok"] == ["environment"]
    assert {finding["level"] for finding in result} == {"ok", "note"}
    assert [f["what"] for f in result if f["level"] == "ok"][:2] == ["database", "failed events"]


def test_backup_is_a_consistent_copy_while_runs_write(demo, tmp_path):
    inbox = demo / "inbox" / "cours-essai"
    inbox.mkdir(parents=True)
    batch = [{"submissionId": f"s{n}", "email": f"p{n}@example.org",
              "date_essai": "2026-12-05T18:30"} for n in range(400)]  # fmt: skip
    (inbox / "batch.json").write_text(json.dumps(batch))
    env = {**os.environ, "SALESFLOW_NOW": NOW}
    subprocess.run([SCRIPT, "--project", demo, "contacts", "list"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    running = subprocess.Popen([SCRIPT, "--project", demo, "run"], env=env)
    copies = []
    for number in range(3):
        copy = tmp_path / f"copy-{number}.db"
        subprocess.run([SCRIPT, "--project", demo, "backup", copy], env=env, check=True,
                       capture_output=True)  # fmt: skip
        copies.append(copy)
    assert running.wait() == 0
    for copy in copies:
        with sqlite3.connect(copy) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            contacts = connection.execute("SELECT count(*) FROM contacts").fetchone()[0]
            runs = connection.execute(
                "SELECT count(*) FROM runs WHERE contact_id IS NOT NULL"
            ).fetchone()[0]
            assert contacts == runs  # a snapshot between transactions, never inside one
    result = subprocess.run([SCRIPT, "--project", demo, "backup", copies[0]], env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == f"error: {copies[0]} exists already: choose a new file name\n"


def test_a_lock_timeout_that_is_not_a_number_is_a_user_error(sf, monkeypatch):
    monkeypatch.setenv("SALESFLOW_LOCK_TIMEOUT", "soon")
    result = sf("contacts", "list", code=1)
    assert result.output == "error: SALESFLOW_LOCK_TIMEOUT='soon': give a number of seconds\n"


def test_a_backup_that_cannot_be_written_names_the_copy(sf, tmp_path):
    sf("contacts", "add", "julie@example.org")
    (tmp_path / ".copy.db.partial").mkdir()  # where the copy would be written: taken
    result = sf("backup", tmp_path / "copy.db", code=1)
    assert result.output.startswith(f"error: {tmp_path / 'copy.db'}: cannot write the copy")
    assert not (tmp_path / "copy.db").exists()
