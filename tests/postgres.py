"""A throwaway PostgreSQL for the tests: one cluster per test run (per xdist worker), started
on a unix socket in a temporary folder with fsync off, and a fresh database per test cloned
from a template (CREATE DATABASE … TEMPLATE: 0.1-0.2 s here, see docs/postgres.md).

`initdb` refuses to run as root: as root the cluster belongs to the `postgres` user (Debian's
package creates it) and every server command runs through `runuser -u postgres --`. Where no
PostgreSQL is installed, or psycopg is not, the tests that need it skip with one summary line.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SERVER_USER = "postgres"  # the account the server runs as when the tests run as root
TEMPLATE = "salesflow_template"  # what each test's database is a copy of
SETTINGS = {  # a test server: nothing has to survive a crash, so nothing waits for the disk
    "listen_addresses": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def find_bindir() -> Path | None:
    """PostgreSQL's programs: $SALESFLOW_PG_BIN, `pg_config --bindir`, initdb on the PATH, or
    Debian's /usr/lib/postgresql/N/bin (not on the PATH), newest version first."""
    candidates = [os.environ.get("SALESFLOW_PG_BIN")]
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, check=True)
        candidates.append(bindir.stdout.decode().strip())
    if initdb := shutil.which("initdb"):
        candidates.append(str(Path(initdb).resolve().parent))
    newest_first = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    for folder in [*candidates, *newest_first]:
        if folder and (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _version(bindir: str) -> int:
    name = Path(bindir).parent.name
    return int(name) if name.isdigit() else 0


def _as_server_user() -> list[str]:
    """The prefix that runs a server command as an unprivileged user: none unless we are root."""
    return ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []


def missing() -> str | None:
    """Why the PostgreSQL tests cannot run here, in one line, or None when they can."""
    if find_bindir() is None:
        return (
            "PostgreSQL tests skipped: no PostgreSQL found. Enable them with `apt-get install"
            " postgresql` (Debian), or SALESFLOW_PG_BIN=/path/to/postgresql/bin."
        )
    if os.geteuid() == 0 and not (_has_user(SERVER_USER) and shutil.which("runuser")):
        return (
            f"PostgreSQL tests skipped: running as root, and no '{SERVER_USER}' user or no"
            " runuser to run initdb as (it refuses root). Run the tests as another user."
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "PostgreSQL tests skipped: psycopg missing. `pip install 'salesflow[postgres]'`."
    return None


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


MISSING = missing()


class Cluster:
    """A PostgreSQL server of the test run's own: its data and its socket in one temporary
    folder, reachable only through that socket, as the `postgres` superuser without password."""

    def __init__(self, bindir: Path, settings: dict[str, str] = SETTINGS):
        self.bindir = bindir
        self.settings = settings  # the bench keeps the server's durable defaults
        self.folder = Path(tempfile.mkdtemp(prefix="salesflow-pg-"))  # short: a socket path
        self.data = self.folder / "data"  # must be under 108 bytes, a tmp_path often is not
        self.log = self.folder / "server.log"
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        try:
            self._server(
                "initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                "--locale=C", "--no-sync",
            )  # fmt: skip
            self.start()
        except BaseException:
            self.remove()  # no folder left behind in /tmp
            raise

    def url(self, database: str = "postgres") -> str:
        """The URL libpq and psycopg take, as SALESFLOW_DB would carry it."""
        return f"postgresql:///{database}?host={self.folder}&user=postgres"

    def start(self) -> None:
        options = " ".join(f"-c {name}={value}" for name, value in self.settings.items())
        self._server(
            "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "30", "start",
            "-o", f"-k {self.folder} {options}",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: "fast" closes the sessions cleanly, "immediate" is a crash."""
        self._server("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Restart the server, as a managed PostgreSQL's failover or upgrade would: every open
        connection is cut, new ones succeed once it is back."""
        self.stop()
        self.start()

    def admin(self, sql: str) -> None:
        """One statement outside a transaction (CREATE/DROP DATABASE need that)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(sql)

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):  # not started, or gone already
            self.stop("immediate")  # nothing in it is worth a checkpoint
        shutil.rmtree(self.folder, ignore_errors=True)

    def _server(self, program: str, *arguments: str | Path) -> None:
        command = [*_as_server_user(), str(self.bindir / program), *map(str, arguments)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{program} failed:\n{done.stdout}{done.stderr}{log}")


@pytest.fixture(scope="session")
def postgres_cluster():
    """The test run's PostgreSQL server (one per xdist worker), with an empty template
    database; the tests that need one skip where none can run."""
    if MISSING:
        pytest.skip(MISSING)
    cluster = Cluster(find_bindir())
    try:
        cluster.admin(f"CREATE DATABASE {TEMPLATE} TEMPLATE template0 ENCODING 'UTF8'")
        yield cluster
    finally:
        cluster.remove()


_numbers = itertools.count(1)


@pytest.fixture
def postgres_url(postgres_cluster) -> str:
    """A fresh, empty database of this test's own; the URL to reach it."""
    name = f"test_{os.getpid()}_{next(_numbers)}"
    postgres_cluster.admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    yield postgres_cluster.url(name)
    postgres_cluster.admin(f"DROP DATABASE {name} WITH (FORCE)")


def pytest_terminal_summary(terminalreporter) -> None:
    if MISSING:
        terminalreporter.write_line(MISSING, yellow=True)
