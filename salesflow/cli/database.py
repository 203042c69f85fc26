"""`salesflow db`: the project's database as a whole — moving it to another one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from salesflow.config.model import DatabaseUrl
from salesflow.errors import UserError

if TYPE_CHECKING:
    from salesflow.store.copy import Copied

app = typer.Typer(no_args_is_help=True, help="The project's database as a whole: move it.")


@app.command("copy")
def copy(
    ctx: typer.Context,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="The new database: postgresql://host/dbname (empty, created by `createdb`),"
            " or a SQLite file to create.",
            metavar="TARGET",
        ),
    ],
) -> None:
    """Copy the whole database (contacts, deals, history, runs, outbox, secrets, sessions…)
    into an empty one, ids kept, then compare both table by table (rows and checksum).

    Then point `database:` in salesflow.yaml (or SALESFLOW_DB) at the new one. Stop `serve`
    and cron first: what they write after the copy starts stays behind.

    Example: salesflow db copy --to postgresql://db.example.org/club
    """
    from salesflow.store.copy import copy_database, open_target

    destination = DatabaseUrl.parse(to) or Path(to)
    if isinstance(destination, Path) and not destination.parent.is_dir():
        raise UserError(f"--to {to}: the folder {destination.parent} does not exist: create it")
    store = ctx.obj.store()
    target = open_target(store.conn, destination)
    try:
        copied = copy_database(store.conn, target, on_table=_say)
    finally:
        target.close()
    rows = sum(table.rows for table in copied)
    typer.echo(f"copied {len(copied)} tables, {rows:,} rows; rows and checksums match")


def _say(table: Copied) -> None:
    """One line a table, as it is done (a big database takes a while)."""
    mark = "ok" if table.same else "DIFFERS"
    rows = f"{table.rows:>9,} {'row ' if table.rows == 1 else 'rows'}"
    line = f"{mark:<7} {table.table:<16} {rows}  sha256 {table.checksum[:12]}"
    if not table.same:
        line += f"  target: {table.target_rows:,} rows, sha256 {table.target_checksum[:12]}"
    typer.echo(line)
