"""Benchmark: `salesflow serve` taking form posts, open loop, against its floor in the same
run, on 127.0.0.1 only.

- Posts are sent at a fixed rate whatever the answers (100, 200, 400 a second, 10 s each) to
  `salesflow serve --no-worker` on the demo, and at the same rates to bench/floor_serve.py (a
  bare Starlette endpoint doing the same single INSERT + commit). Per rate: accepted, errors,
  p50 / p99 latency counted from the moment each post was due (so a server that falls behind
  is not flattered), and our p99 against the floor's. Target at 200/s: no error, p99 ≤ 2×.
- With the worker on, 20 submissions a second for 10 s: from each post to its welcome email
  queued in the outbox, p99 < 3 s.

Every phase is bounded; the servers are stopped at the end.

    .venv/bin/python bench/serve.py [--seconds 10] [--rates 100,200,400] [--runs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from common import PYTHON, REPO, SALESFLOW, Failed, Row, demo_project, free_port, print_table

TIMEOUT = 10.0  # seconds a post may take before it counts as an error
_numbers = itertools.count()


def submission() -> bytes:
    """The demo's trial-lesson form, a new person each time."""
    n = next(_numbers)
    return json.dumps({"submissionId": f"b{n}", "email": f"bench.{n}@example.org",
                       "prenom": "Inès", "nom": "Bréval", "telephone": "0612345678",
                       "date_essai": "2030-12-05T18:30"}).encode()  # fmt: skip


class Client:
    """HTTP/1.1 posts over kept-alive connections, a few lines of asyncio: httpx costs about a
    millisecond of CPU a request, which on two cores would be measured with the server."""

    KEPT = 4.0  # seconds a connection is reused after its last answer (uvicorn closes at 5)

    def __init__(self, port: int):
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []

    async def connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        now = asyncio.get_running_loop().time()
        while self.idle:
            reader, writer, used = self.idle.pop()
            if now - used < self.KEPT:
                return reader, writer
            writer.close()
        return await asyncio.open_connection("127.0.0.1", self.port)

    async def post(self, path: str, body: bytes) -> int:
        reader, writer = await self.connection()
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        self.idle.append((reader, writer, asyncio.get_running_loop().time()))
        return status


@dataclass
class Load:
    rate: int
    latencies: list[float] = field(default_factory=list)  # seconds, of the accepted posts
    sent: dict[str, float] = field(default_factory=dict)  # email → when its post was due
    errors: Counter = field(default_factory=Counter)  # status (0: no answer) → how many

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


async def open_loop(port: int, rate: int, seconds: float) -> Load:
    """Post at `rate` a second for `seconds`, each post on time whatever the answers."""
    client, load, loop = Client(port), Load(rate), asyncio.get_running_loop()

    async def one(due: float, body: bytes) -> None:
        try:
            status = await asyncio.wait_for(client.post("/forms/cours-essai", body), TIMEOUT)
        except (TimeoutError, OSError, ValueError, IndexError):
            status = 0
        if status == 202:
            load.latencies.append(loop.time() - due)
            load.sent[json.loads(body)["email"]] = time.time() - (loop.time() - due)
        else:
            load.errors[status] += 1

    start, posts = loop.time() + 0.05, []
    for n in range(int(rate * seconds)):
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        posts.append(asyncio.create_task(one(due, submission())))
    await asyncio.gather(*posts)
    return load


