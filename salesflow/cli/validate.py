"""`salesflow validate`: check the project's files, every error on one located line."""

from __future__ import annotations

import json
import sqlite3
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from salesflow.config.locate import find_root
from salesflow.errors import Problem, UserError, display_path


class Format(StrEnum):
    text = "text"
    json = "json"


def validate(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Project folders, sub-folders or single files (default: the project)."),
    ] = None,
    output: Annotated[Format, typer.Option("--format", help="text, or json for CI.")] = Format.text,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    strict: Annotated[
        bool,
        typer.Option(
            help="Warnings (a workflow's move onto a stage whose requirements it never"
            " sets, the data in the database) are errors too."
        ),
    ] = False,
) -> None:
    """Check the project: YAML syntax, the schemas, and that every reference resolves. Warn
    about a workflow's step onto a stage whose `requires` the workflow never sets and, when
    the project's database exists, about deals in stages the pipelines no longer have (the
    database is only read, never created or migrated).

    Example: salesflow validate workflows/
    """
    from salesflow.config.project import validate as validate_project  # jsonschema, Jinja: lazily

    state = ctx.obj
    targets = [path.resolve() for path in paths or []]
    for target in targets:
        if not target.exists():
            raise UserError(f"{target}: no such file or folder")
    roots = sorted({find_root(t if t.is_dir() else t.parent) for t in targets} or {state.root()})
    results = [validate_project(root) for root in roots]
    known = {path.resolve() for result in results for path in result.files}
    for target in targets:
        if target.is_file() and target not in known:
            raise UserError(
                f"{display_path(target)} is not a project file: salesflow.yaml,"
                " pipelines/*.yaml, workflows/*.yaml or workflows/templates/*.j2"
            )
    problems = [p for r in results for p in r.problems if _selected(p.path, targets)]
    warnings = [w for r in results for w in r.warnings if _selected(w.path, targets)]
    warnings += [w for r in results if r.project for w in data_warnings(r.project)]
    if as_json or output is Format.json:
        found = [p.as_json() for p in problems] + [{**w.as_json(), "warning": True}
                                                     for w in warnings]  # fmt: skip
        typer.echo(json.dumps(found, indent=2, ensure_ascii=False))
    else:
        for problem in problems:
            typer.echo(problem.render())
        for warning in warnings:
            typer.echo(warning.render().replace(": ", ": warning: ", 1), err=True)
        typer.echo(_summary(results, problems, warnings, strict))
        for result in results:
            _environment_line(result.project)
    if problems or (strict and warnings):
        raise typer.Exit(1)


def data_warnings(project) -> list[Problem]:
    """What the database holds that the project no longer describes: deals in stages that
    are gone. Read-only: a missing database is simply not checked."""
    from salesflow.phrases import say
    from salesflow.store.db import open_read_only
    from salesflow.store.stages import stray_message, stray_stages

    connection = open_read_only(project.database)
    if connection is None:
        return []
    try:
        strays = stray_stages(connection, project)
    except sqlite3.DatabaseError as error:  # damaged, or older than any deal table
        return [Problem(project.database, 1, 1, f"cannot be read ({error}); see `salesflow check`")]
    finally:
        connection.close()
    return [
        Problem(project.database, 1, 1, say(stray_message(pipeline, stage, count, project)))
        for pipeline, stage, count in strays
    ]


def _environment_line(project) -> None:
    """The secrets the project's requests need, for whoever deploys it."""
    from salesflow.config.environment import needed

    names = needed(project.workflows.values()) if project else {}
    if names:
        typer.echo(f"environment: {', '.join(names)} (named by http steps; set where"
                   " `salesflow run` and `serve` run)")  # fmt: skip


def _selected(path: Path, targets: list[Path]) -> bool:
    path = path.resolve()
    return not targets or any(path == t or t in path.parents for t in targets)


def _summary(results: list, problems: list[Problem], warnings: list[Problem], strict: bool) -> str:
    """The last line: what was checked, and what was found — the warnings counted among the
    errors under --strict (they make the exit code 1), beside them otherwise."""
    pipelines = sum(r.pipelines for r in results)
    workflows = sum(r.workflows for r in results)
    templates = sum(r.templates for r in results)
    checked = (
        f"{_count(pipelines, 'pipeline')}, {_count(workflows, 'workflow')},"
        f" {_count(templates, 'template')} checked"
    )
    errors = problems + warnings if strict else problems
    beside = f", {_count(len(warnings), 'warning')}" if warnings and not strict else ""
    if not errors:
        return f"ok: {checked}, no errors{beside}"
    files = _count(len({p.path for p in errors}), "file")
    if strict and warnings:
        counted = "counted as an error" if len(warnings) == 1 else "counted as errors"
        checked = f"{_count(len(warnings), 'warning')} {counted} by --strict; {checked}"
    return f"{_count(len(errors), 'error')} in {files}{beside} ({checked})"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
