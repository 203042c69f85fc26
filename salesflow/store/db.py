"""Opening the database, transactions, and isolating one item's failure from the rest.

A project's database is a SQLite file (the default) or a PostgreSQL database
(`postgresql://…`, store/postgres.py). Both connections take the same SQL text and answer
the same way; `connection.dialect` names the engine where a statement must differ.

WAL with synchronous=NORMAL: a commit costs ~15 µs instead of ~250 µs with an fsync each
(../shared/FACTS.md); a power loss can lose the last transactions, never corrupt the file.

Faults of the environment (a missing folder, a damaged or read-only file, a full disk, a lock
held too long) are told apart from an item's own failure: they stop a pass, with one line that
names the file; anything else one item raises fails that item alone (see `isolated`).

A database that should exist is never made anew: the first database of a project leaves a
hidden marker beside it (`.salesflow.db.created`, which `rm salesflow.db*` does not match),
and a missing database with its marker is an error naming the path. A connection remembers
the file it opened (device, inode): a commit into a file that was deleted or replaced since
raises `DatabaseMoved`, so no write into a lost file is ever reported done.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from salesflow.config.model import DatabaseUrl
from salesflow.errors import EnvironmentFault, UserError
from salesflow.store.migrations import migrate

BUSY_TIMEOUT = 30.0  # seconds a command waits for another one's write lock
OUTAGE_PATIENCE = 60.0  # seconds `outlasting` waits for a restarted database server
LARGEST_ID = 2**63 - 1  # SQLite's largest integer: no row has an id past it

# What SQLite says (lower-cased, in part) → what the person should do about it.
_SQLITE_FAULTS = {
    "database is locked": "another salesflow command holds it (a long import?); try again"
    " when it has finished",
    "database or disk is full": "the disk is full: free some space and run the command again;"
    " nothing that was committed is lost",
    "disk i/o error": "the disk reported an I/O error: check it, then restore a backup if"
    " `salesflow check` finds damage",
    "readonly": "it cannot be written: check the permissions of the file and its folder",
    "unable to open": "it cannot be opened: check that the folder exists and can be written",
    "file is not a database": "it is not a salesflow database, or it is damaged: restore a"
    " backup (`salesflow backup` makes them), or move it away to start a new one",
    "malformed": "it is damaged: restore a backup (`salesflow backup` makes them)",
    "out of memory": "the machine is out of memory",
}
_OS_FAULTS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES}

_UNREACHABLE = (
    "the database server cannot be reached: check that it runs and that the URL (host, port,"
    " database) is right; nothing acknowledged is lost, and the next pass tries again"
)
# What PostgreSQL says, by SQLSTATE or its two-letter class → what the person should do.
_POSTGRES_FAULTS = {
    "08": _UNREACHABLE,
    "57P01": "the database server is shutting down or restarting: the next pass tries again",
    "57P02": "the database server crashed and is restarting: the next pass tries again",
    "57P03": "the database server is starting up: the next pass tries again",
    "53100": "the database server's disk is full: free some space on it; nothing that was"
    " committed is lost",
    "53200": "the database server is out of memory",
    "53300": "the database server has no connection left (max_connections): use fewer"
    " processes, or a pooler such as PgBouncer",
    "25006": "the database server is read-only (a standby?): point the URL at the primary",
    "3D000": "the database does not exist: create it (`createdb NAME`, or your provider's"
    " console); salesflow creates its tables itself",
    "28P01": "the password was refused: give it as PGPASSWORD, in ~/.pgpass or in a service"
    " file (never in salesflow.yaml)",
    "28000": "the server refused this user: check the user in the URL and the server's pg_hba.conf",
    "42501": "this user may not do that: grant it the rights on the database (its owner is"
    " simplest)",
    "55P03": "another salesflow process held the rows for longer than we wait; try again",
    "40001": "another salesflow process changed the same rows at the same moment; try again",
    "40P01": "another salesflow process changed the same rows at the same moment; try again",
}
_POSTGRES_LOCKS = {"55P03", "40001", "40P01"}
_POSTGRES_OUTAGES = {"57P01", "57P02", "57P03"}  # and class 08: gone, or coming back


def fault_advice(error: BaseException) -> str | None:
    """What to do, when `error` is a fault of the environment rather than of one item."""
    if isinstance(error, MemoryError):
        return "the machine is out of memory"
    if isinstance(error, OSError) and error.errno in _OS_FAULTS:
        return f"{error.strerror}: free some space or fix the permissions, then run again"
    if isinstance(error, sqlite3.DatabaseError) and not isinstance(error, sqlite3.IntegrityError):
        text = str(error).lower()
        return next((advice for key, advice in _SQLITE_FAULTS.items() if key in text), None)
    if _is_postgres_error(error):
        state = getattr(error, "sqlstate", None)
        if state is None:  # raised on our side: the connection failed, or was lost
            state = _connection_failure(error)
        return _POSTGRES_FAULTS.get(state) or _POSTGRES_FAULTS.get(state[:2])
    return None


def _connection_failure(error: BaseException) -> str:
    """The SQLSTATE of a failed connection, which libpq gives only in its message."""
    if type(error).__name__ not in {"OperationalError", "InterfaceError"}:
        return ""
    text = str(error)
    if re.search(r'database "[^"]*" does not exist', text):
        return "3D000"
    if "password authentication failed" in text or "no password supplied" in text:
        return "28P01"
    return "08"


def _is_postgres_error(error: BaseException) -> bool:
    """psycopg's errors, told without importing psycopg (a SQLite project never does)."""
    return type(error).__module__.partition(".")[0] == "psycopg"


