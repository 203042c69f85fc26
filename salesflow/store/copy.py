"""Moving a project's whole database to another, of either engine (`salesflow db copy`), and
the scratch SQLite copy `workflows test` runs on when the project's database is PostgreSQL.

What is copied is found in the schema, not listed here: every table the migrations made (the
version bookkeeping aside: the target has its own), in the order their foreign keys need.
Each table is read in primary-key order, a batch at a time (a big database is never held in
memory), inside one snapshot of the source; it is written, ids kept, inside one transaction
of the target (COPY on PostgreSQL), then read back from the target. Both sides are summed the
same way (SHA-256 over the rows as JSON: an int stays an int, a text a text, NULL null), so a
value the target stored otherwise than read (converted, or changed by a trigger) shows as a
mismatch, and a value it refuses (cents in an integer column) as an error: either way the
whole copy is rolled back, and the target ends with everything or nothing.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from salesflow.config.model import DatabaseUrl
from salesflow.errors import EnvironmentFault, UserError
from salesflow.store.db import Connection, connect, connect_unchanged, transaction
from salesflow.store.migrations import KEPT_BY_TRIGGERS, schema_version
from salesflow.store.schema import quoted

BATCH = 1000  # rows a statement: a round trip per thousand rows, little memory

_TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'"
    " AND name NOT LIKE 'sqlite%' ORDER BY name",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    " AND tablename <> 'schema_version' ORDER BY tablename",
}
# Each column in table order, with its place in the primary key (1, 2…; 0 when not in it);
# pg_index.indkey is an int2vector, whose subscripts start at 0.
_COLUMNS = {
    "sqlite": "SELECT name, pk FROM pragma_table_info(?) ORDER BY cid",
    "postgresql": "SELECT a.attname, coalesce(array_position(CAST(i.indkey AS int2[]),"
    " a.attnum) + 1, 0) FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid"
    " AND i.indisprimary WHERE a.attrelid = CAST(? AS regclass) AND a.attnum > 0"
    " AND NOT a.attisdropped ORDER BY a.attnum",
}
_REFERENCES = {
    "sqlite": 'SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)',
    "postgresql": "SELECT DISTINCT c.relname FROM pg_constraint k JOIN pg_class c"
    " ON c.oid = k.confrelid WHERE k.conrelid = CAST(? AS regclass) AND k.contype = 'f'",
}
_IDENTITIES = (  # PostgreSQL's id columns, whose sequences must go on after the copied ids
    "SELECT table_name, column_name FROM information_schema.columns"
    " WHERE table_schema = current_schema() AND is_identity = 'YES'"
)
_SNAPSHOT = {  # every read of the source sees the database as it was at the first one
    "sqlite": "BEGIN",
    "postgresql": "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
}


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]  # the primary key: the order rows are read, written and summed in
    references: frozenset[str]  # the tables its foreign keys point to


@dataclass(frozen=True)
class Copied:
    """One table: its rows and checksum read from the source, and read back from the target."""

    table: str
    rows: int
    checksum: str
    target_rows: int
    target_checksum: str

    @property
    def same(self) -> bool:
        return (self.rows, self.checksum) == (self.target_rows, self.target_checksum)


class CopyDiffers(EnvironmentFault):
    """The target did not give back what was written to it; the copy was rolled back."""

    def __init__(self, where: str, copied: list[Copied]):
        self.copied = copied
        differ = ", ".join(c.table for c in copied if not c.same)
        super().__init__(
            f"{where}: {differ}: not the same in the target as in the source after the copy"
            " (rows or checksum); nothing was kept"
        )


def copy_database(
    source: Connection, target: Connection, on_table: Callable[[Copied], None] | None = None
) -> list[Copied]:
    """Copy every table of `source` into the empty `target`, all or nothing, and verify it;
    `on_table` hears of each table as it is done. Raises UserError for a target that is the
    source, has another schema or holds rows; CopyDiffers when a table differs after."""
    where = database_name(target)
    if (source.dialect, source.identity) == (target.dialect, target.identity):
        raise UserError(f"{where}: this is the project's own database: name another one")
    tables = in_dependency_order(source)
    _refuse_other_schema(source, target, tables, where)
    copied = []
    with _snapshot(source), transaction(target):
        _refuse_rows(target, tables, where)
        for table in sorted(tables, key=lambda t: t.name in KEPT_BY_TRIGGERS):  # theirs last
            copied.append(_copy_table(source, target, table, where))
            if on_table:
                on_table(copied[-1])
        if not all(c.same for c in copied):
            raise CopyDiffers(where, copied)
        if target.dialect == "postgresql":
            _continue_ids(target)
    return copied


def open_target(source: Connection, destination: Path | DatabaseUrl) -> Connection:
    """The database `db copy` writes into, given salesflow's tables if it has none. One that
    holds tables salesflow does not make (another application's) is refused before anything
    is written to it."""
    where = destination.shown if isinstance(destination, DatabaseUrl) else str(destination)
    ours = {name for (name,) in _rows(source, _TABLES)}
    foreign = sorted(_tables_found(destination, where) - ours)
    if foreign:
        shown = ", ".join(foreign[:3]) + ("…" if len(foreign) > 3 else "")
        raise UserError(
            f"{where}: it holds tables salesflow does not make ({shown}): copy into a new,"
            " empty database"
        )
    return connect(destination)


def _tables_found(destination: Path | DatabaseUrl, where: str) -> set[str]:
    """The tables the database has now, read without changing it (a SQLite file opened
    read-only: not even its journal mode is set)."""
    if isinstance(destination, DatabaseUrl):
        probe = connect_unchanged(destination)
    elif destination.is_file() and destination.stat().st_size:
        probe = sqlite3.connect(f"{destination.resolve().as_uri()}?mode=ro", uri=True)
    else:
        return set()
    try:
        dialect = "postgresql" if isinstance(destination, DatabaseUrl) else "sqlite"
        return {name for (name,) in probe.execute(_TABLES[dialect]).fetchall()}
    except sqlite3.DatabaseError:
        raise UserError(f"{where}: not a SQLite database: name a new file") from None
    finally:
        probe.close()


def throwaway_copy(connection: Connection, path: Path) -> Connection:
    """A copy of the database in a new SQLite file at `path`, for work thrown away (`workflows
    test`): SQLite's online backup of a SQLite database; a PostgreSQL one's rows copied."""
    if connection.dialect == "sqlite":
        copy = sqlite3.connect(path, isolation_level=None, factory=Connection)
        connection.backup(copy)
        copy.row_factory = sqlite3.Row
        return copy
    copy = connect(path)
    try:
        copy_database(connection, copy)
    except BaseException:
        copy.close()
        raise
    return copy


def database_name(connection: Connection) -> str:
    """The database as messages name it: the file, or the URL with its password masked."""
    return connection.url.shown if connection.dialect == "postgresql" else str(connection.path)


def in_dependency_order(connection: Connection) -> list[Table]:
    """Every table of the database, each after the tables its foreign keys point to."""
    tables = {name: _table(connection, name) for (name,) in _rows(connection, _TABLES)}
    ordered: list[Table] = []
    while len(ordered) < len(tables):
        placed = {table.name for table in ordered}
        ready = [t for t in tables.values() if t.name not in placed and t.references <= placed]
        if not ready:
            raise UserError(f"tables {sorted(set(tables) - placed)} refer to each other")
        ordered.extend(ready)
    return ordered


def _table(connection: Connection, name: str) -> Table:
    columns = list(_rows(connection, _COLUMNS, (name,)))
    key = tuple(column for column, place in sorted(columns, key=lambda c: c[1]) if place)
    if not key:  # a migration's mistake: without a key rows have no order to sum them in
        raise UserError(f"table {name} has no primary key: it cannot be copied in order")
    references = {other for (other,) in _rows(connection, _REFERENCES, (name,))} - {name}
    return Table(name, tuple(column for column, _ in columns), key, frozenset(references))


def _rows(connection: Connection, sql: dict[str, str], parameters: tuple = ()) -> list:
    return connection.execute(sql[connection.dialect], parameters).fetchall()


def _refuse_other_schema(
    source: Connection, target: Connection, tables: list[Table], where: str
) -> None:
    """The target must be at the source's schema version, with the same tables and columns."""
    versions = schema_version(source), schema_version(target)
    if versions[0] != versions[1]:
        raise UserError(
            f"{where}: schema version {versions[1]}, the project's is {versions[0]}: run the"
            " same salesflow on both"
        )
    theirs = {t.name: set(t.columns) for t in in_dependency_order(target)}
    ours = {t.name: set(t.columns) for t in tables}
    if theirs != ours:
        differ = sorted(name for name in ours.keys() | theirs.keys()
                        if ours.get(name) != theirs.get(name))  # fmt: skip
        raise UserError(
            f"{where}: its tables are not the project's ({', '.join(differ)} differ): copy"
            " into a database salesflow created"
        )


def _refuse_rows(target: Connection, tables: list[Table], where: str) -> None:
    full = [
        t.name for t in tables
        if t.name not in KEPT_BY_TRIGGERS and target.execute(_first(t)).fetchone() is not None
    ]  # fmt: skip
    if full:
        shown = ", ".join(full[:3]) + ("…" if len(full) > 3 else "")
        raise UserError(
            f"{where}: the database is not empty ({len(full)} of its tables hold rows:"
            f" {shown}): copy into a new, empty one"
        )


def _first(table: Table) -> str:
    return f"SELECT 1 FROM {quoted(table.name)} LIMIT 1"


@contextmanager
def _snapshot(connection: Connection) -> Iterator[None]:
    """One read transaction on the source: a `run` or `serve` writing meanwhile is not seen."""
    connection.execute(_SNAPSHOT[connection.dialect])
    try:
        yield
    finally:
        connection.execute("ROLLBACK")


def _copy_table(source: Connection, target: Connection, table: Table, where: str) -> Copied:
    insert = (
        f"INSERT INTO {quoted(table.name)} ({', '.join(map(quoted, table.columns))})"
        f" VALUES ({', '.join('?' * len(table.columns))})"
    )
    read = Checksum()
    for batch in batches(source, table):
        read.add(batch)
        if table.name in KEPT_BY_TRIGGERS:  # the target's triggers wrote it: compared only
            continue
        try:
            if target.dialect == "postgresql":
                _copy_in(target, table, batch)
            else:
                target.executemany(insert, batch)
        except Exception as error:
            if not _refused_row(error):
                raise
            said = " ".join(str(error).split())
            raise UserError(f"{where}: {table.name}: a row was refused ({said})") from None
    written = checksum(target, table)
    return Copied(table.name, read.rows, read.hexdigest(), written.rows, written.hexdigest())


def _copy_in(target: Connection, table: Table, rows: list) -> None:
    """PostgreSQL's COPY, a stream a batch: 200,000 rows copied in 7 s, 33 s with an INSERT
    a row (`executemany`, pipelined)."""
    columns = ", ".join(map(quoted, table.columns))
    with target.raw.cursor().copy(f"COPY {quoted(table.name)} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _refused_row(error: Exception) -> bool:
    """An error of the data (a constraint, a value of the wrong type), not of the machine."""
    names = {kind.__name__ for kind in type(error).__mro__}
    return bool(names & {"IntegrityError", "DataError"})


class Checksum:
    """SHA-256 over rows as JSON arrays, one a line: the same rows give the same sum on
    either engine, and a value of another type (1, "1", 1.0, null, bytes) another sum."""

    def __init__(self) -> None:
        self.rows = 0
        self._sha = hashlib.sha256()

    def add(self, rows: list) -> None:
        for row in rows:
            line = json.dumps(tuple(row), ensure_ascii=False, separators=(",", ":"),
                              default=_blob)  # fmt: skip
            self._sha.update(line.encode() + b"\n")
        self.rows += len(rows)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def _blob(value: object) -> dict:
    """A BLOB / bytea value (an inbound message's raw bytes) in a row's JSON: an object, which
    no column's value is otherwise."""
    if isinstance(value, bytes | memoryview):
        return {"bytes": bytes(value).hex()}
    raise TypeError(f"a {type(value).__name__} in a row: no checksum for it")


def checksum(connection: Connection, table: Table) -> Checksum:
    """The table's rows and checksum as they are in `connection` now."""
    summed = Checksum()
    for batch in batches(connection, table):
        summed.add(batch)
    return summed


def batches(connection: Connection, table: Table, size: int = BATCH) -> Iterator[list]:
    """The table's rows in primary-key order, `size` at a time, each batch starting after the
    last key of the one before (the key's index finds it: no OFFSET to skip through)."""
    columns = ", ".join(map(quoted, table.columns))
    key = ", ".join(map(quoted, table.key))
    at = [table.columns.index(column) for column in table.key]
    first = f"SELECT {columns} FROM {quoted(table.name)} ORDER BY {key} LIMIT ?"
    after = (
        f"SELECT {columns} FROM {quoted(table.name)}"
        f" WHERE ({key}) > ({', '.join('?' * len(at))}) ORDER BY {key} LIMIT ?"
    )
    rows = connection.execute(first, (size,)).fetchall()
    while rows:
        yield rows
        if len(rows) < size:
            return
        last = rows[-1]
        rows = connection.execute(after, (*(last[i] for i in at), size)).fetchall()


def _continue_ids(target: Connection) -> None:
    """PostgreSQL gives ids from a sequence that explicit ids do not move: set each past the
    largest id copied, so the next contact gets the next id (SQLite takes max(id) + 1)."""
    for table, column in target.execute(_IDENTITIES).fetchall():
        target.execute(
            f"SELECT setval(pg_get_serial_sequence(?, ?), max({quoted(column)}))"
            f" FROM {quoted(table)} HAVING max({quoted(column)}) IS NOT NULL",
            (table, column),
        )
