"""The commonest command lines, answered before the command line is loaded: a plain
`salesflow --version`, `run` or `tick` with nothing due, and a plain `import FILE`.

Loading typer (with pydantic, which typer 0.29 uses for every parameter) and building the
command costs 35 ms, and the whole command line (every command's module, for `--version`)
0.2 s. cron starts `run` (or `tick`) every minute, and nearly always nothing is due: loading
typer, the engine, Jinja and mail to find that out cost 4× what finding it out costs. An
import of 100,000 rows costs about twice its floor, start-up included.

This path understands only the plain calls — `salesflow [--project DIR | -C DIR] [--now
TIME] run|tick|import FILE` — and hands anything else to the full command line: another
command or option, an option's value typer would refuse (a --project that is not a folder, a
FILE that is a folder or cannot be read), and for `run` and `tick` work to do, a skipped-run
mark to clear or any error at all. `tick` neither takes in the inbox nor reads the replies
mailbox, so neither counts for it. The import runs the command's own code (cli/state.py,
cli/import_file.py) and says its errors through cli/say.py, as the full command line does:
the same call prints the same lines and exits with the same code either way.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_VALUED = {"--project": "project", "-C": "project", "--now": "now"}
_ARGUMENTS = {"run": 0, "tick": 0, "import": 1}  # each plain command: how many arguments


def answered(argv: list[str]) -> int | None:
    """The exit code, when a quick path answered the command line `argv`; else None."""
    if argv == ["--version"]:
        from salesflow.cli.say import say_version

        say_version()
        return 0
    if nothing_due(argv):
        return 0
    return plain_import(argv)


def nothing_due(argv: list[str]) -> bool:
    """True when `argv` is a plain `run` or `tick` and nothing is due (said as the full
    command says it: `tick` always, `run` on a terminal only — cron mails any output)."""
    options = _plain_call(argv)
    if options is None or options["command"] == "import":
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


def plain_import(argv: list[str]) -> int | None:
    """The exit code of a plain `import FILE`, having imported it; None for anything else."""
    options = _plain_call(argv)
    if options is None or options["command"] != "import":
        return None
    (file,) = options["arguments"]
    if not _a_folder(options["project"]) or not _a_file_to_read(file):
        return None  # typer's own usage error
    from salesflow.cli.import_file import import_file, report
    from salesflow.cli.say import failed
    from salesflow.cli.state import State

    state = State(Path(options["project"]) if options["project"] else None, options["now"])
    try:
        report(import_file(state.store(), Path(file)), dry_run=False)
    except Exception as error:
        return failed(error, state.database(), debug=False)
    finally:
        state.close()
    return 0


def _a_folder(project: str | None) -> bool:
    """No --project, or a folder (typer refuses a file; find_root, whatever is missing)."""
    return project is None or Path(project).is_dir()


def _a_file_to_read(file: str) -> bool:
    """What typer takes for import's FILE: no such path (the import says so), or a readable
    path that is not a folder."""
    path = Path(file)
    return not path.exists() or (not path.is_dir() and os.access(path, os.R_OK))


def _plain_call(argv: list[str]) -> dict | None:
    """{project, now, command, arguments} from `[options] run|tick|import FILE`, or None for
    anything else (a short option's value glued to it, or an empty value, included)."""
    options = {"project": os.environ.get("SALESFLOW_PROJECT") or None,
               "now": os.environ.get("SALESFLOW_NOW") or None}  # fmt: skip
    words = iter(argv)
    for word in words:
        name, equals, value = word.partition("=")
        if name in _VALUED and (not equals or name.startswith("--")):
            if not equals:
                value = next(words, "")
            if not value:
                return None
            options[_VALUED[name]] = value
            continue
        arguments = list(words)
        if _ARGUMENTS.get(word) != len(arguments) or any(a.startswith("-") for a in arguments):
            return None
        return {**options, "command": word, "arguments": arguments}
    return None


def _anything_due(options: dict[str, str | None]) -> bool:
    from salesflow import clock
    from salesflow.config.cache import load_project
    from salesflow.config.locate import find_root
    from salesflow.engine.due import anything_due
    from salesflow.store.health import skipped_runs_marked
    from salesflow.store.session import Store

    if not _a_folder(options["project"]):
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