class DatabaseLocked(EnvironmentFault):
    """Another command held the write lock for longer than we wait."""


def is_locked(error: BaseException) -> bool:
    if isinstance(error, DatabaseLocked):
        return True
    if _is_postgres_error(error):
        return getattr(error, "sqlstate", None) in _POSTGRES_LOCKS
    return isinstance(error, sqlite3.OperationalError) and "database is locked" in str(error)


class DatabaseUnreachable(EnvironmentFault):
    """The database server cannot be reached, or is restarting: over once it answers."""


def is_outage(error: BaseException) -> bool:
    """The database server went away or is not back yet (restarted, failing over): a fault
    that ends by itself when the server answers again, unlike a full disk."""
    if isinstance(error, DatabaseUnreachable):
        return True
    if not _is_postgres_error(error):
        return False
    state = getattr(error, "sqlstate", None) or _connection_failure(error)
    return state.startswith("08") or state in _POSTGRES_OUTAGES


class DatabaseMissing(EnvironmentFault):
    """The database is gone from where the project had one."""


class DatabaseMoved(EnvironmentFault):
    """The path no longer names the file a connection opened: it was deleted or replaced."""


class Connection(sqlite3.Connection):
    """A connection that remembers the file it opened, as (device, inode)."""

    dialect = "sqlite"
    broken = False  # a file does not go away as a server does (see DatabaseMoved for that)
    path: Path
    identity: tuple[int, int] | None = None

    def check_file(self) -> None:
        """Raise DatabaseMoved when the path names another file than the one opened, or
        none: what is written now would be lost with it. One os.stat (~3 µs)."""
        if self.identity is not None:
            same_file(self.path, self.identity)


def same_file(path: Path, identity: tuple[int, int]) -> None:
    """Raise DatabaseMoved unless `path` still names the file that had `identity`."""
    now = file_identity(path)
    if now == identity:
        return
    if now is None:
        raise DatabaseMoved(
            f"{path}: the database was deleted (or moved away) while in use: nothing more is"
            " written to it; restore a backup to that path, then restart `salesflow serve`"
        )
    raise DatabaseMoved(
        f"{path}: the database was replaced by another file while in use (a restored"
        " backup?): nothing more is written to the old one; restart `salesflow serve` to use"
        " the new one"
    )


