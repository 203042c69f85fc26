"""The exactly-once test on PostgreSQL (#27): 4 processes on one database — 2 `serve` with
their workers, 2 cron `run` loops — take 2,000 posts while random ones are SIGKILLed (and
started again) and PostgreSQL restarts once. Every post is acknowledged (a client posts again,
with the same submission id, what got no answer), and each is stored once, runs once, queues
one welcome email (one .eml file per outbox id) and, past its wait, one reminder.

Slow (about a minute): `make test` leaves it out, `.ci/run` runs it (`make test-slow`)."""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import Server, query

pytestmark = pytest.mark.slow

POSTS = 2000
NOW = "2026-11-20T10:00"  # every process's business clock
PAST_THE_WAIT = "2027-01-09T12:00"  # the reminder is due 24 h before the lesson
LESSON = "2027-01-09T18:30"
KILLS = 6  # one every POSTS / (KILLS + 1) acknowledged posts; PostgreSQL restarts halfway
POSTERS = 4


class CronLoop(threading.Thread):
    """`salesflow run` again and again, as cron every minute would, faster."""

    def __init__(self, project: Path):
        super().__init__(daemon=True)
        self.command = [sys.executable, "-m", "salesflow", "--project", str(project), "run"]
        self.env = {**os.environ, "SALESFLOW_NOW": NOW}
        self.stopping = threading.Event()
        self.process: subprocess.Popen | None = None

    def run(self) -> None:
        while not self.stopping.is_set():
            quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            self.process = subprocess.Popen(self.command, env=self.env, **quiet)
            self.process.wait()
            self.stopping.wait(1.0)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, AttributeError):
            self.process.send_signal(signal.SIGKILL)


