"""Benchmark: a form's welcome email with `salesflow serve`'s worker on, against a floor
that needs no worker, in the same run, open loop, on 127.0.0.1 only.

Posts of the demo's trial-lesson form are sent at a fixed rate whatever the answers (50 and
200 a second, a few seconds each) to `salesflow serve` (its worker on, woken by each write)
and to bench/floor_serve.py, which records the submission and runs the workflows for it at
once inside the request (salesflow's own code: the floor the issue defines, no queueing
delay). From the moment each post was due (so a server that falls behind is not flattered)
to its welcome email seen in the outbox by a reader polling every 2 ms, the same reader for
both: p50 and p99, and our p99 against the floor's, pair by pair (floor, ours, floor, ours…).
Target at each rate: every email queued, no error, p99 ≤ 2× the floor's (median of the
pairs). The machine's load is in each row. Once done, the posts either server refused
(counted in its row) are posted to it again, one at a time and untimed, as a client told to
come back would; then the two databases must hold as many rows in each table
(common.same_rows), or no ratio is shown.

    .venv/bin/python bench/serve.py [--seconds 5] [--rates 50,200] [--runs 2]
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
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from common import (
    PYTHON,
    REPO,
    SALESFLOW,
    Failed,
    Row,
    RowsDiffer,
    attempt,
    demo_project,
    free_port,
    print_table,
    same_rows,
)

TIMEOUT = 10.0  # seconds a post may take before it counts as an error
QUEUED_WITHIN = 30.0  # seconds after the last post an email may still come; later: missing
LOOK_EVERY = 0.002  # seconds between the outbox reader's looks
RATES = (50, 200)
TARGET = 2.0  # our p99 against the floor's
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
    refused: list[bytes] = field(default_factory=list)  # the posts not accepted

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
            load.refused.append(body)

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
            post_once(port, submission())
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise Failed(f"{command[1]} did not start") from None
            time.sleep(0.1)
    asyncio.run(open_loop(port, 50, 0.5))
    return server


def post_once(port: int, body: bytes) -> None:
    """One post, answered 2xx (else urllib raises an OSError)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/forms/cours-essai", body,
                                     {"Content-Type": "application/json"})  # fmt: skip
    urllib.request.urlopen(request, timeout=TIMEOUT)


