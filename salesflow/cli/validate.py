"""`salesflow validate`: check the project's files, every error on one located line."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from salesflow.config.locate import find_root
from salesflow.errors import UserError, display_path


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
) -> None:
    """Check the project: YAML syntax, the schemas, and that every reference resolves.

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
    if as_json or output is Format.json:
        typer.echo(json.dumps([p.as_json() for p in problems], indent=2, ensure_ascii=False))
    else:
        for problem in problems:
            typer.echo(problem.render())
        typer.echo(_summary(results, len(problems), {p.path for p in problems}))
    if problems:
        raise typer.Exit(1)


def _selected(path: Path, targets: list[Path]) -> bool:
    path = path.resolve()
    return not targets or any(path == t or t in path.parents for t in targets)


def _summary(results: list, errors: int, files: set[Path]) -> str:
    pipelines = sum(r.pipelines for r in results)
    workflows = sum(r.workflows for r in results)
    templates = sum(r.templates for r in results)
    checked = (
        f"{_count(pipelines, 'pipeline')}, {_count(workflows, 'workflow')},"
        f" {_count(templates, 'template')} checked"
    )
    if not errors:
        return f"ok: {checked}, no errors"
    return f"{_count(errors, 'error')} in {_count(len(files), 'file')} ({checked})"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
