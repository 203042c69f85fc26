"""A database deleted or replaced under a running `serve`, a sick disk at any door, and the
commands that must never make a new, empty database where one was: a real `serve`, real
files removed and copied as an operator would, the real CLI."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import Server, prepare_team, query

from salesflow.config.cache import load_project
from salesflow.mail.unsubscribe import token
from salesflow.store.session import Store
from salesflow.values import parse_datetime

SCRIPT = Path(sys.executable).parent / "salesflow"
NOW = "2026-11-20T10:00"


def submission(number: int) -> dict:
    return {"submissionId": f"s-{number}", "email": f"p{number}@example.org",
            "date_essai": "2027-01-09T18:30"}  # fmt: skip


def post_all(
    server: Server, numbers: range, at_once: int = 1
) -> tuple[list[int], list[httpx.Response]]:
    """Post each submission, `at_once` at a time (new server threads, new connections);
    (the numbers acknowledged with a 2xx, the other answers)."""
    with ThreadPoolExecutor(at_once) as pool:
        answers = list(pool.map(
            lambda n: server.post("/forms/cours-essai", json=submission(n)), numbers
        ))  # fmt: skip
    acknowledged = [n for n, answer in zip(numbers, answers, strict=True) if answer.is_success]
    return acknowledged, [answer for answer in answers if not answer.is_success]


def stored(project: Path) -> set[str]:
    rows = query(project, "SELECT key FROM events WHERE type = 'form.submitted'")
    return {key.removeprefix("form:cours-essai:s-") for (key,) in rows}


def remove_database(project: Path) -> None:
    for path in project.glob("salesflow.db*"):  # what `rm salesflow.db*` removes
        path.unlink()


@pytest.mark.parametrize("restored_while_running", [False, True], ids=["deleted", "replaced"])
def test_a_database_lost_under_serve_gets_503s_and_no_acknowledged_post_is_lost(
    sf, cli, tmp_path, restored_while_running
):
    project = sf.project
    server = Server(project)  # with its worker, which must stop writing too
    acknowledged, _ = post_all(server, range(0, 5))
    assert acknowledged == [0, 1, 2, 3, 4]
    sf("backup", tmp_path / "backup.db")
    healthy = cli("--project", project, "--now", NOW, "check").output
    assert re.search(r"ok      serve: serve \(pid \d+, since .*\) uses this database file", healthy)
    remove_database(project)
    if restored_while_running:  # the operator puts the backup in its place: a new file
        shutil.copy(tmp_path / "backup.db", project / "salesflow.db")
    late, refused = post_all(server, range(5, 15), at_once=10)
    assert late == []  # no 2xx for a write into a file that is gone
    assert {answer.status_code for answer in refused} == {503}
    assert {answer.headers["Retry-After"] for answer in refused} == {"60"}
    health = httpx.get(f"{server.url}/healthz")
    reason = "replaced by another file" if restored_while_running else "deleted (or moved away)"
    assert health.status_code == 503 and reason in health.json()["error"]

    check = sf("check", code=1)
    if restored_while_running:
        assert re.search(
            r"PROBLEM serve: serve \(pid \d+, since 2026-11-20 10:00\) opened"
            r" another file than the .*salesflow.db there now",
            check.output,
        )
    else:
        assert "PROBLEM database: " in check.output and "the database is missing" in check.output
        assert "has " in check.output and "open, but that file was deleted" in check.output
        assert not (project / "salesflow.db").exists()  # check made no new database
        shutil.copy(tmp_path / "backup.db", project / "salesflow.db")
    code, log = server.stop()
    assert code == 0 and "Traceback" not in log
    said = [line for line in log.splitlines() if ": unavailable:" in line and reason in line]
    assert len(said) == 1  # the doors' or the worker's: one line in all (the copy put back
    # after `check` may draw one more line from the worker, "replaced", before serve stops)

    check = cli("--project", project, "--now", NOW, "check")  # the 503s stay to be seen
    assert re.search(
        r"503s: 10 answered by serve \(pid \d+\) from 2026-11-20 10:00 to"
        r" 2026-11-20 10:00: ",
        check.output,
    )
    server = Server(project, "--no-worker")  # restarted: it takes the restored file
    again, _ = post_all(server, range(15, 20))
    server.stop()
    assert again == [15, 16, 17, 18, 19]
    assert {str(n) for n in acknowledged + again} <= stored(project)  # 0 acknowledged lost


def test_no_command_makes_a_new_database_where_one_was(sf):
    database = sf.project / "salesflow.db"
    sf("contacts", "add", "julie@example.org")
    marker = sf.project / ".salesflow.db.created"
    remove_database(sf.project)
    missing = (
        f"{database}: the database is missing, though this project had one"
        f" (.salesflow.db.created beside it says so): restore your latest backup to that path;"
        f" to start again with an empty database instead, delete {marker}"
    )
    for command in (["check"], ["contacts", "list"], ["deals", "list", "--json"], ["process"]):
        result = sf(*command, code=1)
        assert missing in result.output
    assert f"PROBLEM database: {missing}" in sf("check", code=1).output
    cron = subprocess.run(
        [SCRIPT, "--project", sf.project, "--now", NOW, "run"], capture_output=True, text=True
    )  # through the quick path of `run`, as cron calls it
    assert (cron.returncode, cron.stderr) == (1, f"error: {missing}\n")
    assert not database.exists()
    assert "Delete this file to start again with an empty database" in marker.read_text()
    marker.unlink()  # the person says: start again, empty
    assert sf("contacts", "list", "--json") == []
    assert marker.exists()


def test_a_database_older_than_markers_gets_one_and_a_new_project_starts_as_before(cli, tmp_path):
    assert cli("init", tmp_path / "club").exit_code == 0
    project = tmp_path / "club"
    listed = cli("--project", project, "deals", "list", "--json")
    assert (listed.exit_code, listed.output) == (0, "[]\n")  # never used: nothing yet
    (project / ".salesflow.db.created").unlink()  # as a database made before markers
    assert cli("--project", project, "contacts", "list").exit_code == 0
    assert (project / ".salesflow.db.created").exists()
    assert ".salesflow.db.created" in (project / ".gitignore").read_text().splitlines()


class FileSizeLimit:
    """An I/O error for real: a file size limit (RLIMIT_FSIZE) on the serve process that its
    next write to the database is past (SQLite: "disk I/O error")."""

    def __init__(self, tmp_path: Path):
        self.database = None  # where the project keeps it: its own folder

    def fail(self, server: Server) -> None:
        resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))

    def heal(self, server: Server) -> None:
        unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, unlimited)

    def unmount(self) -> None:
        pass


class FullDisk:
    """A full disk for real: the database on a 4 MB tmpfs, filled up by another file."""

    def __init__(self, tmp_path: Path):
        self.mount = tmp_path / "disk"
        self.mount.mkdir()
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", self.mount],
                                 capture_output=True)  # fmt: skip
        if mounted.returncode:
            pytest.skip("a small tmpfs cannot be mounted here (needs root)")
        self.database = self.mount / "salesflow.db"

    def fail(self, server: Server) -> None:
        # unbuffered: no bytes left over to write (and fail) again on closing it
        with (
            (self.mount / "ballast").open("ab", buffering=0) as ballast,
            contextlib.suppress(OSError),
        ):
            while True:  # until ENOSPC
                ballast.write(b"\0" * 65536)
                ballast.flush()

    def heal(self, server: Server) -> None:
        (self.mount / "ballast").unlink()

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", self.mount], check=True)


@pytest.mark.parametrize(
    ("sickness", "said"),
    [(FileSizeLimit, "the disk reported an I/O error"), (FullDisk, "the disk is full")],
    ids=["io-error", "disk-full"],
)
def test_a_sick_disk_is_a_503_at_every_door_with_one_log_line(sf, cli, tmp_path, sickness, said):
    disk = sickness(tmp_path)
    if disk.database:
        config = sf.project / "salesflow.yaml"
        config.write_text(config.read_text() + f"database: {disk.database}\n")
    try:
        sick_at_every_door(sf, cli, disk, said)
    finally:
        disk.unmount()


def sick_at_every_door(sf, cli, disk, said: str) -> None:
    from test_pages import csrf_of, signed_in

    project = prepare_team(sf)
    loaded = load_project(project)
    store = Store.open(loaded, parse_datetime(NOW, "fr_FR", loaded.timezone))
    unsubscribe = f"/unsubscribe/{token(store, 1)}"
    store.conn.close()
    server = Server(project, "--no-worker")
    member = signed_in(server)
    csrf = csrf_of(member.get("/").text)
    assert server.post("/forms/cours-essai", json=submission(1)).status_code == 202
    for _ in range(2):  # twice: still one line in the log
        disk.fail(server)
        answers = [
            server.post("/forms/cours-essai", json=submission(2)),
            server.post("/forms/cours-essai", data=submission(3), headers={"Accept": "text/html"}),
            member.post("/deals/1/move", data={"stage": "essai-realise", "csrf": csrf}),
            server.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}),
        ]
        disk.heal(server)
        assert [a.status_code for a in answers] == [503] * 4, [a.text for a in answers]
        assert {a.headers["Retry-After"] for a in answers} == {"60"}
        assert answers[0].json()["pointer"] == ""
        assert "Réessayez dans quelques minutes" in answers[1].text  # a page, for a browser
        health = httpx.get(f"{server.url}/healthz")
        assert health.status_code == 503
        assert health.json()["error"].startswith(f"unavailable: {said}")
    assert server.post("/forms/cours-essai", json=submission(4)).status_code == 202
    code, log = server.stop()
    assert code == 0 and "Traceback" not in log and " 500 " not in log
    lines = [line for line in log.splitlines() if "unavailable:" in line]
    assert len(lines) == 1 and said in lines[0], lines  # not one per request
    with sqlite3.connect(disk.database or project / "salesflow.db") as connection:
        keys = {key for (key,) in connection.execute("SELECT key FROM events")}
        assert {"form:cours-essai:s-1", "form:cours-essai:s-4"} <= keys
        assert not keys & {"form:cours-essai:s-2", "form:cours-essai:s-3"}
        stage = connection.execute("SELECT stage FROM deals WHERE id = 1").fetchone()
        assert stage == ("essai-planifie",)
    check = cli("--project", project, "--now", NOW, "check").output
    assert "note    503s: 8 answered by serve" in check and said in check


def test_a_commit_into_a_database_moved_away_is_refused(tmp_path):
    from salesflow.store.db import DatabaseMoved, connect, transaction

    connection = connect(tmp_path / "salesflow.db")
    with transaction(connection):
        connection.execute("CREATE TABLE t (x)")
    os.replace(tmp_path / "salesflow.db", tmp_path / "elsewhere.db")
    with pytest.raises(DatabaseMoved, match="moved away"), transaction(connection):
        connection.execute("INSERT INTO t VALUES (1)")
