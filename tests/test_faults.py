"""The PostgreSQL server restarted, stopped or replaced under salesflow (#27 "Faults"): in the
middle of `process`, of delivery and of a burst of posts to `serve`, nothing acknowledged is
lost, nothing runs or is sent twice, long-lived processes connect again on their own, and
`/healthz` and `check` say what is wrong while it lasts, in one line that names the database
without its password. Each test stops or restarts the test run's own server (tests/postgres.py)."""

from __future__ import annotations

import contextlib
import itertools
import json
import time

import httpx
import pytest
from conftest import Server, query

from salesflow.engine.process import Processor
from salesflow.mail.transports import EmlFolder

SUBMISSION = {"prenom": "Julie", "nom": "Petit", "date_essai": "2027-01-09T18:30"}
PASSWORD = "s3cret"  # in the URL as SALESFLOW_DB may carry it; the trusting server ignores it


@pytest.fixture
def cluster(postgres_cluster, postgres_url):
    """The server, running again after the test whatever the test did to it (before the
    test's database is dropped)."""
    yield postgres_cluster
    with contextlib.suppress(RuntimeError):  # running already
        postgres_cluster.start()


@pytest.fixture
def database(cluster, postgres_url, backend, monkeypatch) -> str:
    """The test's database as SALESFLOW_DB names it for the CLI, `serve` and `query`."""
    url = postgres_url.replace("postgresql:///", f"postgresql://postgres:{PASSWORD}@/")
    monkeypatch.setenv("SALESFLOW_DB", url)
    return url


def submissions(count: int) -> list[dict]:
    return [{**SUBMISSION, "submissionId": f"s{n}", "email": f"p{n}@example.org"}
            for n in range(count)]  # fmt: skip


def shown_once(line: str, advice: str) -> None:
    """A fault's one line: the database named with its password masked, and what to do."""
    assert line.startswith("error: postgresql://postgres:***@/"), line
    assert advice in line and PASSWORD not in line


def assert_each_once(project, count: int) -> None:
    """`count` submissions: as many runs, each step once, a welcome and a notice each."""
    assert query(project, "SELECT count(*), count(DISTINCT contact_id) FROM runs"
                 " WHERE workflow = 'essai-formulaire'") == [(count, count)]  # fmt: skip
    doubled = query(project, "SELECT run_id, step FROM run_steps GROUP BY run_id, step"
                    " HAVING count(*) > 1")  # fmt: skip
    assert doubled == []
    assert query(project, "SELECT count(*), count(DISTINCT to_addr) FROM outbox"
                 " WHERE subject LIKE 'Bienvenue%'") == [(count, count)]  # fmt: skip
    assert query(project, "SELECT count(*) FROM outbox") == [(2 * count,)]


def sent(project) -> int:
    return query(project, "SELECT count(*) FROM outbox WHERE status = 'sent'")[0][0]


def test_a_restart_in_the_middle_of_process_stops_the_pass_and_the_next_does_it_once(
    sf, database, cluster, monkeypatch
):
    batch = sf.project / "batch.json"
    batch.write_text(json.dumps(submissions(30)))
    sf("ingest", batch, "--form", "cours-essai")
    handle, calls = Processor.handle, itertools.count(1)

    def restarting_at_the_tenth(self, event):
        if next(calls) == 10:
            cluster.restart()
        return handle(self, event)

    monkeypatch.setattr(Processor, "handle", restarting_at_the_tenth)
    failed = sf("process", code=1).output  # the steps' lines as they ran, and one error
    [line] = [line for line in failed.splitlines() if not line.startswith("run #")]
    shown_once(line, "the database server is shutting down or restarting")
    assert query(sf.project, "SELECT count(*) FROM runs") == [(0,)]  # the batch: all or none

    monkeypatch.setattr(Processor, "handle", handle)
    sf("process")
    assert_each_once(sf.project, 30)


