"""A PostgreSQL database behind the surface store/ uses of sqlite3's connection.

The store's SQL is written once with SQLite's `?` and `:name` placeholders; this connection
translates each distinct text to psycopg's `%s` / `%(name)s` once (a dict lookup after the
first time), and its rows answer `row["name"]`, `row[0]`, `keys()` and `dict(row)` as
`sqlite3.Row` does. It runs in autocommit with the store's own BEGIN / COMMIT / SAVEPOINT, so
`transaction` and `isolated` (store/db.py) work unchanged.

Only a `postgresql://` project imports this module, and so psycopg (~150 ms to import): a
SQLite project's `run` never pays for it.
"""

from __future__ import annotations

import re
import select
from functools import lru_cache
from typing import Any, ClassVar

import psycopg
from psycopg.pq import TransactionStatus

from salesflow.config.model import DatabaseUrl

dialect = "postgresql"

# A quoted literal or identifier, a comment, or a placeholder or percent sign to translate.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|\?|(?<![:\w]):([A-Za-z_]\w*)|%")


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """SQLite's placeholders as psycopg's: `?` → `%s`, `:name` → `%(name)s`, `%` → `%%`
    (psycopg reads `%` everywhere, quotes included); `::type` casts are left alone."""

    def token(match: re.Match) -> str:
        text = match.group(0)
        if text == "?":
            return "%s"
        if match.group(1):
            return f"%({match.group(1)})s"
        return text.replace("%", "%%")

    return _TOKENS.sub(token, sql)


class Row(tuple):
    """A row by position or by column name, as sqlite3.Row."""

    names: ClassVar[dict[str, int]] = {}  # set per column list by _row_class

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self.names)


@lru_cache(maxsize=512)
def _row_class(names: tuple[bytes, ...]) -> type[Row]:
    columns = {name.decode(): i for i, name in enumerate(names)}
    return type("Row", (Row,), {"names": columns})


def _rows(cursor: psycopg.Cursor) -> Any:
    """The row class of a result, found by its column names as libpq gives them (building
    `cursor.description` for each statement cost ~15 % of a `process` pass's client time)."""
    result = cursor.pgresult
    names = tuple(result.fname(i) for i in range(result.nfields)) if result else ()
    if not names or None in names:  # no rows (a command), or a COPY's
        return tuple
    return _row_class(names)


class Connection:
    """One PostgreSQL connection with sqlite3's `execute`, `executemany`, `in_transaction`."""

    dialect = dialect

    def __init__(self, url: DatabaseUrl, raw: psycopg.Connection, timeout: float):
        self.url = url
        self.raw = raw
        self.timeout = timeout
        self.identity = server_identity(raw)
        # sqlite3's `total_changes`, conservatively: every statement but a SELECT counts (a
        # statement that failed aborted the transaction: the next one says so, raising)
        self.total_changes = 0

    def execute(self, sql: str, parameters: Any = ()) -> psycopg.Cursor:
        if not sql.startswith("SELECT"):
            self.total_changes += 1
        return self.raw.execute(translate(sql), parameters)

    def executemany(self, sql: str, rows: Any) -> psycopg.Cursor:
        self.total_changes += 1
        cursor = self.raw.cursor()
        cursor.executemany(translate(sql), rows)
        return cursor

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    @property
    def broken(self) -> bool:
        """The server went away (restarted, failed over, network lost): a new connection is
        needed. An idle connection the server has closed is known before it is used, with no
        round trip: its socket has something to read (the server's goodbye, or its end),
        where a healthy idle one has nothing (none LISTENs)."""
        if self.raw.broken or self.raw.closed:
            return True
        return not self.in_transaction and _readable(self.raw.pgconn.socket)

    def take_over(self, fresh: Connection) -> None:
        """Go on with `fresh`'s session in place of this broken one (store/db.py's reconnect):
        whoever holds this connection goes on with it."""
        self.raw.close()
        self.raw = fresh.raw

    def check_file(self) -> None:
        """Nothing to check after a commit: there is no file to lose. The server's identity is
        compared when a long-lived process connects again (store/db.py `connect_again`)."""

    def close(self) -> None:
        self.raw.close()


def connect(url: DatabaseUrl, timeout: float) -> Connection:
    """A connection to the project's database; libpq finds the password (PGPASSWORD,
    ~/.pgpass, a service file). `timeout` bounds the wait for a lock held by another host."""
    raw = psycopg.connect(
        url,
        autocommit=True,
        row_factory=_rows,
        connect_timeout=10,
        options=f"-c lock_timeout={int(timeout * 1000)} -c TimeZone=UTC",
        application_name="salesflow",
    )
    return Connection(url, raw, timeout)


def _readable(socket: int) -> bool:
    """Whether the socket has something to read now (poll: no limit on descriptor numbers)."""
    poll = select.poll()
    poll.register(socket, select.POLLIN)
    return bool(poll.poll(0))


def server_identity(raw: psycopg.Connection) -> tuple[int, int]:
    """The cluster's system identifier and the database's OID: a database restored or created
    anew under the same name has another (both are readable by any role)."""
    row = raw.execute(
        "SELECT (SELECT system_identifier FROM pg_control_system()),"
        " (SELECT oid FROM pg_database WHERE datname = current_database())"
    ).fetchone()
    return int(row[0]), int(row[1])
