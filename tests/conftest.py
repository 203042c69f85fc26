"""Shared fixtures: real project folders in tmp dirs, the real CLI, the pages in this process
and the real `serve` for what travels over the network."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, settings
from typer.testing import CliRunner

from salesflow.cli.app import register
from salesflow.config.project import load_project
from salesflow.web.app import build_app
from salesflow.web.site import Site

pytest_plugins = ["postgres", "dovecot"]  # tests/postgres.py, tests/dovecot.py: throwaway servers

with warnings.catch_warnings():  # Starlette would rather have httpx2; httpx is what we have
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

# Property tests carry no wall-clock deadline (a loaded 2-core machine misses any), and under
# CI they replay the same examples every run: CI fails on a change, never by chance. Locally
# they draw new examples each run, to find what CI would not.
settings.register_profile(
    "salesflow", deadline=None, suppress_health_check=[HealthCheck.too_slow],
    derandomize=bool(os.environ.get("CI")), print_blob=True,
)  # fmt: skip
settings.load_profile("salesflow")

APP = register()  # every command, as `salesflow --help` lists them

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = Path(__file__).parent / "examples"


def build_example(case: Path, destination: Path) -> Path:
    """An example project: tests/examples/base/ with the case folder's files laid over it."""
    shutil.copytree(EXAMPLES / "base", destination)
    shutil.copytree(case, destination, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.txt"))
    return destination


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "engines: run each test twice, on SQLite and on a throwaway PostgreSQL"
    )
    config.addinivalue_line(
        "markers", "slow: over a few seconds (make test-slow and .ci/run; not make test)"
    )


def pytest_generate_tests(metafunc) -> None:
    """A module marked `pytestmark = pytest.mark.engines` runs each test on both engines."""
    if metafunc.definition.get_closest_marker("engines"):
        if "backend" not in metafunc.fixturenames:
            metafunc.fixturenames.append("backend")
        metafunc.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(autouse=True)
def _engine_first(request) -> None:
    """A test marked `engines` sets its engine before any other fixture (a project, a
    server, an app) opens the database, even when it uses none that asks for `backend`."""
    if request.node.get_closest_marker("engines"):
        request.getfixturevalue("backend")


@pytest.fixture
def backend(request, monkeypatch) -> str:
    """The engine under test: "sqlite" (the project's file, as a user has it) unless the
    module is marked `engines`; for "postgresql", SALESFLOW_DB names a fresh database of
    the throwaway server, which the CLI, `serve`, `open_project` and `query` all use."""
    engine = getattr(request, "param", "sqlite")
    if engine == "postgresql":
        monkeypatch.setenv("SALESFLOW_DB", request.getfixturevalue("postgres_url"))
    else:
        monkeypatch.delenv("SALESFLOW_DB", raising=False)
    return engine


def open_project(root: Path):
    """The project at `root` on the engine under test (as the CLI reads SALESFLOW_DB)."""
    return load_project(root, os.environ.get("SALESFLOW_DB"))


def written_project(root: Path, files: dict[str, str]) -> Path:
    """A small project of a test's own at `root`: each file's text, dedented."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip())
    return root


@pytest.fixture
def cli(monkeypatch, backend):
    """Run `salesflow ARGS…` in-process; returns click's Result (output, exit_code)."""
    monkeypatch.delenv("SALESFLOW_NOW", raising=False)
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(APP, [str(arg) for arg in args], input=input)

    return run


@pytest.fixture
def demo(tmp_path) -> Path:
    """A scratch copy of the repository's demo project (the singing club)."""
    target = tmp_path / "demo"
    target.mkdir()
    shutil.copy(REPO / "salesflow.yaml", target)
    for folder in ("pipelines", "workflows", "examples"):
        shutil.copytree(REPO / folder, target / folder)
    return target


@pytest.fixture
def sf(cli, demo):
    """`sf("deals", "add", …, now="2026-12-01T09:00")` in the demo copy; JSON output parsed
    when the command was given --json; fails the test on a non-zero exit unless `code=`."""
    import json

    def run(*args: str, now: str = "2026-11-20T10:00", code: int = 0, input: str | None = None):
        result = cli("--project", demo, "--now", now, *args, input=input)
        assert result.exit_code == code, result.output
        return json.loads(result.output) if "--json" in args and code == 0 else result

    run.project = demo
    return run


