"""Email templates on disk: discovery, the subject front matter, and their Jinja checks."""

from __future__ import annotations

from pathlib import Path

import yaml

from salesflow.config.jinja_check import Scope, check_jinja
from salesflow.config.model import Template
from salesflow.errors import Problem
from salesflow.templating import split_front_matter

TEXT_SUFFIX = ".txt.j2"
HTML_SUFFIX = ".html.j2"


def discover_templates(directory: Path) -> tuple[dict[str, Template], list[Problem]]:
    """Every `<name>.txt.j2` (with its optional `<name>.html.j2`) as a Template; files whose
    name starts with `_` are layouts and partials, not emails."""
    templates: dict[str, Template] = {}
    problems: list[Problem] = []
    for text_path in sorted(directory.glob(f"[!_]*{TEXT_SUFFIX}")):
        name = text_path.name.removesuffix(TEXT_SUFFIX)
        subject, problem = _read_subject(text_path)
        if problem:
            problems.append(problem)
        html_path = directory / f"{name}{HTML_SUFFIX}"
        templates[name] = Template(
            name, subject, text_path, html_path if html_path.exists() else None
        )
    for html_path in sorted(directory.glob(f"[!_]*{HTML_SUFFIX}")):
        name = html_path.name.removesuffix(HTML_SUFFIX)
        if name not in templates:
            message = (
                f"an HTML part without its text part: add {name}{TEXT_SUFFIX} (with the"
                " subject in its front matter), or name this one _"
                + html_path.name
                + " if it is a layout"
            )
            problems.append(Problem(html_path, 1, 1, message))
    return templates, problems


def _read_subject(path: Path) -> tuple[str, Problem | None]:
    front, _ = split_front_matter(path.read_text(encoding="utf-8"))
    if front is None:
        message = 'an email template starts with a front matter: ---, subject: "…", ---'
        return "", Problem(path, 1, 1, message)
    try:
        data = yaml.safe_load(front)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 2 if mark else 2
        return "", Problem(path, line, 1, f"YAML syntax error in the front matter: {error}")
    if not isinstance(data, dict) or not isinstance(data.get("subject"), str):
        return "", Problem(path, 2, 1, 'the front matter needs a subject: "…"')
    return data["subject"], None


def check_template_files(directory: Path, env, scope: Scope) -> list[Problem]:
    """Jinja checks of every file in the templates folder (layouts and partials included)."""
    files = sorted(path for path in directory.glob("*.j2") if path.is_file())
    names = {path.name for path in files}
    problems: list[Problem] = []
    for path in files:
        front, body = split_front_matter(path.read_text(encoding="utf-8"))
        for lineno, message in check_jinja(body, env, scope, templates=names):
            problems.append(Problem(path, lineno, 1, message))
        if front and path.name.endswith(TEXT_SUFFIX):
            problems += _check_subject(path, front, env, scope)
    return problems


def _check_subject(path: Path, front: str, env, scope: Scope) -> list[Problem]:
    line = next(
        (n for n, text in enumerate(front.splitlines(), start=2) if text.startswith("subject")), 2
    )
    try:
        subject = yaml.safe_load(front).get("subject")
    except (yaml.YAMLError, AttributeError):
        return []  # reported by discover_templates
    if not isinstance(subject, str):
        return []
    return [
        Problem(path, line, 1, message, "subject")
        for _, message in check_jinja(subject, env, scope)
    ]
