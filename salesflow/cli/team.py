"""`salesflow team`: who may open the web pages (`salesflow serve`), and with what role."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from salesflow.cli.options import AsJson, OutputFormat
from salesflow.cli.render import Format, chosen, emit_rows
from salesflow.reports import Column
from salesflow.store import passwords
from salesflow.store.db import transaction

app = typer.Typer(no_args_is_help=True, help="The team's access to the web pages.")
COLUMNS = [
    Column("id", "id"),
    Column("name", "name"),
    Column("email", "email"),
    Column("role", "role"),
    Column("password_set_at", "password set", "datetime"),
]


@app.command("list")
def list_(ctx: typer.Context, output: OutputFormat = Format.table, as_json: AsJson = False):
    """The team of salesflow.yaml, with each member's role and whether they can log in.

    Example: salesflow team list
    """
    store = ctx.obj.store()
    rows = [
        {"id": m.id, "name": m.name, "email": m.email, "role": m.role,
         "password_set_at": passwords.changed_at(store, m.id)}
        for m in store.project.team.values()
    ]  # fmt: skip
    emit_rows(rows, COLUMNS, chosen(output, as_json), store.project, "Team")


@app.command()
def password(
    ctx: typer.Context,
    member: str,
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Read it from standard input (scripts).")
    ] = False,
) -> None:
    """Set a team member's password for the web pages: asked twice, never shown, stored
    hashed (scrypt) in the database. A new password ends the member's open sessions. Piped
    in (standard input not a terminal), it is read once from the first line, as with --stdin.

    Example: salesflow team password marie
    """
    store = ctx.obj.store()
    if member not in store.project.team:
        raise typer.BadParameter(f"'{member}' is not in the team of salesflow.yaml")
    if stdin or not sys.stdin.isatty():  # a pipe: getpass would warn and echo, then abort
        secret = sys.stdin.readline().rstrip("\r\n")
    else:
        secret = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with transaction(store.conn):
        passwords.set_password(store, member, secret)
    typer.echo(f"{member} can log in to the web pages (salesflow serve)")