def started(command: list, port: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`command` serving on `port`, once it answers (a few posts warm it up)."""
    command = [str(part) for part in command]
    server = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/forms/cours-essai",
                submission(),
                {"Content-Type": "application/json"},
            )
            urllib.request.urlopen(request, timeout=2)  # fmt: skip
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise Failed(f"{command[1]} did not start") from None
            time.sleep(0.1)
    asyncio.run(open_loop(port, 50, 0.5))
    return server


def serve_command(project: Path, port: int, *options: str) -> list:
    return [SALESFLOW, "--project", project, "serve", "--port", port, *options]


def posts(scratch: Path, rates: list[int], seconds: float, runs: int) -> list[Row]:
    ours_port, floor_port = free_port(), free_port()
    project = demo_project(scratch / "project")
    floor_command = [PYTHON, REPO / "bench" / "floor_serve.py", scratch / "floor.db", floor_port]
    servers = [
        started(serve_command(project, ours_port, "--no-worker"), ours_port),
        started(floor_command, floor_port),
    ]
    rows = []
    try:
        for rate in rates:
            pairs = []
            for _ in range(runs):
                floor = asyncio.run(open_loop(floor_port, rate, seconds))
                ours = asyncio.run(open_loop(ours_port, rate, seconds))
                pairs.append((floor, ours))
            rows.append(rate_row(rate, pairs))
    finally:
        for server in servers:
            server.terminate()
            server.wait(30)
    return rows


def rate_row(rate: int, pairs: list[tuple[Load, Load]]) -> Row:
    ratios = [ours.percentile(0.99) / floor.percentile(0.99) for floor, ours in pairs]
    floor, ours = pairs[-1]
    errors = sum((ours.errors for _, ours in pairs), Counter())
    accepted = sum(len(ours.latencies) for _, ours in pairs)
    return Row(
        f"serve {rate} posts/s: {accepted} accepted, {said(errors)},"
        f" p50 {ours.percentile(0.5) * 1000:.1f} ms, p99 {ours.percentile(0.99) * 1000:.1f} ms",
        f"bare Starlette p99 {floor.percentile(0.99) * 1000:.1f} ms ({said(floor.errors)})",
        f"{min(ratios):.2f}× / {statistics.median(ratios):.2f}×",
        "no error, p99 ≤ 2×" if rate == 200 else "(shown)",
        rate != 200 or (not errors and statistics.median(ratios) <= 2),
    )


def said(errors: Counter) -> str:
    """`no error`, or `4 errors (503: 3, no answer: 1)`."""
    if not errors:
        return "no error"
    kinds = ", ".join(f"{status or 'no answer'}: {n}" for status, n in sorted(errors.items()))
    return f"{sum(errors.values())} errors ({kinds})"


def welcome_delay(scratch: Path, seconds: float) -> Row:
    """With the worker on: from each post to its welcome email in the outbox."""
    port = free_port()
    project = demo_project(scratch / "worker")
    server = started(serve_command(project, port), port)
    try:
        load, queued = asyncio.run(posts_and_outbox(port, project / "salesflow.db", seconds))
    finally:
        server.terminate()
        server.wait(30)
    delays = sorted(queued[email] - due for email, due in load.sent.items() if email in queued)
    missing = len(load.sent) - len(delays)
    p99 = delays[min(len(delays) - 1, int(0.99 * len(delays)))] if delays else float("inf")
    return Row(
        f"worker on, 20 posts/s: post → welcome email queued ({len(delays)} emails,"
        f" {missing} missing, {said(load.errors)})",
        "—",
        f"p50 {statistics.median(delays) if delays else 0:.2f} s / p99 {p99:.2f} s",
        "p99 < 3 s",
        p99 < 3 and missing == 0 and not load.errors,
    )


async def posts_and_outbox(port: int, database: Path, seconds: float):
    """Post 20 a second while watching the outbox (every 50 ms) for each welcome email."""
    queued: dict[str, float] = {}
    watching = asyncio.create_task(watch_outbox(database, queued))
    load = await open_loop(port, 20, seconds)
    deadline = time.time() + 30
    while set(load.sent) - set(queued) and time.time() < deadline:
        await asyncio.sleep(0.1)
    watching.cancel()
    return load, queued


async def watch_outbox(database: Path, queued: dict[str, float]) -> None:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    last = 0
    while True:
        rows = connection.execute(
            "SELECT id, to_addr FROM outbox WHERE id > ? AND subject LIKE 'Bienvenue%'", (last,)
        ).fetchall()
        for number, address in rows:
            queued.setdefault(address, time.time())
            last = max(last, number)
        await asyncio.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rates", default="100,200,400")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    os.environ.pop("SALESFLOW_NOW", None)  # the worker runs on the real clock
    with tempfile.TemporaryDirectory() as scratch:
        rows = posts(Path(scratch), [int(r) for r in args.rates.split(",")], args.seconds,
                     args.runs)  # fmt: skip
        rows.append(welcome_delay(Path(scratch), args.seconds))
    print_table(rows)
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