def posted_again(port: int, body: bytes) -> None:
    """A post refused (503) or unanswered in time, posted until accepted, for up to a
    minute. Safe for one the server took after all: its `submissionId` is its key."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return post_once(port, body)
        except urllib.error.HTTPError as error:
            if error.code != 503 or time.monotonic() > deadline:
                raise
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def serve_command(project: Path, port: int, *options: str) -> list:
    return [SALESFLOW, "--project", project, "serve", "--port", port, *options]


def measure(
    scratch: Path, seconds: float = 5.0, runs: int = 2, rates: tuple[int, ...] = RATES
) -> list[Row]:
    """One row per rate: post → welcome email queued, ours against the floor's, paired."""
    ours, floor = demo_project(scratch / "serve"), demo_project(scratch / "floor")
    ours_port, floor_port = free_port(), free_port()
    env = {name: value for name, value in os.environ.items() if name != "SALESFLOW_NOW"}
    servers = [started(serve_command(ours, ours_port), ours_port, env)]  # the real clock
    try:
        servers.append(started([PYTHON, REPO / "bench" / "floor_serve.py", floor, floor_port],
                               floor_port, env))  # fmt: skip
        rows, refused = [], {floor_port: [], ours_port: []}
        for rate in rates:
            pairs = [(welcomes(floor_port, floor, rate, seconds),
                      welcomes(ours_port, ours, rate, seconds)) for _ in range(runs)]  # fmt: skip
            rows.append(rate_row(rate, pairs))
            for side in pairs:
                refused[floor_port] += side[0].load.refused
                refused[ours_port] += side[1].load.refused
        for port, bodies in refused.items():  # as the client told to come back would, untimed:
            for body in bodies:  # so that both databases hold every submission (the refusals
                posted_again(port, body)  # are counted in the rows all the same)
        drained(ours / "salesflow.db")
    finally:
        for server in servers:
            server.terminate()  # serve ends its pass and the sending under way: bounded
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    # what the worker does besides (a schedule's bookkeeping), done on the floor's database
    # too, untimed: then each table must hold as many rows
    subprocess.run([SALESFLOW, "--project", floor, "run"], check=True, env=env,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        same_rows(ours / "salesflow.db", floor / "salesflow.db", "serve's welcome emails")
    except RowsDiffer as differ:  # the rows stay, to say what went wrong; their ratios go
        return [replace(row, value=f"no ratio: {differ}", met=False) for row in rows]
    return rows


def drained(database: Path) -> None:
    """Wait (a bounded time) for the worker to handle every event, so that the row census
    compares finished work; emails queued too late for a row were counted missing in it."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    deadline = time.monotonic() + 2 * QUEUED_WITHIN
    pending = "SELECT count(*) FROM events WHERE processed_at IS NULL AND failed_at IS NULL"
    while connection.execute(pending).fetchone()[0] and time.monotonic() < deadline:
        time.sleep(0.1)
    connection.close()


@dataclass
class Welcomes:
    load: Load
    delays: list[float]  # seconds from each post's due time to its welcome email queued
    missing: int  # accepted posts whose email was not queued within QUEUED_WITHIN

    def percentile(self, share: float) -> float:
        if self.missing or not self.delays:
            return float("inf")
        ordered = sorted(self.delays)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def welcomes(port: int, project: Path, rate: int, seconds: float) -> Welcomes:
    """Post at `rate` for `seconds` while reading the outbox, until every accepted post's
    welcome email is there (or QUEUED_WITHIN has passed)."""
    outbox = Outbox(project / "salesflow.db")
    outbox.start()
    try:
        load = asyncio.run(open_loop(port, rate, seconds))
        deadline = time.monotonic() + QUEUED_WITHIN
        while set(load.sent) - set(outbox.queued) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        outbox.stopping.set()
        outbox.join()
    queued = outbox.queued
    delays = [queued[email] - due for email, due in load.sent.items() if email in queued]
    return Welcomes(load, delays, len(load.sent) - len(delays))


class Outbox(threading.Thread):
    """When each welcome email appeared in the outbox (wall clock), read every LOOK_EVERY
    seconds from the rows queued after it started."""

    def __init__(self, database: Path):
        super().__init__(daemon=True)
        self.connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True,
                                          check_same_thread=False)  # fmt: skip
        self.last = self.connection.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0]
        self.queued: dict[str, float] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            rows = self.connection.execute(
                "SELECT id, to_addr FROM outbox WHERE id > ? AND subject LIKE 'Bienvenue%'",
                (self.last,),
            ).fetchall()
            seen = time.time()
            for number, address in rows:
                self.queued.setdefault(address, seen)
                self.last = max(self.last, number)
            time.sleep(LOOK_EVERY)
        self.connection.close()


def rate_row(rate: int, pairs: list[tuple[Welcomes, Welcomes]]) -> Row:
    ratios = [ours.percentile(0.99) / floor.percentile(0.99) for floor, ours in pairs]
    floor, ours = pairs[-1]
    errors = sum((ours.load.errors for _, ours in pairs), Counter())
    missing = sum(ours.missing for _, ours in pairs)
    floor_errors = sum((floor.load.errors for floor, _ in pairs), Counter())
    floor_missing = sum(floor.missing for floor, _ in pairs)
    median = statistics.median(ratios)
    return Row(
        f"serve {rate} posts/s, post → welcome email queued: p50 {ms(ours.percentile(0.5))},"
        f" p99 {ms(ours.percentile(0.99))} ({sum(len(o.delays) for _, o in pairs)} emails,"
        f" {missing} missing, {said(errors)}; load {os.getloadavg()[0]:.1f})",
        f"workflow in the request: p50 {ms(floor.percentile(0.5))},"
        f" p99 {ms(floor.percentile(0.99))} ({floor_missing} missing, {said(floor_errors)})",
        f"{min(ratios):.2f}× / {median:.2f}×",
        f"p99 ≤ {TARGET:g}× (median), none missing",
        median <= TARGET and not missing and not errors,
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def said(errors: Counter) -> str:
    """`no error`, or `4 errors (503: 3, no answer: 1)`."""
    if not errors:
        return "no error"
    kinds = ", ".join(f"{status or 'no answer'}: {n}" for status, n in sorted(errors.items()))
    return f"{sum(errors.values())} errors ({kinds})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rates", default=",".join(map(str, RATES)))
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    rates = tuple(int(rate) for rate in args.rates.split(","))
    with tempfile.TemporaryDirectory() as scratch:
        rows = attempt("serve: post → welcome email queued", f"p99 ≤ {TARGET:g}×",
                       lambda: measure(Path(scratch), args.seconds, args.runs, rates))  # fmt: skip
    print_table(rows)
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