def query(project: Path, sql: str, *params) -> list[tuple]:
    """Rows from the project's database, read as a user would (sqlite3, or psycopg when the
    test runs on PostgreSQL; the SQL is written with `?` for both). A write returns its
    RETURNING rows, or none."""
    url = os.environ.get("SALESFLOW_DB", "")
    if url.startswith("postgresql://"):
        import psycopg

        from salesflow.store.postgres import translate

        with psycopg.connect(url, autocommit=True) as connection:
            cursor = connection.execute(translate(sql), params)
            return cursor.fetchall() if cursor.description else []
    import sqlite3

    with sqlite3.connect(project / "salesflow.db") as connection:
        return connection.execute(sql, params).fetchall()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`salesflow serve` in a process of its own, stopped at the end of the test."""

    env: ClassVar[dict[str, str]] = {}  # more environment variables (form secrets)

    def __init__(
        self, project: Path, *options: str, now: str | None = "2026-11-20T10:00", preexec_fn=None
    ):  # preexec_fn: run in the server's process before it starts (a lower descriptor limit)
        self.project, self.port = project, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        clock = ["--now", now] if now else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "salesflow", "--project", str(project), *clock, "serve",
             "--port", str(self.port), *options],
            env={**os.environ, **self.env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=preexec_fn,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
                return
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(self.process.stderr.read().decode()) from None
                time.sleep(0.05)

    def post(self, path: str, **options) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", timeout=10, follow_redirects=False, **options)

    def client(self) -> httpx.Client:
        """A client of its own (its own cookies), as a browser would be."""
        return httpx.Client(base_url=self.url, timeout=10)

    def stop(self, how: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(how)
        _, errors = self.process.communicate(timeout=30)
        return self.process.returncode, errors.decode()


PASSWORDS = {"marie": "do-ré-mi-fa-sol", "lea": "la-si-do-ré-mi"}


def prepare_team(sf) -> Path:
    """The demo with its three imported prospects and Julie's form processed, a viewer
    (Léa) in the team, and passwords for Marie and Léa. On the demo as the repository has
    it, made once per test process and engine, then copied: a copy takes a tenth of the ~1 s
    the commands take."""
    url = os.environ.get("SALESFLOW_DB", "")
    engine = "postgresql" if url.startswith("postgresql://") else "sqlite"
    untouched = (sf.project / "salesflow.yaml").read_bytes() == (
        REPO / "salesflow.yaml"
    ).read_bytes()
    if not untouched:
        _make_team(sf)
    elif engine in _TEAMS:
        _copy_team(_TEAMS[engine], sf.project, url)
    else:
        _make_team(sf)
        _TEAMS[engine] = _keep_team(sf.project, url)
    return sf.project


_TEAMS: dict[str, Path] = {}  # engine → a prepared team's folder (and database, on PostgreSQL)


def _make_team(sf) -> None:
    project = sf.project
    config = yaml.safe_load((project / "salesflow.yaml").read_text())
    config["team"].append({"id": "lea", "name": "Léa Roux", "email": "lea@club.example",
                           "role": "viewer"})  # fmt: skip
    (project / "salesflow.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    sf("import", project / "examples/prospects.csv", "--pipeline", "cours-essai",
       "--stage", "nouveau")  # fmt: skip
    sf("ingest", project / "examples/forms/julie.json", "--form", "cours-essai")
    sf("process")
    for member, password in PASSWORDS.items():
        sf("team", "password", member, "--stdin", input=password + "\n")


def _keep_team(project: Path, url: str) -> Path:
    """A copy of the prepared project beside it (the test's tmp folder outlives the test);
    on PostgreSQL its database is kept as a template too."""
    kept = project.parent / "team"
    shutil.copytree(project, kept)
    if url:
        _admin(url, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    f" WHERE datname = '{_database(url)}' AND pid <> pg_backend_pid()")  # fmt: skip
        _admin(url, f"CREATE DATABASE {_team_database()} TEMPLATE {_database(url)}")
    return kept


def _copy_team(kept: Path, project: Path, url: str) -> None:
    shutil.copytree(kept, project, dirs_exist_ok=True)
    if url:
        _admin(url, f"DROP DATABASE {_database(url)} WITH (FORCE)")
        _admin(url, f"CREATE DATABASE {_database(url)} TEMPLATE {_team_database()}")


def _database(url: str) -> str:
    return url.split("///", 1)[1].split("?", 1)[0]


def _team_database() -> str:
    return f"team_{os.getpid()}"


def _admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url.replace(f"///{_database(url)}?", "///postgres?"),
                         autocommit=True) as connection:  # fmt: skip
        connection.execute(sql)


@pytest.fixture
def site(sf):
    """`serve` (no worker) on the team's demo: Marie and Léa can log in."""
    prepare_team(sf)
    running = Server(sf.project, "--no-worker")
    yield running
    running.stop()


class Pages:
    """The app `serve` builds (without its worker), on the project's database, answered in
    this process through Starlette's TestClient: what a page shows and what its actions do,
    without a port or a process. A bug in a page fails the test with the page's own traceback.
    What travels over the network (connections, proxies, limits, signals) needs `Server`."""

    def __init__(self, project: Path, now: str = "2026-11-20T10:00"):
        self.project = project
        site = Site(open_project(project), now)
        site.store()  # as serve does: the database opens (and is migrated) before a request
        self.app = build_app(site, worker=False)
        self._clients = contextlib.ExitStack()

    def client(self) -> TestClient:
        """A client of its own (its own cookies), as a browser would be."""
        client = TestClient(self.app, follow_redirects=False)
        return self._clients.enter_context(client)

    def post(self, path: str, **options):
        return self.client().post(path, **options)

    def close(self) -> None:
        self._clients.close()


@pytest.fixture
def pages(sf):
    """The team's demo (see prepare_team) and its pages in this process; log in with
    `signed_in(pages, "lea")`."""
    prepare_team(sf)
    answering = Pages(sf.project)
    yield answering
    answering.close()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def signed_in(where: Server | Pages, member: str = "marie"):
    """A client of `where`, logged in as the member (marie may change things, lea reads)."""
    client = where.client()
    form = client.get("/login")
    answer = client.post("/login", data={"member": member, "password": PASSWORDS[member],
                                         "csrf": csrf_of(form.text), "next": "/"})  # fmt: skip
    assert answer.status_code == 303, answer.text
    return client


CHROMIUM = os.environ.get("SALESFLOW_CHROMIUM") or shutil.which("chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
]  # fmt: skip  (without the background-networking flags Chromium calls Google's hosts)


def pytest_terminal_summary(terminalreporter) -> None:
    if not CHROMIUM:
        terminalreporter.write_line(
            "browser tests skipped: no chromium found. Enable them with `apt-get install"
            " chromium` (Debian), or SALESFLOW_CHROMIUM=/path/to/chromium.",
            yellow=True,
        )
