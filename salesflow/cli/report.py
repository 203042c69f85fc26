"""`salesflow report --html FILE`: the pipeline as one self-contained HTML file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from salesflow.errors import UserError


def report(
    ctx: typer.Context,
    html: Annotated[
        str | None,
        typer.Option(metavar="FILE", help="Write the HTML report there (- for the screen)."),
    ] = None,
) -> None:
    """Write the pipeline as one self-contained HTML file, to mail or share.

    The board and funnel of every pipeline, the forecast, workload, losses and stalled
    deals, and each member's today; inline CSS and SVG, no script, nothing fetched.

    Example: salesflow report --html rapport.html
    """
    from salesflow.web.report import html_report

    if html is None:
        raise UserError("say where the report goes: --html FILE (or --html - for the screen)")
    text = html_report(ctx.obj.store())
    if html == "-":
        sys.stdout.write(text)
        return
    try:
        Path(html).write_text(text, encoding="utf-8")
    except OSError as error:
        raise UserError(f"{html}: cannot write the report: {error.strerror}") from None
    typer.echo(f"report written to {html}", err=True)
