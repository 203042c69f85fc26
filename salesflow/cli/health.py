"""`salesflow check` (is everything running, does anything need a person?) and `backup`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from salesflow.cli.options import AsJson
from salesflow.cli.render import to_json

_MARK = {"ok": "ok     ", "note": "note   ", "problem": "PROBLEM"}


def check(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Check the database and the queues; exit 1 when something needs a person.

    Example (in a monitoring job): salesflow check || mail -s salesflow me@example.org
    """
    from salesflow.store import health
    from salesflow.store.db import DatabaseMissing

    try:
        findings = health.check(ctx.obj.store())
    except DatabaseMissing as missing:  # still say what serve and cron left
        project = ctx.obj.project()
        findings = health.check_without_database(project, ctx.obj.now(project), missing)
    if as_json:
        typer.echo(to_json([finding.as_json() for finding in findings]))
    else:
        for finding in findings:
            typer.echo(f"{_MARK[finding.level]} {finding.what}: {finding.detail}")
    if any(finding.level == "problem" for finding in findings):
        raise typer.Exit(1)


def backup(
    ctx: typer.Context,
    target: Annotated[Path, typer.Argument(help="The new file to write the copy to.")],
) -> None:
    """Copy the live database to FILE, consistently, while `run` and `serve` keep working.

    A PostgreSQL database is dumped by pg_dump (its custom format, for pg_restore).

    Example: salesflow backup backups/salesflow-$(date +%F).db
    """
    from salesflow.store.health import backup as make_backup

    store = ctx.obj.store()
    size = make_backup(store, target)
    typer.echo(f"backed up to {target} ({size / 1e6:.1f} MB)")
    if store.conn.dialect == "postgresql":
        typer.echo(f"restore it into an empty database with: pg_restore --dbname=URL {target}")
