"""Chaos bench: whatever happens to `serve`, no acknowledged submission is lost and nothing is
done twice. Not part of `make test` (a few minutes); run it after changing `serve`, the
worker, the outbox or the store.

1. 2,000 submissions of the demo's trial-lesson form are posted, 8 at a time, to `salesflow
   serve` with its worker (folder transport: .eml files), each one again until a 2xx, as a
   form provider retries; meanwhile `serve` is SIGKILLed and restarted 4 times (at random
   moments between posts, requests and worker passes under way).
2. Two `serve` on the same database take 500 more, one in five posted to both (a provider's
   retry that lands on the other host).
3. Both stop (SIGTERM); a final `salesflow run`, an hour later on the clock (leases taken by
   the killed processes have run out), drains what is left.

Then it counts, from the database and outbox/: acknowledged (posts answered 2xx), stored
(their event and contact), welcomed (their welcome email written), doubled (a submission
with two events or two runs, or two welcome emails for one person) and lost (acknowledged,
but not stored or not welcomed). Exits 1 unless lost and doubled are 0.

    .venv/bin/python bench/chaos.py [--posts 2000] [--kills 4] [--pair 500] [--seed 24]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from pathlib import Path

from common import NOW, SALESFLOW, demo_project, free_port
from serve import Client

AT_ONCE = 8  # posts in flight
RETRY_FOR = 120.0  # seconds a submission is posted again before it counts as never acknowledged
LATER = "2026-11-22T11:00"  # the final run's clock: an hour after the servers' (NOW)


@dataclass
class Tally:
    acknowledged: set[int] = field(default_factory=set)  # submissions answered 2xx
    retried: int = 0  # posts that got no answer (or not a 2xx), then were sent again


def address(number: int) -> str:
    return f"chaos.{number}@example.org"


def submission(number: int) -> bytes:
    return json.dumps({"submissionId": f"chaos-{number}", "email": address(number),
                       "prenom": "Inès", "nom": "Bréval", "telephone": "0612345678",
                       "date_essai": "2030-12-05T18:30"}).encode()  # fmt: skip


class Serve:
    """`salesflow serve` with its worker on one port, in a process of its own."""

    def __init__(self, project: Path, port: int, log: Path):
        self.project, self.port, self.log = project, port, log
        self.process: subprocess.Popen | None = None

    def start(self) -> Serve:
        command = [SALESFLOW, "--project", self.project, "--now", NOW, "serve",
                   "--port", str(self.port)]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([str(part) for part in command], stderr=log,
                                            stdout=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"serve did not start: see {self.log}") from None
                time.sleep(0.05)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        if self.process.wait(timeout=90) != 0:
            raise SystemExit(f"serve did not stop cleanly: see {self.log}")


async def post_until_acknowledged(client: Client, number: int, tally: Tally) -> None:
    """Post one submission again and again until it gets a 2xx, as a provider would."""
    deadline = time.monotonic() + RETRY_FOR
    while time.monotonic() < deadline:
        try:
            status = await asyncio.wait_for(client.post("/forms/cours-essai",
                                                        submission(number)), 10)  # fmt: skip
        except (TimeoutError, OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            status = 0  # the server is down, or was killed while answering
        if 200 <= status < 300:
            tally.acknowledged.add(number)
            return
        tally.retried += 1
        await asyncio.sleep(0.05)


async def post_all(targets: list[tuple[Client, range]], tally: Tally) -> None:
    """Each (client, numbers) pair posted, AT_ONCE posts in flight in all."""
    slots = asyncio.Semaphore(AT_ONCE)

    async def one(client: Client, number: int) -> None:
        async with slots:
            await post_until_acknowledged(client, number, tally)

    await asyncio.gather(*(one(client, n) for client, numbers in targets for n in numbers))


async def kill_now_and_then(server: Serve, tally: Tally, posts: int, kills: int,
                            chance: random.Random) -> None:  # fmt: skip
    """SIGKILL `server` each time another posts/(kills+1) are acknowledged (plus up to 0.3 s,
    so that the kill lands at any point of a request or a pass), then start it again."""
    for kill in range(1, kills + 1):
        while len(tally.acknowledged) < kill * posts // (kills + 1):
            await asyncio.sleep(0.01)
        await asyncio.sleep(chance.uniform(0, 0.3))
        server.kill()
        await asyncio.to_thread(server.start)


def phase_kills(project: Path, log: Path, tally: Tally, posts: int, kills: int, seed: int) -> None:
    server = Serve(project, free_port(), log).start()

    async def run() -> None:
        chaos = asyncio.create_task(kill_now_and_then(server, tally, posts, kills,
                                                      random.Random(seed)))  # fmt: skip
        await post_all([(Client(server.port), range(posts))], tally)
        await chaos

    asyncio.run(run())
    server.stop()


def phase_pair(project: Path, log: Path, tally: Tally, first: int, count: int) -> None:
    one, other = Serve(project, free_port(), log).start(), Serve(project, free_port(), log).start()
    numbers = range(first, first + count)
    asyncio.run(post_all([(Client(one.port), numbers), (Client(other.port), numbers[::5])], tally))
    one.stop()
    other.stop()


def welcome_files(outbox: Path) -> Counter:
    """Welcome emails written to outbox/, per recipient."""
    parser, written = BytesHeaderParser(), Counter()
    for path in outbox.glob("*.eml"):
        with path.open("rb") as file:
            headers = parser.parse(file)
        if str(headers["Subject"]).startswith("Bienvenue"):
            written[parseaddr(str(headers["To"]))[1]] += 1
    return written


def count(project: Path, tally: Tally, posted: int) -> tuple[dict[str, int], bool]:
    """The table's figures, and whether nothing was lost or doubled."""
    database = sqlite3.connect(f"file:{project / 'salesflow.db'}?mode=ro", uri=True)
    events = Counter(
        email
        for (email,) in database.execute(
            "SELECT json_extract(data, '$.email') FROM events WHERE type = 'form.submitted'"
        )
    )
    contacts = {email for (email,) in database.execute("SELECT email FROM contacts")}
    runs = Counter(
        email
        for (email,) in database.execute(
            "SELECT contacts.email FROM runs JOIN contacts ON contacts.id = runs.contact_id"
            " WHERE runs.workflow = 'essai-formulaire'"
        )
    )
    queued = Counter(
        address
        for (address,) in database.execute("SELECT to_addr FROM outbox WHERE step = 'bienvenue'")
    )
    written = welcome_files(project / "outbox")
    acknowledged = tally.acknowledged
    stored = {n for n in acknowledged if events[address(n)] and address(n) in contacts}
    welcomed = {n for n in acknowledged if written[address(n)]}
    doubled = {
        n
        for n in range(posted)
        if max(events[address(n)], runs[address(n)], queued[address(n)], written[address(n)]) > 1
    }
    lost = acknowledged - (stored & welcomed)
    figures = {
        "submissions": posted,
        "posts unanswered (server killed), sent again": tally.retried,
        "acknowledged (2xx)": len(acknowledged),
        "stored (event + contact)": len(stored),
        "welcomed (welcome .eml written)": len(welcomed),
        "doubled (2 events, runs or welcome emails)": len(doubled),
        "lost (acknowledged, not stored or not welcomed)": len(lost),
    }
    return figures, not lost and not doubled


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--pair", type=int, default=500)
    parser.add_argument("--seed", type=int, default=24)
    args = parser.parse_args()
    os.environ.pop("SALESFLOW_NOW", None)
    os.environ.setdefault("CANAL_PROFS", "chaos")  # the demo's http step names it
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        project = demo_project(Path(scratch) / "demo")
        log = Path(scratch) / "serve.log"
        tally = Tally()
        phase_kills(project, log, tally, args.posts, args.kills, args.seed)
        phase_pair(project, log, tally, args.posts, args.pair)
        subprocess.run([SALESFLOW, "--project", project, "--now", LATER, "run"], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        figures, met = count(project, tally, args.posts + args.pair)
        tracebacks = log.read_text(errors="replace").count("Traceback")
    width = max(map(len, figures))
    print(f"chaos: {args.kills} SIGKILLs of serve, then two serve on one database,"
          f" {time.monotonic() - began:.0f} s")  # fmt: skip
    for measure, value in figures.items():
        print(f"  {measure.ljust(width)}  {value:>6}")
    print(f"  {'tracebacks in the servers’ log'.ljust(width)}  {tracebacks:>6}")
    print("met: 0 lost, 0 doubled" if met else "NOT MET: something was lost or doubled")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
