"""Benchmark: 1,000 messages to a local SMTP server (aiosmtpd on 127.0.0.1), one delivery
pass over one reused connection against one connection per message, in the same run; then
the at-least-once window: how long after the server's "250 accepted" a message is recorded
`sent` (a kill inside that window sends it again).

    .venv/bin/python bench/delivery.py [--messages 1000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from smtp_server import Recorder, SmtpServer  # noqa: E402

from salesflow.config.cache import load_project  # noqa: E402
from salesflow.mail.compose import queue  # noqa: E402
from salesflow.mail.mime import build  # noqa: E402
from salesflow.mail.transports import Smtp  # noqa: E402
from salesflow.store.db import transaction  # noqa: E402
from salesflow.store.session import Store  # noqa: E402
from salesflow.values import parse_datetime  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, SmtpServer(Recorder()) as server:
        project = Path(scratch) / "project"
        project.mkdir()
        smtp = f"smtp: {{host: 127.0.0.1, port: {server.port}, security: none}}"
        demo = (REPO / "salesflow.yaml").read_text()
        settings = demo.replace(
            "  transport: outbox             # .eml files in outbox/, no server needed",
            f"  transport: smtp\n  {smtp}",
        )
        (project / "salesflow.yaml").write_text(settings)
        shutil.copytree(REPO / "pipelines", project / "pipelines")
        shutil.copytree(REPO / "workflows", project / "workflows")
        loaded = load_project(project)
        store = Store.open(loaded, parse_datetime("2026-11-22T10:00", "fr_FR", loaded.timezone))
        with transaction(store.conn):
            for n in range(args.messages):
                queue(store, None, None, ("Inès Bréval", f"p{n}@example.org"), "Bienvenue Inès !",
                      "Bonjour Inès,\n\nà samedi !\n" * 10, None, prospect=True)  # fmt: skip
        messages = [build(row, loaded) for row in store.conn.execute("SELECT * FROM outbox")]
        transport = Smtp(loaded.email)

        began = time.perf_counter()
        with transport.session() as send:
            for message in messages:
                send(message, "")
        reused = time.perf_counter() - began

        began = time.perf_counter()
        for message in messages:
            with transport.session() as send:
                send(message, "")
        separate = time.perf_counter() - began
        window = at_least_once_window(store)
    assert len(server.handler.messages) == 2 * args.messages
    print(f"one reused connection:       {args.messages / reused:7.0f} messages/s")
    print(f"one connection per message:  {args.messages / separate:7.0f} messages/s")
    print(f"reuse is {separate / reused:.1f}× faster")
    print(
        f"at-least-once window (accepted → recorded sent): median {statistics.median(window):.0f}"
        f" µs, max {max(window):.0f} µs over {len(window)} messages"
    )
    return 0


def at_least_once_window(store: Store) -> list[float]:
    """The time `deliver` takes, after the transport returned, to commit a message `sent`."""
    from salesflow.outbox.claims import claim
    from salesflow.outbox.courier import Courier, DeliveryResult, Kind

    rows = claim(store, "bench:1:a", 100_000)
    courier = Courier(store, "bench:1:a", Kind("email", None, 8, 500), DeliveryResult())
    window = []
    for row in rows:
        began = time.perf_counter()
        courier._sent(row, "accepted")
        window.append((time.perf_counter() - began) * 1e6)
    return window


if __name__ == "__main__":
    sys.exit(main())
