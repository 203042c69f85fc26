"""Options that many commands share, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

from salesflow.cli.render import FORMAT_HELP, Format
from salesflow.store.db import LARGEST_ID

AsJson = Annotated[
    bool, typer.Option("--json", help="Print JSON (where --format exists: its json).")
]
# A record's number: one past what the database can hold is refused as a usage error (exit
# 2) rather than failing inside SQLite.
Id = Annotated[int, typer.Argument(min=1, max=LARGEST_ID)]
OutputFormat = Annotated[Format, typer.Option("--format", help=FORMAT_HELP)]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")]
Force = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Move even when the stage's requirements are not met (needs --by; the history"
        " marks the move forced).",
    ),
]
By = Annotated[
    str | None,
    typer.Option(
        "--by",
        metavar="MEMBER",
        help="The team member doing it, as the history names them (else: cli).",
    ),
]
Fields = Annotated[
    list[str] | None,
    typer.Option("--field", help="A custom field, NAME=VALUE (repeatable).", metavar="NAME=VALUE"),
]


def parse_fields(pairs: list[str] | None) -> dict[str, str]:
    fields = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"'{pair}' is not NAME=VALUE", param_hint="--field")
        fields[name.strip()] = value
    return fields
