"""`salesflow today`: each member's list of what to do today, in the order to do it."""

from __future__ import annotations

from typing import Annotated

import typer

from salesflow.cli.options import AsJson
from salesflow.cli.render import print_table, to_json
from salesflow.reports import Column
from salesflow.reports.today import KINDS
from salesflow.reports.today import today as today_report
from salesflow.wording import counted

COLUMNS = [
    Column("what", "what"),
    Column("id", "#", "int"),
    Column("title", "title"),
    Column("contact", "contact"),
    Column("why", "why"),
    Column("link", "link"),
]


def today(
    ctx: typer.Context,
    member: Annotated[str | None, typer.Option(help="Only this team member's list.")] = None,
    as_json: AsJson = False,
) -> None:
    """What each member has to do today, in the order to do it: overdue tasks, tasks due
    today, stalled deals, deals and tickets waiting on a required checklist item, deals
    with no next step or no open task. Without --member, the whole team, member by member.

    Example: salesflow today --member marie
    """
    store = ctx.obj.store()
    if member is not None and member not in store.project.team:
        raise typer.BadParameter(f"'{member}' is not in the team", param_hint="--member")
    report = today_report(store, member)
    if as_json:
        typer.echo(to_json(report))
        return
    for person in report["members"]:
        rows = [
            {**item, "what": KINDS[item["kind"]], "why": _why(item)} for item in person["items"]
        ]
        title = f"Today {report['date']} — {person['name']}"
        if rows:
            print_table(rows, COLUMNS, store.project, title)
        else:
            typer.echo(f"{title}: nothing to do")


def _why(item: dict) -> str:
    """What the item's kind means for it, in a few words."""
    if item["due_at"]:
        on = f" ({item['deal']})" if item["deal"] else ""
        return f"due {item['due_at'][:16].replace('T', ' ')}{on}"
    if item["items"]:
        return f"to tick in {item['stage_name']}: {', '.join(item['items'])}"
    if item["stage_name"]:
        return f"{counted(item['days_overdue'], 'day')} too long in {item['stage_name']}"
    return "no " + " and no ".join(
        "next step" if missing == "next_step" else "open task" for missing in item["missing"]
    )