class Posts:
    """The clients: each submission posted to a live server until it is acknowledged."""

    def __init__(self, servers: list[Server]):
        self.servers = servers
        self.waiting: queue.Queue = queue.Queue()
        self.acknowledged: list[str] = []
        self.answered_late = 0  # posts answered only on a second try or later
        self.failures: list[str] = []  # what no client should meet (a 500, no answer in 60 s)
        self.lock = threading.Lock()

    def post_all(self, payloads: list[dict]) -> None:
        for payload in payloads:
            self.waiting.put(payload)
        threads = [threading.Thread(target=self._poster, daemon=True) for _ in range(POSTERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

    def _poster(self) -> None:
        with httpx.Client(timeout=10) as client:  # kept-alive connections, as a proxy keeps
            self._post_each(client)

    def _post_each(self, client: httpx.Client) -> None:
        while True:
            try:
                payload = self.waiting.get_nowait()
            except queue.Empty:
                return
            deadline = time.monotonic() + 60
            for attempt in itertools.count():
                if time.monotonic() > deadline:
                    self.failures.append(f"{payload['submissionId']}: no answer in 60 s")
                    return
                server = random.choice(self.servers)
                try:
                    answer = client.post(f"{server.url}/forms/cours-essai", json=payload)
                except httpx.TransportError:  # killed mid-request, or not started yet
                    time.sleep(0.05)
                    continue
                if answer.status_code == 202:
                    with self.lock:
                        self.acknowledged.append(payload["submissionId"])
                        self.answered_late += attempt > 0
                    break
                if answer.status_code != 503:  # busy or restarting: again; anything else is wrong
                    self.failures.append(f"{answer.status_code} {answer.text[:200]}")
                    return
                time.sleep(0.05)


def test_2000_posts_through_kills_and_a_restart_each_stored_run_and_sent_once(
    sf, postgres_cluster, postgres_url, monkeypatch
):
    monkeypatch.setenv("SALESFLOW_DB", postgres_url)
    project = sf.project
    sf("process")  # the schema, before four processes start at once
    servers = [Server(project, now=NOW), Server(project, now=NOW)]
    crons = [CronLoop(project), CronLoop(project)]
    for cron in crons:
        cron.start()
    payloads = [{"submissionId": f"s{n}", "email": f"p{n}@example.org", "prenom": f"P{n}",
                 "date_essai": LESSON} for n in range(POSTS)]  # fmt: skip
    posts = Posts(servers)
    rng = random.Random(20261204)
    poster = threading.Thread(target=posts.post_all, args=(payloads,), daemon=True)
    began = time.monotonic()
    poster.start()
    try:
        for kill in range(KILLS):
            while len(posts.acknowledged) < POSTS * (kill + 1) // (KILLS + 1):
                assert not posts.failures, posts.failures[:3]
                assert poster.is_alive() or len(posts.acknowledged) == POSTS
                time.sleep(0.05)
            if kill == KILLS // 2:
                postgres_cluster.restart()
            victim = rng.randrange(len(servers) + len(crons))
            if victim < len(servers):
                servers[victim].process.send_signal(signal.SIGKILL)
                servers[victim].process.wait()
                servers[victim] = Server(project, now=NOW)  # posters see the new one
            else:
                crons[victim - len(servers)].kill()
        poster.join(timeout=120)
    finally:
        for cron in crons:
            cron.stopping.set()
        for cron in crons:
            cron.join(timeout=60)
        for server in servers:
            server.stop()
    posting = time.monotonic() - began

    assert not posts.failures, posts.failures[:3]
    assert sorted(posts.acknowledged) == sorted(p["submissionId"] for p in payloads)
    run_until_quiet(project, NOW)
    run_until_quiet(project, PAST_THE_WAIT)
    print(f"posting {posting:.1f} s, all {time.monotonic() - began:.1f} s")

    assert query(project, "SELECT count(*), count(DISTINCT key) FROM events"
                 " WHERE type = 'form.submitted'") == [(POSTS, POSTS)]  # fmt: skip
    assert query(project, "SELECT count(*), count(DISTINCT contact_id) FROM runs"
                 " WHERE workflow = 'essai-formulaire'") == [(POSTS, POSTS)]  # fmt: skip
    assert query(
        project,
        "SELECT status, count(*) FROM runs WHERE workflow = 'essai-formulaire' GROUP BY status",
    ) == [("done", POSTS)]  # fmt: skip  (every waiting run resumed, once: its reminder below)
    assert query(project, "SELECT run_id, step FROM run_steps GROUP BY run_id, step"
                 " HAVING count(*) > 1") == []  # fmt: skip
    for step in ("bienvenue", "rappel"):  # the welcome email, the reminder
        queued = query(project, "SELECT count(*), count(DISTINCT run_id), count(DISTINCT"
                       " message_id) FROM outbox WHERE step = ?", step)  # fmt: skip
        assert queued == [(POSTS, POSTS, POSTS)]
    ids = {row[0] for row in query(project, "SELECT id FROM outbox WHERE status = 'sent'")}
    assert query(project, "SELECT count(*) FROM outbox") == [(len(ids),)]  # all sent
    files = [path.stem.rsplit("-", 1)[1] for path in (project / "outbox").glob("*.eml")]
    assert sorted(map(int, files)) == sorted(ids)  # one file per outbox id, none twice
    print(f"{posts.answered_late} posts answered on a later try")


def run_until_quiet(project: Path, now: str) -> None:
    """`salesflow run` at `now` until nothing is left to do (at most 10 passes)."""
    command = [sys.executable, "-m", "salesflow", "--project", str(project), "run"]
    for _ in range(10):
        subprocess.run(command, env={**os.environ, "SALESFLOW_NOW": now}, check=True,
                       capture_output=True)  # fmt: skip
        left = query(project, "SELECT (SELECT count(*) FROM events WHERE processed_at IS NULL"
                     " AND failed_at IS NULL) + (SELECT count(*) FROM outbox WHERE status"
                     " <> 'sent')")  # fmt: skip
        if left == [(0,)]:
            return
    raise AssertionError(f"still work left after 10 runs at {now}: {left}")