def test_a_restart_in_the_middle_of_delivery_sends_each_message_once(
    sf, database, cluster, monkeypatch
):
    batch = sf.project / "batch.json"
    batch.write_text(json.dumps(submissions(10)))
    sf("ingest", batch, "--form", "cours-essai")
    sf("process")
    write, handed = EmlFolder._write, []

    def restarting_after_the_fifth(self, message, name):
        detail = write(self, message, name)  # the message is out: then the server restarts
        handed.append(name)
        if len(handed) == 5:
            cluster.restart()
        return detail

    monkeypatch.setattr(EmlFolder, "_write", restarting_after_the_fifth)
    assert sf("outbox", "send").output == "outbox: 20 sent, 0 to retry, 0 failed\n"
    assert len(handed) == len(set(handed)) == 20  # each handed to the transport once
    assert query(sf.project, "SELECT status, attempts, count(*) FROM outbox"
                 " GROUP BY status, attempts") == [("sent", 1, 20)]  # fmt: skip
    assert len(list((sf.project / "outbox").glob("*.eml"))) == 20


def test_serve_takes_a_burst_of_posts_across_a_restart_and_its_worker_goes_on(
    sf, database, cluster
):
    """Posts right after the restart are answered at once: no thread's connection to the
    old server is used; the worker takes up the work on its own."""
    server = Server(sf.project)  # with its worker
    try:
        answers = []
        for n, payload in enumerate(submissions(40)):
            if n == 20:
                cluster.restart()
            answers.append(server.post("/forms/cours-essai", json=payload).status_code)
        assert answers == [202] * 40
        deadline = time.monotonic() + 30
        while sent(sf.project) < 80 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert_each_once(sf.project, 40)
        assert sent(sf.project) == 80
    finally:
        code, log = server.stop()
    assert code == 0, log
    assert "Traceback" not in log


def test_healthz_and_check_say_the_server_is_down_while_it_is(sf, database, cluster):
    server = Server(sf.project, "--no-worker")
    try:
        assert server.post("/forms/cours-essai", json=submissions(1)[0]).status_code == 202
        cluster.stop()
        health = httpx.get(f"{server.url}/healthz", timeout=10)
        assert health.status_code == 503
        error = health.json()["error"]
        assert error.startswith("database: postgresql://postgres:***@/"), error
        assert "cannot be reached" in error and PASSWORD not in error and "\n" not in error
        refused = server.post("/forms/cours-essai", json=submissions(2)[1])
        assert refused.status_code == 503 and refused.headers["retry-after"]

        checked = sf("check", code=1).output.splitlines()
        assert checked[0].startswith("PROBLEM database: postgresql://postgres:***@/")
        assert "cannot be reached" in checked[0] and PASSWORD not in "".join(checked)

        cluster.start()  # back: the next request connects again, no restart of serve, and
        # /healthz says so at once (a door's 503 for a sick disk it keeps saying for 15 s)
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        assert server.post("/forms/cours-essai", json=submissions(2)[1]).status_code == 202
    finally:
        code, log = server.stop()
    assert code == 0, log
    assert PASSWORD not in log
    assert query(sf.project, "SELECT count(*) FROM events") == [(2,)]


def test_a_database_created_anew_under_its_name_is_refused_and_never_written_to(
    sf, database, cluster, postgres_url
):
    """Dropped and created again while `serve` runs (a restore gone wrong, a script): the
    server's identity or the database's OID differ, so serve refuses it — no tables made in
    it, no submission stored in it — until it is restarted."""
    name = postgres_url.split("///")[1].split("?")[0]
    server = Server(sf.project, "--no-worker")
    try:
        assert server.post("/forms/cours-essai", json=submissions(1)[0]).status_code == 202
        cluster.admin(f"DROP DATABASE {name} WITH (FORCE)")
        cluster.admin(f"CREATE DATABASE {name} TEMPLATE salesflow_template")
        refused = server.post("/forms/cours-essai", json=submissions(2)[1])
        assert refused.status_code == 503
        health = httpx.get(f"{server.url}/healthz", timeout=10)
        assert health.status_code == 503
        assert "no longer the database this process started with" in health.json()["error"]
    finally:
        server.stop()
    assert query(sf.project, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
