"""The two engines the PostgreSQL benches pair: a SQLite file and a PostgreSQL database, each
emptied before a run into a migrated, empty database (a copy of a template), and named to
`salesflow` through SALESFLOW_DB, so one project folder serves both.

The PostgreSQL server is a throwaway one of the bench's own (tests/postgres.py's Cluster: a
unix socket in a temporary folder, nothing on TCP) with the durable settings a real server
keeps — fsync, full-page writes and synchronous commit on, as a managed PostgreSQL runs
them: a commit waits for its WAL on disk. The tests' server turns all three off (nothing
there has to survive a crash); measured that way PostgreSQL would skip the disk that SQLite
pays for (`serve` commits with synchronous = FULL).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import postgres  # tests/postgres.py: the throwaway server

from salesflow.config.model import DatabaseUrl
from salesflow.store.db import connect

DURABLE = {"listen_addresses": "''"}  # and the server's defaults: fsync, synchronous_commit on
TEMPLATE = "bench_template"


@contextlib.contextmanager
def postgres_server() -> Iterator[postgres.Cluster | None]:
    """A PostgreSQL server for the run, or None (after one line saying why) where none can
    start here: the PostgreSQL cases are then skipped."""
    if postgres.MISSING:
        print(postgres.MISSING.replace("tests", "bench cases"), flush=True)
        yield None
        return
    cluster = postgres.Cluster(postgres.find_bindir(), DURABLE)
    try:
        cluster.admin(f"CREATE DATABASE {TEMPLATE} TEMPLATE template0 ENCODING 'UTF8'")
        connect(DatabaseUrl(cluster.url(TEMPLATE))).close()  # the tables, once
        yield cluster
    finally:
        cluster.remove()


class SQLite:
    """A SQLite file in `folder`, fresh from a migrated copy."""

    name = "SQLite"

    def __init__(self, folder: Path):
        self.path = folder.resolve() / "sqlite.db"
        self.template = folder.resolve() / "template.db"
        connect(self.template).close()
        self.env = {**os.environ, "SALESFLOW_DB": str(self.path)}

    def connect(self):
        return connect(self.path)

    def fresh(self) -> None:
        for suffix in ("-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.template, self.path)


class PostgreSQL:
    """A database `name` on the bench's server, fresh from the migrated template."""

    name = "PostgreSQL"

    def __init__(self, server: postgres.Cluster, name: str):
        self.server = server
        self.database = name
        self.url = DatabaseUrl(server.url(name))
        self.env = {**os.environ, "SALESFLOW_DB": self.url}

    def connect(self):
        return connect(self.url)

    def fresh(self) -> None:
        self.server.admin(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
        self.server.admin(f"CREATE DATABASE {self.database} TEMPLATE {TEMPLATE}")