def connect_again(
    database: Path | DatabaseUrl, opened: tuple[int, int] | None, busy_timeout: float
) -> Connection:
    """A new connection for a long-lived process, to the database it `opened` first (the
    identity of its first connection) and no other: a SQLite file deleted or replaced
    meanwhile, or a PostgreSQL database created anew or restored under the same name, raises
    DatabaseMoved. A standby promoted by the provider is the same database (same system
    identifier) and is used."""
    if isinstance(database, Path):
        if opened is not None:
            same_file(database, opened)
        return connect(database, busy_timeout)
    return _connect_postgres(database, busy_timeout, opened)


T = TypeVar("T")


def outlasting(
    connection: Connection, write: Callable[[], T], patience: float = OUTAGE_PATIENCE
) -> T:
    """`write`, done even across a restart of the database server: when the connection is
    lost meanwhile, connect again (to the same database only) and do it again, for up to
    `patience` seconds. For writes that record what already happened outside — a message the
    mail server took — which the next pass would otherwise do again; `write` must be safe to
    do twice. A SQLite connection is never lost so: there `write` is simply done."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return write()
        except Exception:
            if not connection.broken or time.monotonic() > deadline:
                raise
        _back_again(connection, deadline)


def reconnect(connection: Connection) -> None:
    """A new session in place of a broken PostgreSQL connection, to the same database only
    (DatabaseMoved when another one is there now)."""
    connection.take_over(connect_again(connection.url, connection.identity, connection.timeout))


def _back_again(connection: Connection, deadline: float) -> None:
    """Connect again, twice a second until the server answers, or raise at `deadline`."""
    while True:
        try:
            reconnect(connection)
            return
        except DatabaseMoved:
            raise
        except EnvironmentFault:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, or None when there is none."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def created_marker(path: Path) -> Path:
    """The hidden file beside a database saying that the project has had one here."""
    return path.with_name(f".{path.name}.created")


def connect(database: Path | DatabaseUrl, busy_timeout: float = BUSY_TIMEOUT) -> Connection:
    """The project's database, brought to the current schema if needed."""
    if isinstance(database, DatabaseUrl):
        return _connect_postgres(database, busy_timeout)
    return _connect_sqlite(database, busy_timeout)


def connect_unchanged(url: DatabaseUrl) -> Connection:
    """A PostgreSQL database as it is, to look at before salesflow writes anything to it
    (not even its tables)."""
    return _connect_postgres(url, BUSY_TIMEOUT, migrated=False)


def _connect_postgres(
    url: DatabaseUrl,
    busy_timeout: float,
    opened: tuple[int, int] | None = None,
    migrated: bool = True,
):
    """A PostgreSQL database: the user's (creating it is theirs); an empty one gets the
    tables. With `opened`, only the database of that identity: another one is refused
    before anything is written to it (not even the tables)."""
    try:
        from salesflow.store import postgres
    except ImportError:
        raise EnvironmentFault(
            f"{url.shown}: a PostgreSQL database needs the driver: pip install"
            " 'salesflow[postgres]'"
        ) from None
    try:
        connection = postgres.connect(url, busy_timeout)
        if opened is not None and connection.identity != opened:
            connection.close()
            raise DatabaseMoved(
                f"{url.shown}: this is no longer the database this process started with (it"
                " was created again, or restored): nothing more is written to it; restart"
                " `salesflow serve` to use it"
            )
        if migrated:
            migrate(connection)
    except DatabaseMoved:
        raise
    except UserError as error:  # a database from a newer salesflow
        raise EnvironmentFault(f"{url.shown}: {error}") from None
    except Exception as error:
        raise as_fault(error, url.shown) from None
    return connection


def as_fault(error: Exception, where: str) -> Exception:
    """`error` as the one line a person reads when it is a fault of the environment (naming
    the database), else as it is."""
    advice = fault_advice(error)
    if advice is None:
        return error
    kind = EnvironmentFault
    if is_locked(error):
        kind = DatabaseLocked
    elif is_outage(error):
        kind = DatabaseUnreachable
    return kind(f"{where}: {advice} ({' '.join(str(error).split())})")


