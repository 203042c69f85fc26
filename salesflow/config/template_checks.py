"""Email templates on disk: discovery, the subject front matter, and their Jinja checks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from salesflow.config import jinja_check
from salesflow.config.jinja_check import Scope, check_jinja
from salesflow.config.locate import CACHE_DIR
from salesflow.config.model import Template
from salesflow.config.yamlfile import syntax_problem
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
    except yaml.MarkedYAMLError as error:
        mark, message = syntax_problem(error, front)
        line, column = (mark.line + 2, mark.column + 1) if mark else (2, 1)
        return "", Problem(path, line, column, f"in the front matter: {message}")
    if not isinstance(data, dict) or not isinstance(data.get("subject"), str):
        return "", Problem(path, 2, 1, 'the front matter needs a subject: "…"')
    return data["subject"], None


def check_template_files(directory: Path, env, scope: Scope) -> list[Problem]:
    """Jinja checks of every file in the templates folder (layouts and partials included).

    Parsing a long template is most of `validate`'s time (Jinja's lexer), so each file's
    findings are kept in `.salesflow/` keyed by its content and everything it is checked
    against: an unchanged template is not parsed again (the pre-commit hook's case)."""
    files = sorted(path for path in directory.glob("*.j2") if path.is_file())
    names = {path.name for path in files}
    cache = _CheckCache(directory.parent.parent, f"{sorted(names)}{scope!r}")
    problems: list[Problem] = []
    for path in files:
        source = path.read_text(encoding="utf-8")
        found = cache.get(source)
        if found is None:
            found = _check_one(path, source, env, scope, names)
            cache.put(source, found)
        problems += [Problem(path, line, column, message, key) for line, column, message, key
                     in found]  # fmt: skip
    cache.save()
    return problems


def _check_one(path: Path, source: str, env, scope: Scope, names: set[str]) -> list[tuple]:
    front, body = split_front_matter(source)
    found = [(lineno, 1, message, "") for lineno, message in
             check_jinja(body, env, scope, templates=names)]  # fmt: skip
    if front and path.name.endswith(TEXT_SUFFIX):
        found += [(p.line, p.column, p.message, p.key) for p in _check_subject(path, front, env,
                                                                               scope)]  # fmt: skip
    return found


class _CheckCache:
    """Findings by template content, in `.salesflow/template-checks.json` (best effort: a
    folder that cannot be written just goes uncached)."""

    def __init__(self, root: Path, context: str):
        from salesflow import __version__

        self.path = root / CACHE_DIR / "template-checks.json"
        checker = Path(jinja_check.__file__).stat()  # a changed checker may find other things
        self.salt = f"{__version__}\0{checker.st_size}\0{checker.st_mtime_ns}\0{context}\0"
        self.changed = False
        try:
            self.entries = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}
        self.used: dict[str, list] = {}

    def _key(self, source: str) -> str:
        return hashlib.sha256((self.salt + source).encode()).hexdigest()

    def get(self, source: str) -> list[tuple] | None:
        found = self.entries.get(self._key(source))
        if found is not None:
            self.used[self._key(source)] = found
        return [tuple(item) for item in found] if found is not None else None

    def put(self, source: str, found: list[tuple]) -> None:
        self.used[self._key(source)] = [list(item) for item in found]
        self.changed = True

    def save(self) -> None:
        if not self.changed and len(self.used) == len(self.entries):
            return
        try:
            self.path.parent.mkdir(exist_ok=True)
            partial = self.path.with_suffix(".tmp")
            partial.write_text(json.dumps(self.used), encoding="utf-8")
            partial.replace(self.path)
        except OSError:
            pass


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
