"""Benchmark: the board page (`GET /` of `salesflow serve`) with 100,000 open deals against
the same page with 1,000, both served in the same run and timed alternately (A B A B…), each
through its own real server (HTTP, session, template). Its cost should be that of its stages,
not of its deals (per-stage totals kept as deals change, migration 23; its growth behind
`serve` was Nagle's algorithm against the client's delayed ACK, 40 ms on about half the
pages at any size, until serve's connections had TCP_NODELAY). Target: the page at
100,000 deals at most 1.5× the page at 1,000 (median). No floor: the page at 1,000 deals is
the reference (a floor calling our own board() could not see a scan of every deal).

    .venv/bin/python bench/board.py [--deals 100000] [--runs 20]
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from common import SALESFLOW, Row, demo_project, free_port, main_of, paired, ratio_row

from salesflow.store.db import connect, transaction

NOW = "2026-12-01T09:00"
OPEN_STAGES = ["nouveau", "essai-planifie", "essai-realise"]
PASSWORD = "bench-password"


def build(project: Path, deals: int) -> None:
    """The demo project with `deals` open deals, each with its contact."""
    demo_project(project)
    fill(project, connect(project / "salesflow.db"), deals)


def fill(project: Path, connection, deals: int, env: dict[str, str] | None = None) -> None:
    """A password for marie (to sign in) and `deals` open deals, each with its contact, in
    the database of `connection` (SALESFLOW_DB in `env` names it to the command); closes it."""
    subprocess.run([SALESFLOW, "--project", project, "team", "password", "marie", "--stdin"],
                   input=f"{PASSWORD}\n", text=True, check=True, capture_output=True,
                   env=env)  # fmt: skip
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    stamp = start.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    rows = []
    for deal_id in range(1, deals + 1):
        entered = start + timedelta(seconds=rng.random() * 300 * 86400)
        rows.append((
            rng.choice(OPEN_STAGES), f"Deal {deal_id}", deal_id,
            rng.choice(["marie", "paul", None]), rng.randrange(5000, 50000), stamp,
            entered.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        ))  # fmt: skip
    with transaction(connection):
        connection.executemany(
            "INSERT INTO contacts (email, first_name, created_at, updated_at) VALUES (?, ?, ?, ?)",
            [(f"p{n}@example.org", f"Prospect {n}", stamp, stamp) for n in range(deals)],
        )
        connection.executemany(
            "INSERT INTO deals (pipeline, stage, status, title, contact_id, owner, amount,"
            " currency, created_at, stage_entered_at) VALUES ('cours-essai', ?, 'open', ?, ?, ?,"
            " ?, 'EUR', ?, ?)",
            rows,
        )
    connection.execute("ANALYZE")
    connection.close()


def signed_in(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    form = client.get("/login").text
    token = form.split('name="csrf" value="')[1].split('"')[0]
    answer = client.post("/login", data={"member": "marie", "password": PASSWORD, "csrf": token})
    assert answer.status_code == 303, answer.text
    return client


def page_time(client: httpx.Client, path: str = "/") -> float:
    began = time.perf_counter()
    answer = client.get(path)
    elapsed = time.perf_counter() - began
    assert answer.status_code == 200, answer.text
    assert path != "/" or "data-stage" in answer.text
    return elapsed


@contextmanager
def serving(project: Path, deals: int | None = None) -> Iterator[httpx.Client]:
    """`serve --no-worker` on the project at the bench's time, and a client signed in as
    marie; its first request has compiled the templates. With `deals`: the board must count
    them all (a page fast because its totals are wrong measures nothing)."""
    port = free_port()
    server = subprocess.Popen(
        [SALESFLOW, "--project", project, "--now", NOW, "serve", "--port", str(port),
         "--no-worker"], stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                client = signed_in(f"http://127.0.0.1:{port}")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        page_time(client)
        counted = client.get("/.json").json()["totals"]["count"]
        if deals is not None and counted != deals:
            raise AssertionError(f"the board counts {counted:,} deals of {deals:,}: no ratio")
        yield client
    finally:
        server.terminate()
        server.wait(30)


def measure(scratch: Path, deals: int, runs: int) -> list[Row]:
    small, big = scratch / "small", scratch / "big"
    build(small, 1_000)
    build(big, deals)
    with serving(small, 1_000) as few, serving(big, deals) as many:
        pair = paired(lambda: page_time(few), lambda: page_time(many), runs)
    return [ratio_row(f"board page, {deals:,} open deals vs 1,000", "the page at 1,000",
                      pair, 1.5)]  # fmt: skip


if __name__ == "__main__":
    sys.exit(main_of(__doc__, measure, deals=100_000, runs=20))
