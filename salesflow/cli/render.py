"""Rendering data for people and programs: rich tables, JSON, CSV for spreadsheets, Markdown."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import typer

from salesflow.config.model import Project
from salesflow.phrases import say
from salesflow.reports import Column, Report
from salesflow.reports.as_json import report_json, to_json
from salesflow.reports.display import cell


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


FORMAT_HELP = "table, json, csv (for spreadsheets) or markdown."


def chosen(output: Format, as_json: bool) -> Format:
    return Format.json if as_json else output


def emit_rows(
    rows: list[dict],
    columns: list[Column],
    output: Format,
    project: Project,
    title: str | None = None,
    totals: dict | None = None,
    notes: Iterable[str] = (),
) -> None:
    """Print rows (dicts) in the chosen format; JSON gives every key, the others the columns."""
    if output is Format.json:
        typer.echo(to_json(rows))
    elif output is Format.csv:
        typer.echo(to_csv(rows + ([totals] if totals else []), columns, project), nl=False)
    elif output is Format.markdown:
        typer.echo(to_markdown(rows, columns, project, title, totals))
    else:
        print_table(rows, columns, project, title, totals, notes)


def emit_report(report: Report, output: Format, project: Project) -> None:
    if output is Format.json:  # not typer.echo: JSON holds no escape sequence for click to
        # strip, and it would scan the whole text for them (2.5 MB: 10,000 stalled deals)
        sys.stdout.write(to_json(report_json(report)))
        sys.stdout.write("\n")
        return
    notes = [say(note) for note in report.notes]
    emit_rows(report.rows, report.columns, output, project, report.title, report.totals, notes)


def print_table(rows, columns, project, title=None, totals=None, notes=()) -> None:
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_footer=bool(totals))
    for column in columns:
        numeric = column.kind in ("int", "money", "percent", "days", "hours")
        footer = text_cell(totals.get(column.key), column.kind, project) if totals else ""
        justify = "right" if numeric else "left"
        table.add_column(column.label, justify=justify, footer=footer, no_wrap=numeric)
    for row in rows:
        table.add_row(*(text_cell(row.get(c.key), c.kind, project) for c in columns))
    console = Console()
    if not console.is_terminal:  # piped: whole values, however wide the table gets
        unbounded = console.options.update_width(1_000_000)
        console.width = max(console.width, Measurement.get(console, unbounded, table).maximum)
    console.print(table)
    for note in notes:
        console.print(f"[dim]{note}[/dim]")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def to_csv(rows: list[dict], columns: list[Column], project: Project) -> str:
    """CSV that Excel and Google Sheets open cleanly: a UTF-8 BOM, the locale's list separator
    and decimal mark, and text cells that could run as formulas neutralised with a quote."""
    from babel.numbers import get_decimal_symbol

    decimal_mark = get_decimal_symbol(project.locale)
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, delimiter=";" if decimal_mark == "," else ",", lineterminator="\r\n"
    )
    writer.writerow([column.label for column in columns])
    for row in rows:
        writer.writerow([_csv_cell(row.get(c.key), decimal_mark) for c in columns])
    return "\ufeff" + buffer.getvalue()


def _csv_cell(value: Any, decimal_mark: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, int | float | Decimal):
        return str(value).replace(".", decimal_mark)
    if isinstance(value, list):
        value = ", ".join(str(item) for item in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_markdown(rows, columns, project, title=None, totals=None) -> str:
    def line(values):
        return "| " + " | ".join(v.replace("|", "\\|").replace("\n", " ") for v in values) + " |"

    numeric = ("int", "money", "percent", "days", "hours")
    lines = [f"## {title}", ""] if title else []
    lines.append(line([c.label for c in columns]))
    lines.append("|" + "|".join("---:" if c.kind in numeric else "---" for c in columns) + "|")
    for row in rows + ([totals] if totals else []):
        lines.append(line([text_cell(row.get(c.key), c.kind, project) for c in columns]))
    return "\n".join(lines)


RECORD_KINDS = {
    "amount": "money",
    "expected_close": "date",
    **dict.fromkeys(
        ("created_at", "updated_at", "stage_entered_at", "closed_at", "unsubscribed_at",
         "due_at", "done_at", "first_response_at"),
        "datetime",
    ),
}  # fmt: skip


def when(value: str | datetime | None, project: Project) -> str:
    """A moment as every human output of the CLI writes it, tables, records, histories and
    traces alike: `2026-03-05 10:01`, in the project's time zone. Unambiguous in any
    locale, sorted as text, the form --now takes and run traces record ("waiting until
    2026-12-04 18:30"). JSON keeps ISO 8601 with the offset; the pages, the locale's form."""
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{moment.astimezone(project.timezone):%Y-%m-%d %H:%M}"


def text_cell(value: Any, kind: str, project: Project) -> str:
    """A value as the CLI prints it: as `cell` does for the pages, dates and moments aside
    (`2026-03-05`, see `when`)."""
    if kind == "datetime":
        return when(value, project)
    if kind == "date" and value:
        return str(value)[:10]
    return cell(value, kind, project)


def print_record(record: dict, project: Project, kind: str = "contact") -> None:
    """One object (a contact, deal or ticket: `kind`) as `key  value` lines, values in the
    project's locale, its custom date fields too."""
    fields = project.fields_of(kind).items()
    kinds = {name: spec.type for name, spec in fields if spec.type in ("date", "datetime")}
    kinds.update(RECORD_KINDS)
    width = max(len(key) for key in record)
    for key, value in record.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            continue
        typer.echo(f"{key.ljust(width)}  {text_cell(value, kinds.get(key, 'text'), project)}")
