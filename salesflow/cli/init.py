"""`salesflow init`: write a new project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from salesflow.errors import display_path
from salesflow.starter import write_starter


def init(
    directory: Annotated[
        Path, typer.Argument(help="Where to write the project (default: here).", file_okay=False)
    ] = Path("."),
) -> None:
    """Write a small, valid, commented project; never overwrites a file.

    Example: salesflow init my-club && cd my-club && salesflow validate
    """
    for path in write_starter(directory):
        typer.echo(f"wrote {display_path(path)}")
    typer.echo("next: edit salesflow.yaml, then run `salesflow validate`")
