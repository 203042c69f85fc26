"""The pages' templates: one Jinja environment (autoescaped) for the web pages and the
one-file HTML report, with the filters that show values as the CLI's tables do and the
SVG bar charts, so no page formats a number its own way."""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from importlib import resources

from jinja2 import Environment, PackageLoader, select_autoescape

from salesflow.config.model import Project
from salesflow.phrases import say
from salesflow.reports import Column
from salesflow.reports.display import cell
from salesflow.translations import translations
from salesflow.web.labels import LABELS

STATIC = resources.files("salesflow.web").joinpath("static")
CSS = STATIC.joinpath("salesflow.css").read_text("utf-8")
CSS_HASH = "sha256-" + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()


def environment(project: Project) -> Environment:
    env = Environment(
        loader=PackageLoader("salesflow.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    lang = "fr" if project.locale.startswith("fr") else "en"
    words = LABELS[lang]
    env.filters["show"] = lambda value, kind="text": cell(value, kind, project)
    env.filters["heading"] = lambda column: heading(column, words)
    gettext = translations(project.locale).gettext
    env.filters["said"] = lambda stored: say(stored, gettext)  # traces, reasons, errors
    env.globals.update(
        css=CSS,
        css_hash=CSS_HASH,
        static=static_url,
        project=project.name,
        lang=lang,
        t=words,
        bars=bars,
        members={member.id: member.name for member in project.team.values()},
        pipelines=list(project.pipelines.values()),
    )
    return env


@cache
def static_url(name: str) -> str:
    """`/static/<name>?v=<its hash>`: after an upgrade, browsers fetch the new file instead
    of one they kept (the static files carry no version of their own)."""
    digest = hashlib.sha256(STATIC.joinpath(name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


def heading(column: Column, words: dict[str, str]) -> str:
    """A report column's heading in the page's language, looked up by its key; a `name`
    column is headed by what it names (its label: a stage, an owner), not "Name"."""
    key = column.label if column.key == "name" else column.key
    return words.get(f"column_{key}", words.get(key, column.label))


def bars(rows: list[dict], value: str, label: str, second: str | None = None) -> list[dict]:
    """Each row's bar widths as a share of the largest value (0–1), for the SVG charts:
    `value` gives the dark bar, `second` (if any) a paler one behind it. A row without a
    label (no month, no owner) keeps None: the chart names it as the table does."""
    keys = [value, second] if second else [value]
    largest = max((float(row[key] or 0) for row in rows for key in keys), default=0) or 1
    return [
        {
            "label": row[label],
            "row": row,
            "share": float(row[value] or 0) / largest,
            "second": float(row[second] or 0) / largest if second else None,
        }
        for row in rows
    ]
