"""`salesflow pipeline`: the manager's views — board, funnel, forecast, stalled, workload."""

from __future__ import annotations

from typing import Annotated

import typer

from salesflow.cli.options import AsJson, OutputFormat
from salesflow.cli.render import (
    Format,
    cell,
    chosen,
    emit_report,
    emit_rows,
    report_json,
    to_json,
)
from salesflow.errors import UserError
from salesflow.phrases import say
from salesflow.reports import Column, Report
from salesflow.reports.board import CARD_COLUMNS
from salesflow.reports.board import board as board_report
from salesflow.reports.forecast import GROUPS
from salesflow.reports.forecast import forecast as forecast_report
from salesflow.reports.funnel import funnel as funnel_report
from salesflow.reports.losses import losses as losses_report
from salesflow.reports.stalled import stalled as stalled_report
from salesflow.reports.workload import workload as workload_report
from salesflow.store.deals import pipeline as find_pipeline
from salesflow.values import parse_date

app = typer.Typer(no_args_is_help=True, help="Reports on the pipeline.")
PipelineArg = Annotated[str | None, typer.Argument(help="Pipeline id (default: the only one).")]


@app.command()
def board(
    ctx: typer.Context,
    pipeline: PipelineArg = None,
    cards: Annotated[int, typer.Option(min=0, help="Deals shown per stage.")] = 5,
    owner: Annotated[str | None, typer.Option(help="Only this team member's deals.")] = None,
    oldest_first: Annotated[
        bool, typer.Option("--oldest-first", help="The deals longest in their stage first.")
    ] = False,
    output: OutputFormat = Format.table,
    as_json: AsJson = False,
) -> None:
    """One column per stage: how many deals, their amount, and the biggest ones (for a ticket
    pipeline: how many tickets, with their priority). The board page is
    `--cards 20 --oldest-first`.

    Example: salesflow pipeline board cours-essai --owner marie
    """
    store = ctx.obj.store()
    if owner is not None and owner not in store.project.team:
        raise typer.BadParameter(f"'{owner}' is not in the team", param_hint="--owner")
    report = board_report(store, pipeline, cards, owner, oldest_first)
    output = chosen(output, as_json)
    if output is Format.json:
        typer.echo(to_json(report_json(report)))
    elif output is Format.table:
        of = find_pipeline(store, pipeline, None if pipeline else "deal")
        _print_board(report, store.project, of.object == "ticket")
    else:
        rows = [
            {"stage": stage["name"], **card} for stage in report.rows for card in stage["cards"]
        ]
        columns = [Column("stage", "stage"), *CARD_COLUMNS]
        emit_rows(rows, columns, output, store.project, report.title)
    for note in report.notes if output is not Format.json else ():  # JSON has them inside
        typer.echo(say(note), err=True)  # deals in stages that are gone: said, never hidden


def _print_board(report: Report, project, tickets: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=report.title, title_justify="left", expand=True, show_lines=False)
    for stage in report.rows:
        noun = "ticket" if tickets else "deal"
        counted = f"{stage['count']} {noun}{'s' if stage['count'] != 1 else ''}"
        amount = "" if tickets else "\n" + cell(stage["amount"], "money", project)
        table.add_column(f"{stage['name']}\n{counted}{amount}", ratio=1)
    cells = []
    for stage in report.rows:
        lines = []
        for card in stage["cards"]:
            mark = " [bold red]⚠[/]" if card["stalled"] else ""
            money = card["priority"] if tickets else cell(card["amount"], "money", project) or "—"
            lines.append(
                f"[bold]{card['title']}[/]{mark}\n{card['contact'] or ''}\n"
                f"{card['owner'] or '—'} · {card['days_in_stage']}d\n{money}\n"
            )
        if stage["more"]:
            lines.append(f"[dim]+ {stage['more']} more[/]")
        cells.append("\n".join(lines))
    table.add_row(*cells)
    Console().print(table)


@app.command()
def funnel(
    ctx: typer.Context,
    pipeline: PipelineArg = None,
    since: Annotated[str | None, typer.Option(help="Only deals created since this date.")] = None,
    output: OutputFormat = Format.table,
    as_json: AsJson = False,
) -> None:
    """How many deals reached each stage, how many went on, and the median days in it; for
    a stage with required checklist items, the median hours deals wait on them (those
    still waiting counted to now), how many were measured and how many still wait.

    Example: salesflow pipeline funnel --since 2026-09-01
    """
    store = ctx.obj.store()
    day = None
    if since:
        try:
            day = parse_date(since, store.project.locale)
        except ValueError as error:
            raise UserError(f"--since: {error}") from None
    emit_report(funnel_report(store, pipeline, day), chosen(output, as_json), store.project)


@app.command()
def forecast(
    ctx: typer.Context,
    by: Annotated[str, typer.Option(help="month (expected close) or owner.")] = "month",
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline.")] = None,
    output: OutputFormat = Format.table,
    as_json: AsJson = False,
) -> None:
    """Open deals' amount × probability by expected close month (or owner), and won so far.

    Example: salesflow pipeline forecast --by owner
    """
    if by not in GROUPS:
        raise typer.BadParameter(f"'{by}' is not one of: {', '.join(GROUPS)}", param_hint="--by")
    store = ctx.obj.store()
    report, output = forecast_report(store, by, pipeline), chosen(output, as_json)
    if by == "month" and output is not Format.json:  # JSON keeps `"month": null`
        report.rows = [_month_named(row) for row in report.rows]
    emit_report(report, output, store.project)


def _month_named(row: dict) -> dict:
    """The row of deals without an expected close, named (as on the forecast page)."""
    return {**row, "month": "no expected close"} if row["month"] is None else row


@app.command()
def stalled(
    ctx: typer.Context,
    pipeline: PipelineArg = None,
    kind: Annotated[str, typer.Option(help="deal or ticket, when no pipeline is named.")] = "deal",
    output: OutputFormat = Format.table,
    as_json: AsJson = False,
) -> None:
    """Deals (or tickets) that outstayed their stage's rot_after, most overdue first.

    Example: salesflow pipeline stalled --kind ticket --format markdown
    """
    if kind not in ("deal", "ticket"):
        raise typer.BadParameter(f"'{kind}' is not one of: deal, ticket", param_hint="--kind")
    store, output = ctx.obj.store(), chosen(output, as_json)
    report = stalled_report(store, pipeline, kind, written=output is Format.json)
    emit_report(report, output, store.project)


@app.command()
def workload(ctx: typer.Context, output: OutputFormat = Format.table, as_json: AsJson = False):
    """Per team member: open deals, weighted amount, open and overdue tasks.

    Example: salesflow pipeline workload
    """
    store = ctx.obj.store()
    emit_report(workload_report(store), chosen(output, as_json), store.project)


@app.command()
def losses(
    ctx: typer.Context,
    pipeline: PipelineArg = None,
    output: OutputFormat = Format.table,
    as_json: AsJson = False,
) -> None:
    """Lost deals by the stage they were lost from and the reason.

    Example: salesflow pipeline losses --json
    """
    store = ctx.obj.store()
    emit_report(losses_report(store, pipeline), chosen(output, as_json), store.project)


@app.command()
def response(
    ctx: typer.Context,
    pipeline: PipelineArg = None,
    output: OutputFormat = Format.table,
    as_json: AsJson = False,
) -> None:
    """Tickets: median hours to a first response (an email to the contact or a stage move)
    and to resolution, by priority.

    Example: salesflow pipeline response support
    """
    from salesflow.reports.response import response as response_report

    store = ctx.obj.store()
    emit_report(response_report(store, pipeline), chosen(output, as_json), store.project)