def _connect_sqlite(path: Path, busy_timeout: float) -> Connection:
    """The SQLite file, created and brought to the current schema if needed.

    The store's SQL is the part SQLite shares with PostgreSQL, which needs SQLite 3.39
    (`IS [NOT] DISTINCT FROM`): an older library is one line, not a syntax error later.

    A missing folder is a mistake in `database:`, not a place to create one; a 0-byte file
    is damage (a copy that failed, a full disk), not a new database; a missing file beside
    its marker is a lost database, not a new project."""
    if sqlite3.sqlite_version_info < (3, 39):
        raise EnvironmentFault(
            f"this Python's SQLite is {sqlite3.sqlite_version}; salesflow needs 3.39 or newer:"
            " use a Python built with a newer one (Debian 12, Ubuntu 24.04, python.org's"
            " builds, or uv's)"
        )
    if not path.parent.is_dir():
        raise EnvironmentFault(
            f"{path}: the folder {path.parent} does not exist; create it, or correct"
            " `database:` in salesflow.yaml (or SALESFLOW_DB)"
        )
    try:
        if not path.exists():
            refuse_lost(path)
            _create(path)
        elif path.stat().st_size == 0:
            marker = created_marker(path)
            also = f" and {marker.name}" if marker.exists() else ""
            raise EnvironmentFault(
                f"{path}: the file is empty (0 bytes), so it is not a salesflow database;"
                f" restore a backup, or delete it{also} to start a new database"
            )
        connection = sqlite3.connect(
            path, isolation_level=None, timeout=busy_timeout, factory=Connection
        )
        connection.path, connection.identity = path, file_identity(path)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA temp_store = MEMORY")  # savepoints' journals: no temp files
        migrate(connection)
    except EnvironmentFault:
        raise
    except UserError as error:  # a database from a newer salesflow
        raise EnvironmentFault(f"{path}: {error}") from None
    except (sqlite3.DatabaseError, OSError) as error:
        raise as_fault(error, str(path)) from None
    _mark_created(path)
    return connection


def sync_every_commit(connection: Connection) -> None:
    """synchronous=FULL: each commit is on disk before it returns (the server's choice: a
    submission is kept before its 2xx is sent). PostgreSQL's commits are durable unless its
    administrator set synchronous_commit off: that is theirs to choose."""
    if connection.dialect == "sqlite":
        connection.execute("PRAGMA synchronous = FULL")


def refuse_lost(path: Path) -> None:
    """Raise DatabaseMissing when the marker says this project had a database here."""
    marker = created_marker(path)
    if marker.exists():
        raise DatabaseMissing(
            f"{path}: the database is missing, though this project had one ({marker.name}"
            f" beside it says so): restore your latest backup to that path; to start again"
            f" with an empty database instead, delete {marker}"
        )


def _mark_created(path: Path) -> None:
    """Leave the marker beside the database (a database older than markers gets one too)."""
    marker = created_marker(path)
    if marker.exists():
        return
    with contextlib.suppress(OSError):  # a folder we cannot write to: as before markers
        marker.write_text(
            f"salesflow has kept its database {path.name} here since {date.today()}.\n"
            "While this file exists, no command creates a new, empty database in its place:"
            " a missing database is an error.\nDelete this file to start again with an empty"
            " database.\n"
        )


