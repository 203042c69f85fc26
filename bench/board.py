"""Benchmark: the board page (`GET /` of `salesflow serve`) with 100,000 open deals, against
its floor measured in the same run, alternating: the board report's own query and the
page's template rendered in a plain Python process, without HTTP, session or cookies.
Target: the page's time at most 2× the floor (median).

    .venv/bin/python bench/board.py [--deals 100000] [--runs 20]
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from common import SALESFLOW, Pair, Row, demo_project, free_port, main_of, ratio_row

from salesflow import clock
from salesflow.config.cache import load_project
from salesflow.reports.board import board
from salesflow.store.db import connect, transaction
from salesflow.store.session import Store
from salesflow.web.environment import environment
from salesflow.web.pages.board import CARDS

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


class Floor:
    """The board report's query and the page's template, in this process, on one
    connection kept open (as the server keeps its own)."""

    def __init__(self, project: Path):
        self.project = load_project(project)
        self.store = Store.open(self.project, clock.now(NOW, self.project.timezone))
        self.template = environment(self.project).get_template("board.html")

    def time(self) -> float:
        began = time.perf_counter()
        report = board(self.store, "cours-essai", CARDS, None, oldest_first=True)
        self.template.render(report=report, nav="board", owner=None, csrf="x" * 32, here="/",
                             query="", me=self.project.team["marie"],
                             pipeline=self.project.pipelines["cours-essai"])  # fmt: skip
        return time.perf_counter() - began


def signed_in(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    form = client.get("/login").text
    token = form.split('name="csrf" value="')[1].split('"')[0]
    answer = client.post("/login", data={"member": "marie", "password": PASSWORD, "csrf": token})
    assert answer.status_code == 303, answer.text
    return client


def page_time(client: httpx.Client) -> float:
    began = time.perf_counter()
    answer = client.get("/")
    elapsed = time.perf_counter() - began
    assert answer.status_code == 200 and "data-stage" in answer.text
    return elapsed


def measure(scratch: Path, deals: int, runs: int) -> list[Row]:
    project = scratch / "project"
    build(project, deals)
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
        floor = Floor(project)
        page_time(client), floor.time()  # the first of each compiles the templates
        floors, ratios = [], []
        for _ in range(runs):
            floors.append(floor.time())
            ratios.append(page_time(client) / floors[-1])
    finally:
        server.terminate()
        server.wait(30)
    return [ratio_row(f"board page, {deals:,} open deals", "report + template",
                      Pair(min(floors), ratios), 2)]  # fmt: skip


if __name__ == "__main__":
    sys.exit(main_of(__doc__, measure, deals=100_000, runs=20))
