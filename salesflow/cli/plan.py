"""`salesflow plan`: what the robot will do over the coming days, and what a change of
configuration changes in it."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated

import typer
from babel.dates import format_date, format_datetime

from salesflow.cli.options import AsJson, OutputFormat
from salesflow.cli.render import Format, chosen, to_csv
from salesflow.engine.plan import KIND_ORDER
from salesflow.errors import UserError
from salesflow.phrases import say
from salesflow.reports import Column
from salesflow.reports.as_json import to_json
from salesflow.translations import N_, translations

DAYS = 14  # how far ahead, unless told
EXIT_DIFFERENT = 4  # with --exit-code, as `git diff` has it; 1, 2 and 3 keep their meaning
ASSUMPTIONS = N_(
    "assumes no new input (no form, no import, nobody moves a deal, nobody replies, nothing"
    " bounces), every email delivered and every request answered 2xx"
)
NOTHING = N_("nothing to do")
HEADER = N_("plan from {start} to {until} ({zone}): {moments} moments visited")
DIFFERENT = (
    N_("{count} difference against {against}"),
    N_("{count} differences against {against}"),
)
SAME = N_("no difference against {against}")
NO_WORKFLOW = N_("(no workflow)")  # the changes of stalls, which no workflow makes
CHANGE_WORDS = {"added": N_("added"), "removed": N_("removed"), "changed": N_("changed")}
PLAN_COLUMNS = (N_("time"), N_("what"), N_("workflow"), N_("record"), N_("detail"))
CHANGE_COLUMNS = (N_("change"), N_("when"), N_("what"), N_("record"), N_("detail"))
WAS = N_("{field} was “{value}”")  # a changed effect's value before the change
KIND_WORDS = {  # each kind of effect, as one and as many
    "email": (N_("email"), N_("emails")),
    "notification": (N_("notification"), N_("notifications")),
    "task": (N_("task"), N_("tasks")),
    "deal": (N_("deal created"), N_("deals created")),
    "ticket": (N_("ticket created"), N_("tickets created")),
    "move": (N_("move"), N_("moves")),
    "update": (N_("update"), N_("updates")),
    "request": (N_("request"), N_("requests")),
    "stalled": (N_("stall"), N_("stalls")),
    "not sent": (N_("email not sent"), N_("emails not sent")),
    "failure": (N_("failure"), N_("failures")),
    "run started": (N_("run started"), N_("runs started")),
    "run ended": (N_("run ended"), N_("runs ended")),
}


def plan(
    ctx: typer.Context,
    days: Annotated[
        int | None,
        typer.Option("--days", min=1, max=366, help="How many days ahead (default 14)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="DATE", help="Up to this date (inclusive) or date-time."),
    ] = None,
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            metavar="REF",
            help="Compare with the configuration of a Git revision (main, a commit) or of"
            " another folder: print what the change changes.",
        ),
    ] = None,
    exit_code: Annotated[
        bool,
        typer.Option("--exit-code", help="With --against: exit 4 when the plans differ."),
    ] = False,
    output: OutputFormat = Format.table,
    as_json: AsJson = False,
) -> None:
    """Replay the coming days on a scratch copy of the database and print every email,
    notification, task, move, update, request and stall the robot would make — nothing is
    sent or changed.

    Example: salesflow plan --days 7

    Example (in a pull request): salesflow plan --against origin/main --format markdown
    """
    from salesflow.config.revision import project_elsewhere
    from salesflow.engine.plan import plan as replay
    from salesflow.engine.plan_diff import compare

    if exit_code and not against:
        raise typer.BadParameter("--exit-code compares: give --against REF too")
    if days is not None and until is not None:
        raise typer.BadParameter("give --days or --until, not both")
    output = chosen(output, as_json)
    project = ctx.obj.project()
    now = ctx.obj.now(project)
    end = _end(until, days or DAYS, now, project)
    if against is None:
        _print_plan(replay(project, now, end), project, output)
        return
    with project_elsewhere(project.root, against, str(project.database)) as theirs:
        before = replay(theirs, now, end)
    ours = replay(project, now, end)
    changes = compare(before, ours)
    _print_changes(changes, ours, against, project, output)
    if changes and exit_code:
        raise typer.Exit(EXIT_DIFFERENT)


def _end(until: str | None, days: int, now: datetime, project) -> datetime:
    if until is None:
        return now + timedelta(days=days)
    from salesflow.values import parse_datetime

    try:
        moment = parse_datetime(until, project.locale, project.timezone)
    except ValueError as error:
        raise UserError(f"--until {until!r}: {error}") from None
    moment = moment.astimezone(project.timezone)
    if len(until.strip()) <= 10:  # a date alone: to its end
        moment = datetime.combine(moment.date(), time.max, moment.tzinfo)
    if moment <= now:
        raise UserError(f"--until {until!r} is not after now ({now:%Y-%m-%d %H:%M})")
    return moment


def summary(counts, gettext=None) -> str:
    """`2 emails, 1 task, 1 stall`: each kind of effect counted, in the plan's order."""
    parts = []
    for kind in KIND_ORDER:
        if counts.get(kind):
            one, many = KIND_WORDS[kind]
            words = (gettext or str)(one if counts[kind] == 1 else many)
            parts.append(f"{counts[kind]} {words}")
    return ", ".join(parts) or (gettext or str)(NOTHING)