def _create(path: Path) -> None:
    """A new database, made whole under a temporary name then linked into place: a command
    starting at the same moment sees no file or a complete one, never a 0-byte file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.new")
    connection = sqlite3.connect(temporary, isolation_level=None, factory=Connection)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        migrate(connection)
    finally:
        connection.close()
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another command created it first: use that one
    finally:
        temporary.unlink()


def open_read_only(database: Path | DatabaseUrl) -> Connection | None:
    """The SQLite database for reading only (never created, never migrated); None if absent,
    and for a PostgreSQL database, which `validate` never connects to (a pre-commit hook
    must not need the server)."""
    if isinstance(database, DatabaseUrl):
        return None
    if not database.is_file() or database.stat().st_size == 0:
        return None
    uri = f"{database.resolve().as_uri()}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, factory=Connection)
    connection.row_factory = sqlite3.Row
    return connection


# SQLite takes its one write lock at once (no deadlock halfway); PostgreSQL locks rows.
_BEGIN_WRITE = {"sqlite": "BEGIN IMMEDIATE", "postgresql": "BEGIN"}


@contextmanager
def transaction(connection: sqlite3.Connection, dry_run: bool = False) -> Iterator[None]:
    """One write transaction; with `dry_run` everything is done, then rolled back."""
    connection.execute(_BEGIN_WRITE[connection.dialect])
    try:
        yield
    except BaseException:
        # SQLite may have rolled back already (disk full); a server gone away has, with the
        # connection, and saying ROLLBACK to it would only hide why
        if connection.in_transaction and not connection.broken:
            connection.execute("ROLLBACK")
        raise
    connection.execute("ROLLBACK" if dry_run else "COMMIT")
    if not dry_run:
        connection.check_file()  # after the commit: where it went is what counts


def isolated(
    connection: sqlite3.Connection,
    work: Callable[[], object],
    failed: Callable[[Exception], None],
) -> bool:
    """Do one item's `work` inside a savepoint of the caller's transaction. Whatever it
    raises (ours, the standard library's, a library's) undoes only its own writes and is
    handed to `failed`, which records it; the pass goes on with the next item. Faults of
    the environment still stop the pass. True when the work succeeded."""
    error = _undone_if_raises(connection, "item", work)
    if error is not None:
        failed(error)
    return error is None


def all_or_nothing(connection: sqlite3.Connection, work: Callable[[], object]) -> bool:
    """Do `work` (a batch done at once) inside a savepoint of the caller's transaction; when
    it raises, undo all it wrote and say False, so that the caller can redo it item by item.
    Faults of the environment still stop the pass."""
    return _undone_if_raises(connection, "batch", work) is None


def _undone_if_raises(
    connection: sqlite3.Connection, savepoint: str, work: Callable[[], object]
) -> Exception | None:
    """What `work` raised (its writes undone), or None when it went through."""
    connection.execute(f"SAVEPOINT {savepoint}")
    try:
        work()
    except Exception as error:
        if not connection.in_transaction or fault_advice(error):
            raise
        connection.execute(f"ROLLBACK TO {savepoint}")
        connection.execute(f"RELEASE {savepoint}")
        return error
    connection.execute(f"RELEASE {savepoint}")
    return None


def row_dict(row: Any) -> dict[str, Any]:
    """A row (sqlite3's, or PostgreSQL's) as a dict: sqlite3.Row finds a value by name by
    comparing it with every column's, without case; a run reads its records' values by name
    some hundred times."""
    return row if isinstance(row, dict) else dict(zip(row.keys(), row, strict=True))


def inserted_id(
    connection: sqlite3.Connection, sql: str, parameters: tuple, returning: str = " RETURNING id"
) -> int | None:
    """The id of the row an `INSERT` (`sql`, without RETURNING) made; None when it made none
    (`ON CONFLICT … DO NOTHING`; never an upsert's `DO UPDATE`, whose update SQLite's cursor
    does not give the id of). On SQLite from the cursor: a RETURNING clause costs about
    as much again as the insert there (~17 µs: SQLite gathers the rows it returns in a
    temporary table first), and a pass inserts ~9 rows a submission. PostgreSQL has no rowid
    to read: it is asked with `returning` (the id first)."""
    if connection.dialect == "sqlite":
        cursor = connection.execute(sql, parameters)
        return cursor.lastrowid if cursor.rowcount == 1 else None
    row = connection.execute(sql + returning, parameters).fetchone()
    return row[0] if row else None


def describe(error: BaseException) -> str:
    """An item's error as one line for its failed state: our own messages as they are,
    anything else with its type (a bug or a library's complaint, to report)."""
    text = " ".join(str(error).split())[:500]
    if isinstance(error, UserError):
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
