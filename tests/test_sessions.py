"""Sessions of the pages end when they should — logout, a new password, a new signing secret,
an idle period — whatever the browser kept: the pages in this process, the clock moved as
--now moves it. The login tells nothing by its timing: a real `salesflow serve` behind a
trusted proxy, a real HTTP client."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator

import httpx
import pytest
import yaml
from conftest import Pages, Server, csrf_of, prepare_team, signed_in

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL


def set_serve(project, **settings) -> None:
    config = yaml.safe_load((project / "salesflow.yaml").read_text())
    config["serve"] = settings
    (project / "salesflow.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))


def board_with(pages: Pages, cookie: str) -> httpx.Response:
    """The board asked for with a saved session cookie, as a copy of it would be replayed."""
    return pages.client().get("/", headers={"Cookie": f"salesflow_session={cookie}"})


def test_logout_ends_the_session_for_every_copy_of_its_cookie(pages):
    client = signed_in(pages)
    saved = client.cookies["salesflow_session"]
    assert board_with(pages, saved).status_code == 200
    assert client.post("/logout", data={"csrf": csrf_of(client.get("/").text)}).status_code == 303
    replayed = board_with(pages, saved)
    assert (replayed.status_code, replayed.headers["location"]) == (303, "/login?next=/")


def test_a_new_password_or_secret_ends_sessions_and_check_counts_the_active_ones(pages, sf):
    marie, marie_elsewhere, lea = signed_in(pages), signed_in(pages), signed_in(pages, "lea")
    assert "sessions: 3 active" in sf("check").output
    sf("team", "password", "marie", "--stdin", input="un-autre-mot-de-passe\n")
    assert [c.get("/").status_code for c in (marie, marie_elsewhere, lea)] == [303, 303, 200]
    assert "sessions: 1 active" in sf("check").output
    sf("secret", "rotate")
    assert lea.get("/").status_code == 303
    assert "sessions: 0 active" in sf("check").output


def test_a_session_unused_for_the_idle_period_ends(sf):
    """12 hours by default, `serve: {session_idle: …}` otherwise; every use restarts it."""
    project = prepare_team(sf)
    with answering(project, "2026-11-20T09:00") as at_nine:
        cookie = signed_in(at_nine).cookies["salesflow_session"]
    with answering(project, "2026-11-20T20:50") as evening:
        assert board_with(evening, cookie).status_code == 200  # idle from 20:50 on
    assert "sessions: 1 active" in sf("check", now="2026-11-20T21:21").output
    set_serve(project, session_idle="30m")
    assert "sessions: 0 active" in sf("check", now="2026-11-20T21:21").output
    set_serve(project)
    assert "sessions: 1 active" in sf("check", now="2026-11-21T08:49").output
    with answering(project, "2026-11-21T08:51") as next_morning:
        assert board_with(next_morning, cookie).headers["location"] == "/login?next=/"


@contextlib.contextmanager
def answering(project, now: str) -> Iterator[Pages]:
    """The pages at `now`, as a server started with --now would answer them."""
    pages = Pages(project, now)
    try:
        yield pages
    finally:
        pages.close()


@contextlib.contextmanager
def serving(project, now: str) -> Iterator[Server]:
    server = Server(project, "--no-worker", now=now)
    try:
        yield server
    finally:
        server.stop()


def test_the_login_429_says_when_to_try_again(pages):
    client = pages.client()
    token = csrf_of(client.get("/login").text)
    tries = [client.post("/login", data={"member": "paul", "password": "x", "csrf": token})
             for _ in range(6)]  # fmt: skip
    assert [t.status_code for t in tries] == [401] * 5 + [429]
    assert 1 <= int(tries[-1].headers["retry-after"]) <= 60


def test_login_attempts_are_counted_across_serve_processes(sf):
    """Two `serve` processes on one database, as two hosts behind a load balancer: a guesser
    going from one to the other meets one limit of 5 tries a minute, not 5 at each."""
    project = prepare_team(sf)
    with serving(project, "2026-11-20T10:00") as one, serving(project, "2026-11-20T10:00") as two:
        clients = [one.client(), two.client()]
        tokens = [csrf_of(client.get("/login").text) for client in clients]
        tries = [clients[n % 2].post("/login", data={"member": "paul", "password": "x",
                                                     "csrf": tokens[n % 2]})
                 for n in range(6)]  # fmt: skip
    assert [t.status_code for t in tries] == [401] * 5 + [429]
    assert 1 <= int(tries[-1].headers["retry-after"]) <= 60


def test_an_unknown_member_costs_a_login_as_long_as_a_known_one(sf):
    """Medians of interleaved tries, each from its own address (through a trusted proxy, so
    the rate limit does not answer instead): scrypt takes tens of milliseconds, an answer
    that skips it a few; a factor 3 either way keeps far from both."""
    project = prepare_team(sf)
    set_serve(project, trusted_proxies=["127.0.0.1"])
    timings: dict[str, list[float]] = {"marie": [], "nobody": []}
    with serving(project, "2026-11-20T10:00") as server:
        client = httpx.Client(base_url=server.url, timeout=10)
        token = csrf_of(client.get("/login").text)
        for attempt in range(16):
            member = ("marie", "nobody")[attempt % 2]
            form = {"member": member, "password": "wrong-one", "csrf": token}
            began = time.perf_counter()
            answer = client.post(
                "/login", data=form, headers={"X-Forwarded-For": f"10.0.0.{attempt}"}
            )
            timings[member].append(time.perf_counter() - began)
            assert answer.status_code == 401
    known, unknown = (statistics.median(timings[m]) for m in ("marie", "nobody"))
    assert known / 3 < unknown < known * 3, (known, unknown)
