"""The pages' templates: one Jinja environment (autoescaped) for the web pages and the
one-file HTML report, in the project's language (Jinja's i18n extension over the gettext
catalogs of salesflow/translations), with the filters that show values as the CLI's tables
do and the SVG bar charts, so no page formats a number its own way."""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from importlib import resources

from jinja2 import Environment, PackageLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from salesflow.config.model import Project
from salesflow.phrases import say
from salesflow.reports.display import cell
from salesflow.templating import format_span
from salesflow.translations import language, translations
from salesflow.web import words

STATIC = resources.files("salesflow.web").joinpath("static")
CSS = STATIC.joinpath("salesflow.css").read_text("utf-8")
CSS_HASH = "sha256-" + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()


def environment(project: Project) -> Environment:
    env = Environment(
        loader=PackageLoader("salesflow.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    catalog = translations(project.locale)
    env.install_gettext_translations(catalog, newstyle=True)
    gettext = catalog.gettext
    env.filters["show"] = lambda value, kind="text": (
        gettext(words.ROW_WORDS[value]) if value in words.ROW_WORDS else cell(value, kind, project)
    )
    env.filters["heading"] = lambda column: gettext(words.heading(column))
    env.filters["status"] = lambda status: gettext(words.STATUSES.get(status, status))
    env.filters["priority"] = lambda priority: gettext(words.PRIORITIES.get(priority, priority))
    env.filters["received"] = lambda message: gettext(words.received(message))
    env.filters["outcome"] = lambda status, kind="deal": gettext(words.OUTCOMES[kind, status])
    env.filters["blank"] = lambda key: gettext(words.BLANKS[key]) if key in words.BLANKS else None
    env.filters["note"] = lambda note: _note(note, gettext)
    env.filters["said"] = lambda stored: say(stored, gettext)  # traces, reasons, errors
    env.filters["markdown"] = markdown
    env.filters["duration"] = lambda span: format_span(span, project.locale)  # `1d`: `1 jour`
    env.globals.update(
        css=CSS,
        css_hash=CSS_HASH,
        static=static_url,
        project=project.name,
        lang=language(project.locale),
        catalog=catalog,  # for the Python that words a page: Site.gettext
        bars=bars,
        members={member.id: member.name for member in project.team.values()},
        pipelines=list(project.pipelines.values()),
    )
    return env


# CommonMark with HTML off: a stage's guidance is written by whoever edits the YAML, and any
# HTML in it is shown as text, never run (markdown-it also refuses javascript: links).
_MARKDOWN = MarkdownIt("commonmark", {"html": False})


def markdown(text: str | None) -> Markup:
    """A stage's guidance, Markdown, as HTML for a page."""
    return Markup(_MARKDOWN.render(text or ""))


def _note(note: str, gettext) -> str:
    """A report's note in the page's language: a phrase (a warning about deals in a stage
    that is gone), or a fixed note, marked where it is written."""
    said = say(note, gettext)
    return gettext(note) if said == note else said


@cache
def static_url(name: str) -> str:
    """`/static/<name>?v=<its hash>`: after an upgrade, browsers fetch the new file instead
    of one they kept (the static files carry no version of their own)."""
    digest = hashlib.sha256(STATIC.joinpath(name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


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
