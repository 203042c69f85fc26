"""Bench (issue #24, case 2): one receiver that hangs must hold up no other message. An email
and a request to a healthy local target are queued behind requests to 10 local targets that
never answer and 2 that trickle one byte a second (deadline `timeout: 30s`); `salesflow run`
delivers them. PASS when the email and the healthy request both left before the first
hanging request reached its deadline. Three runs, each in a fresh scratch project.

    .venv/bin/python bench/slow_receivers.py [--runs 3] [--deadline 30]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from salesflow.config.cache import load_project  # noqa: E402
from salesflow.mail.compose import queue as queue_email  # noqa: E402
from salesflow.store.db import transaction  # noqa: E402
from salesflow.store.session import Store  # noqa: E402
from salesflow.values import parse_datetime  # noqa: E402
from salesflow.webhooks.request import queue as queue_request  # noqa: E402

NOW = "2026-11-22T10:00"


class Target:
    """A local HTTP server that answers `healthy`, `hang`s or `trickle`s; records when the
    first request arrived."""

    def __init__(self, how: str, release: threading.Event):
        target = self
        self.arrived: float | None = None

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                target.arrived = target.arrived or time.time()
                if how == "hang":
                    release.wait()
                    return
                if how == "trickle":
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
                    while not release.wait(1):
                        self.wfile.write(b".")
                        self.wfile.flush()
                    return
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/in"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def scratch_project(folder: Path, deadline: int) -> Path:
    project = folder / "project"
    project.mkdir()
    settings = (REPO / "salesflow.yaml").read_text()
    (project / "salesflow.yaml").write_text(
        settings + f"\nwebhooks: {{transport: http, timeout: {deadline}s, max_attempts: 3}}\n"
    )
    shutil.copytree(REPO / "pipelines", project / "pipelines")
    shutil.copytree(REPO / "workflows", project / "workflows")
    return project


def queue_all(project: Path, slow: list[Target], healthy: Target) -> None:
    """The slow receivers' requests first, then the email and the healthy request."""
    loaded = load_project(project)
    store = Store.open(loaded, parse_datetime(NOW, "fr_FR", loaded.timezone))
    with transaction(store.conn):
        for target in slow:
            queue_request(store, None, None, "POST", [target.url], {}, '{"n": 1}')
        queue_email(store, None, None, ("Inès Bréval", "ines@example.org"), "Bienvenue !",
                    "Bonjour Inès,\n", None, prospect=True)  # fmt: skip
        queue_request(store, None, None, "POST", [healthy.url], {}, '{"n": 1}')
    store.conn.close()


def deliver(project: Path, deadline: int) -> str:
    """`salesflow run`, stopped if it takes more than twice the deadline (and 30 s)."""
    command = [sys.executable, "-m", "salesflow", "--project", project, "--now", NOW, "run"]
    try:
        done = subprocess.run(command, capture_output=True, timeout=2 * deadline + 30)
    except subprocess.TimeoutExpired:
        return "was killed, not done,"
    return f"ended (exit {done.returncode})"


def one_run(number: int, deadline: int) -> bool:
    release = threading.Event()
    hanging = [Target("hang", release) for _ in range(10)]
    trickling = [Target("trickle", release) for _ in range(2)]
    healthy = Target("healthy", release)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            project = scratch_project(Path(scratch), deadline)
            queue_all(project, hanging + trickling, healthy)
            began = time.time()
            ended = deliver(project, deadline)
            took = time.time() - began
            emails = [email.stat().st_mtime for email in (project / "outbox").glob("*.eml")]
            first_hang = min(target.arrived or began for target in hanging)
            due = first_hang + deadline - began
            emailed = (emails[0] if emails else float("inf")) - began
            requested = (healthy.arrived or float("inf")) - began
    finally:
        release.set()
        for target in (*hanging, *trickling, healthy):
            target.close()
    passed = max(emailed, requested) < due
    print(
        f"run {number}: email sent {_at(emailed)}, healthy request sent {_at(requested)};"
        f" the first hanging request reaches its deadline at {due:.2f} s;"
        f" `salesflow run` {ended} after {took:.1f} s"
    )
    print(f"run {number}: {'PASS' if passed else 'FAIL'}")
    return passed


def _at(seconds: float) -> str:
    return f"at {seconds:.2f} s" if seconds != float("inf") else "never"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--deadline", type=int, default=30)
    args = parser.parse_args()
    results = [one_run(number, args.deadline) for number in range(1, args.runs + 1)]
    print(f"{sum(results)} of {len(results)} runs passed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
