"""`make screenshots`: PNGs of the board, the funnel and a deal page, from the README's demo
(build/demo/, as `make demo` leaves it), for the README. Needs Debian's chromium.

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "build" / "demo"
TARGET = REPO / "docs" / "screenshots"
SALESFLOW = Path(sys.executable).parent / "salesflow"
NOW = "2026-12-08T19:30"  # the end of the demo's two weeks
PASSWORD = "demo-password"
PAGES = {"board": "/", "funnel": "/funnel", "deal": "/deals/1"}
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic", "--disable-sync",
         "--disable-background-networking", "--disable-component-update"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serving(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [SALESFLOW, "--now", NOW, "serve", "--port", str(port), "--no-worker"], cwd=DEMO,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return server
        except OSError:
            time.sleep(0.1)
    raise SystemExit("salesflow serve did not start")


def main() -> None:
    chromium = os.environ.get("SALESFLOW_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        raise SystemExit("screenshots need chromium: apt-get install chromium")
    if not (DEMO / "salesflow.db").exists():
        raise SystemExit("run `make demo` first: the screenshots show its data")
    subprocess.run([SALESFLOW, "team", "password", "marie", "--stdin"], cwd=DEMO, check=True,
                   input=f"{PASSWORD}\n", text=True, stdout=subprocess.DEVNULL)  # fmt: skip
    TARGET.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = serving(port)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(f"http://127.0.0.1:{port}/login")
            page.fill("input[name=member]", "marie")
            page.fill("input[name=password]", PASSWORD)
            page.click("button.primary")
            for name, path in PAGES.items():
                page.goto(f"http://127.0.0.1:{port}{path}")
                page.screenshot(path=TARGET / f"{name}.png", full_page=True)
                print(f"wrote {(TARGET / f'{name}.png').relative_to(REPO)}")
            browser.close()
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
