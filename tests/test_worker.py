"""`serve`'s worker is woken when an event is recorded: by a request of its own server (both
engines), and on PostgreSQL by any process that records one (LISTEN/NOTIFY), its listening
connection coming back after it was lost. The worker here looks for work once a minute by
itself: a welcome email queued within seconds was queued because something woke it. Each
wait is bounded and waits for a condition; none asserts a duration finer than that."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, TestClient, open_project, query

from salesflow.web.app import build_app
from salesflow.web.site import Site
from salesflow.web.worker import Worker

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL

NOW = "2026-11-20T10:00"
SOON = 20.0  # seconds: far below the worker's minute, far above a loaded machine's pass
JULIE = {"submissionId": "s-1", "email": "julie@example.org", "prenom": "Julie",
         "nom": "Petit", "date_essai": "2027-01-09T18:30"}  # fmt: skip


@contextlib.contextmanager
def worker_of(project: Path) -> Iterator[tuple[Site, Worker]]:
    """A site and its worker, which looks for work every minute unless woken; once it has
    made its first pass (at start), so that what follows is what wakes it."""
    site = Site(open_project(project), NOW)
    site.store()
    worker = site.worker = Worker(site, interval=60)
    worker.start()
    try:
        wait_for(lambda: worker.last_pass is not None, "the worker's first pass")
        yield site, worker
    finally:
        worker.stop(30)
    assert not worker.is_alive()


def wait_for(condition, what: str, within: float = SOON) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {within:g} s"
        time.sleep(0.05)


def welcomed(project: Path, address: str) -> bool:
    return bool(query(project, "SELECT 1 FROM outbox WHERE to_addr = ?", address))


def test_a_post_wakes_the_worker_which_does_not_wait_for_its_interval(demo):
    """Julie's post wakes the worker of the server that took it: her welcome email is queued
    long before the worker's minute is out. The app ends before it is (its lifespan stops
    the worker it started, none here: it once stopped this one, which on PostgreSQL — a
    slower pass — then ended before handling her event)."""
    with worker_of(demo) as (site, worker):
        with TestClient(build_app(site, worker=False)) as client:
            assert client.post("/forms/cours-essai", json=JULIE).status_code == 202
        wait_for(lambda: welcomed(demo, "julie@example.org"), "Julie's welcome email")
        assert worker.is_alive() and worker.error is None


def postgresql_only() -> None:
    if not os.environ.get("SALESFLOW_DB", "").startswith("postgresql://"):
        pytest.skip("LISTEN/NOTIFY: PostgreSQL only (on SQLite, other processes' events wait"
                    " for the worker's next look)")  # fmt: skip


def test_an_event_another_process_records_wakes_the_worker(demo, sf):
    """`salesflow ingest` (another connection, as another host's would be) records Julie's
    submission; the serve worker hears of it and queues her welcome email."""
    postgresql_only()
    with worker_of(demo) as (_, worker):
        sf("ingest", REPO / "examples/forms/julie.json", "--form", "cours-essai", now=NOW)
        wait_for(lambda: welcomed(demo, "julie.martin@example.org"), "Julie's welcome email")
        assert worker.error is None and worker.listen_error is None


def listening_backends() -> list[int]:
    return [pid for (pid,) in query(REPO, "SELECT pid FROM pg_stat_activity"
                                          " WHERE query LIKE 'LISTEN %'")]  # fmt: skip


def test_a_lost_listening_connection_is_said_and_comes_back(demo, sf):
    """The server ends the worker's listening connection (a restart, a failover, a firewall):
    the worker says so (and looks every interval meanwhile), listens again, and the next
    event recorded elsewhere wakes it as before."""
    postgresql_only()
    with worker_of(demo) as (_, worker):
        wait_for(lambda: len(listening_backends()) == 1, "the worker listening")
        [lost] = listening_backends()
        query(REPO, "SELECT pg_terminate_backend(?)", lost)
        wait_for(lambda: worker.listen_error is not None, "the lost connection said")
        wait_for(lambda: listening_backends() not in ([], [lost]), "listening again")
        wait_for(lambda: worker.listen_error is None, "the error cleared")
        sf("ingest", REPO / "examples/forms/julie.json", "--form", "cours-essai", now=NOW)
        wait_for(lambda: welcomed(demo, "julie.martin@example.org"), "Julie's welcome email")
        assert worker.is_alive() and worker.error is None
