"""`salesflow run` and `salesflow tick` with nothing due, answered before the command line
is loaded.

cron starts `run` (or `tick`) every minute, and nearly always nothing is due. Loading typer
(with pydantic, which typer 0.29 uses for every parameter), the engine, Jinja and mail to find
that out cost 4× what finding it out costs. This path understands only the plain call —
`salesflow [--project DIR | -C DIR] [--now TIME] run|tick` — and only ever concludes "nothing
is due": anything else (another command or option, work to do, a skipped-run mark to clear,
any error at all) goes to the full command line, which does the work and reports problems.
`tick` neither takes in the inbox nor reads the replies mailbox, so neither counts for it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_VALUED = {"--project": "project", "-C": "project", "--now": "now"}
_COMMANDS = {"run", "tick"}


def nothing_due(argv: list[str]) -> bool:
    """True when `argv` is a plain `run` or `tick` and nothing is due (said as the full
    command says it: `tick` always, `run` on a terminal only — cron mails any output)."""
    options = _plain_call(argv)
    if options is None:
        return False
    try:
        due = _anything_due(options)
    except Exception:  # the full command line says what is wrong, in the user's words
        return False
    if due:
        return False
    if options["command"] == "tick" or sys.stdout.isatty():
        print("nothing was due")
    return True


def _plain_call(argv: list[str]) -> dict[str, str | None] | None:
    """{project, now, command} from `[options] run|tick`, or None for anything else."""
    options = {"project": os.environ.get("SALESFLOW_PROJECT"),
               "now": os.environ.get("SALESFLOW_NOW")}  # fmt: skip
    rest = list(argv)
    while len(rest) > 1:
        name, equals, value = rest[0].partition("=")
        if name not in _VALUED:
            return None
        if not equals:
            if len(rest) < 3:
                return None
            value = rest[1]
            del rest[0]
        options[_VALUED[name]] = value
        del rest[0]
    if len(rest) != 1 or rest[0] not in _COMMANDS:
        return None
    return {**options, "command": rest[0]}


def _anything_due(options: dict[str, str | None]) -> bool:
    from salesflow import clock
    from salesflow.config.cache import load_project
    from salesflow.config.locate import find_root
    from salesflow.engine.due import anything_due
    from salesflow.store.health import skipped_runs_marked
    from salesflow.store.session import Store

    if options["project"] and not Path(options["project"]).is_dir():
        return True  # the full command line says what is wrong with --project
    root = find_root(Path(options["project"] or Path.cwd()))
    project = load_project(root, os.environ.get("SALESFLOW_DB"))
    new_file = isinstance(project.database, Path) and not project.database.exists()
    marks = options["command"] == "run" and skipped_runs_marked(project)
    if new_file or marks:
        return True  # the full run creates the database (or says it is lost), clears marks
    store = Store.open(project, clock.now(options["now"], project.timezone))
    try:
        return anything_due(store, intake=options["command"] == "run")
    finally:
        store.conn.close()