class _View:
    """Dates, times and the trace lines in the project's zone and language."""

    def __init__(self, project):
        self.project = project
        self.gettext = translations(project.locale).gettext

    def day(self, moment: datetime) -> str:
        return format_date(moment, "EEEE d MMMM y", locale=self.project.locale).capitalize()

    def moment(self, moment: datetime) -> str:
        return format_datetime(moment, "d MMM y HH:mm", locale=self.project.locale)

    def said(self, effect) -> str:
        """The effect in words, and what the plan assumes about it (a request's answer)."""
        said = say(effect.said, self.gettext) or ""
        return f"{said} ({self.gettext(effect.assumes)})" if effect.assumes else said

    def columns(self, names) -> str:
        """A markdown table's header row, in the project's language."""
        return _row(self.gettext(name) for name in names)

    def kind(self, kind: str) -> str:
        return self.gettext(KIND_WORDS[kind][0])

    def header(self, result) -> list[str]:
        said = self.gettext(HEADER).format(
            start=self.moment(result.start), until=self.moment(result.until),
            zone=self.project.timezone.key, moments=len(result.moments),
        )  # fmt: skip
        return [said, self.gettext(ASSUMPTIONS)]


def _where(effect) -> str:
    return " › ".join(filter(None, (effect.workflow, effect.step)))


def _by_day(effects) -> dict[date, list]:
    days: dict[date, list] = {}
    for effect in effects:
        days.setdefault(effect.at.date(), []).append(effect)
    return days


_CSV_COLUMNS = [Column(key, key) for key in
                ("at", "kind", "workflow", "step", "record", "detail", "assumes")]  # fmt: skip
_CHANGES_CSV_COLUMNS = [Column("change", "change"), Column("before", "before"), *_CSV_COLUMNS]


def _csv_row(effect, view: _View) -> dict:
    return {"at": effect.at.isoformat(), "kind": effect.kind, "workflow": effect.workflow,
            "step": effect.step, "record": effect.record, "detail": view.said(effect),
            "assumes": effect.assumes}  # fmt: skip


def _print_plan(result, project, output: Format) -> None:
    if output == Format.csv:
        view = _View(project)
        rows = [_csv_row(effect, view) for effect in result.effects]
        typer.echo(to_csv(rows, _CSV_COLUMNS, project), nl=False)
        return
    if output == Format.json:
        data = {"start": result.start.isoformat(), "until": result.until.isoformat(),
                "assumes": ASSUMPTIONS, "moments": [m.isoformat() for m in result.moments],
                "counts": dict(result.counts()),
                "effects": [effect.as_json() for effect in result.effects]}  # fmt: skip
        typer.echo(to_json(data))
        return
    view = _View(project)
    markdown = output == Format.markdown
    lines = view.header(result)
    if markdown:
        lines = [f"**salesflow plan**: {lines[0]}", "", f"_{lines[1]}_"]
    for _day, effects in _by_day(result.effects).items():
        lines += ["", f"### {view.day(effects[0].at)}" if markdown else view.day(effects[0].at)]
        if markdown:
            lines += ["", view.columns(PLAN_COLUMNS), "|---|---|---|---|---|"]
        for effect in effects:
            cells = (f"{effect.at:%H:%M}", view.kind(effect.kind), _where(effect),
                     effect.record or "", view.said(effect))  # fmt: skip
            lines.append(_row(cells) if markdown else "  " + "  ".join(filter(None, cells)))
    lines += ["", summary(result.counts(), view.gettext)]
    typer.echo("\n".join(lines))


def _print_changes(changes, result, against: str, project, output: Format) -> None:
    if output == Format.csv:
        view = _View(project)
        rows = [{"change": change.what,
                 "before": change.before.at.isoformat() if change.before else None,
                 **_csv_row(change.effect, view)} for change in changes]  # fmt: skip
        typer.echo(to_csv(rows, _CHANGES_CSV_COLUMNS, project), nl=False)
        return
    if output == Format.json:
        typer.echo(to_json({"against": against, "start": result.start.isoformat(),
                            "until": result.until.isoformat(), "assumes": ASSUMPTIONS,
                            "changes": [change.as_json() for change in changes]}))  # fmt: skip
        return
    view = _View(project)
    markdown = output == Format.markdown
    words = DIFFERENT[len(changes) > 1] if changes else SAME
    title = view.gettext(words).format(count=len(changes), against=against)
    header, assumptions = view.header(result)
    if markdown:
        lines = [f"**salesflow plan**: {title}", "", header, "", f"_{assumptions}_"]
    else:
        lines = [title, header, assumptions]
    by_workflow: dict[str, list] = {}
    for change in changes:
        by_workflow.setdefault(change.workflow, []).append(change)
    for workflow, listed in by_workflow.items():
        named = workflow or view.gettext(NO_WORKFLOW)
        lines += ["", f"### {named}" if markdown else f"{named}:"]
        if markdown:
            lines += ["", view.columns(CHANGE_COLUMNS), "|---|---|---|---|---|"]
        for change in listed:
            sign = _CHANGE_SIGN[change.what]
            cells = (f"{sign} {view.gettext(CHANGE_WORDS[change.what])}" if markdown else sign,
                     _when(change, view), view.kind(change.effect.kind),
                     change.effect.record or "", _detail(change, view))  # fmt: skip
            lines.append(_row(cells) if markdown else "  " + "  ".join(filter(None, cells)))
    typer.echo("\n".join(lines))


_CHANGE_SIGN = {"added": "+", "removed": "-", "changed": "~"}


def _when(change, view: _View) -> str:
    now = view.moment(change.effect.at)
    if change.before is not None and "at" in change.fields:
        return f"{view.moment(change.before.at)} → {now}"
    return now


def _detail(change, view: _View) -> str:
    said = view.said(change.effect)
    others = [name for name in change.fields if name != "at"]
    if not others or change.before is None:
        return said
    was = view.gettext(WAS)
    before = ", ".join(was.format(field=name, value=change.before.values.get(name, ""))
                       for name in others)  # fmt: skip
    return f"{said} ({before})"


def _row(cells) -> str:
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"
