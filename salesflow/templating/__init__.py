"""The one Jinja environment: sandboxed, strict about undefined names, autoescaping HTML parts
only, with filters for dates, times, money and durations in the project's locale and zone.

Data from forms and CSV files is only ever passed *to* templates, never compiled as one.
Beside it: references.py (`{{ env.NAME }}` kept out of the database, redaction) and urls.py
(what a template may fill in a URL) — below config, which checks workflows with them.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from salesflow.durations import parse_duration

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|\Z)", re.S)
DATE_STYLES = ("short", "medium", "long", "full")


def split_front_matter(text: str) -> tuple[str | None, str]:
    """(front matter, body); the body keeps the front matter's lines as blank lines, so a
    Jinja error in it reports the line of the file itself. A byte-order mark (what some
    Windows editors put first) is not part of the text."""
    text = text.removeprefix("\ufeff")
    match = _FRONT_MATTER.match(text)
    if not match:
        return None, text
    return match.group(1), "\n" * match.group(0).count("\n") + text[match.end() :]


class _TemplateLoader(FileSystemLoader):
    """Loads `workflows/templates/` files without their front matter."""

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        return split_front_matter(source)[1], filename, uptodate


_PLAIN_PATH = re.compile(r"^\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}$")
_PRINTED_AS_STR = (str, int, float)


def is_attribute(name: str) -> bool:
    """Jinja reads `x.items` as the method of a dict (or list, or text), not the key."""
    return any(hasattr(kind, name) for kind in (dict, list, str))


def plain_path(source: str) -> list[str] | None:
    """The names of a template that is only `{{ a.b.c }}` — a value that can be read from
    the context's dicts instead of rendered (a render costs ~50 µs, a lookup ~1 µs). None
    for any other template, or when a name is also a method Jinja would find first."""
    match = _PLAIN_PATH.match(source)
    if not match:
        return None
    names = match.group(1).split(".")
    return None if any(is_attribute(name) for name in names[1:]) else names


def read_plain(names: list[str], context: dict) -> str | None:
    """What Jinja prints for `{{ a.b.c }}` when every name is a key of a dict and the value
    a text, a number or None; None when Jinja must decide (a missing name is its error)."""
    value: Any = context
    for name in names:
        if not isinstance(value, dict) or name not in value:
            return None
        value = value[name]
    if value is None:
        return ""
    return str(value) if isinstance(value, _PRINTED_AS_STR) else None


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Environment(SandboxedEnvironment):
    """The sandbox, its templates' globals a plain dict: Jinja copies a template's globals
    into every render's context, and copying its ChainMap (the default) cost ~6 µs a
    render — 6 % of `process`. Nothing adds globals to this environment once it is made."""

    def make_globals(self, d):
        return {**self.globals, **(d or {})}

    def getattr(self, obj: Any, attribute: str) -> Any:
        """`contact.first_name`: a dict's key read at once where Jinja would ask for the
        attribute first, and build the AttributeError it catches (~2 % of `process`); what
        a dict's attribute or a missing key gives is Jinja's own answer."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


def make_environment(
    templates_dir: Path | None, locale: str, timezone: tzinfo, currency: str
) -> SandboxedEnvironment:
    """The project's Jinja environment; `*.html.j2` templates are autoescaped, nothing else."""
    env = _Environment(
        loader=_TemplateLoader(str(templates_dir)) if templates_dir else None,
        undefined=StrictUndefined,
        autoescape=lambda name: bool(name) and name.endswith((".html.j2", ".html")),
        keep_trailing_newline=True,
        auto_reload=False,  # one environment per loaded project: no stat() per render
        finalize=lambda value: "" if value is None else value,  # an empty field prints nothing
    )
    env.filters["date"] = lambda value, fmt="medium": format_date(value, fmt, locale, timezone)
    env.filters["time"] = lambda value, fmt="short": format_time(value, fmt, locale, timezone)
    env.filters["money"] = lambda value, code=None: format_money(value, code or currency, locale)
    env.filters["duration"] = lambda value: format_span(value, locale)
    return env


def to_datetime(value: Any, timezone: tzinfo) -> datetime | date:
    """A datetime (in `timezone`) or a date, from either or from an ISO string."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value or " " in value else _date(value)
    if isinstance(value, datetime):
        return (
            value.replace(tzinfo=timezone) if value.tzinfo is None else value.astimezone(timezone)
        )
    return value


def _date(text: str) -> date | datetime:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return datetime.fromisoformat(text)


@lru_cache(maxsize=8)
def _babel_locale(name: str):
    """Babel's Locale, parsed once (given as a name, Babel parses it on every call)."""
    from babel import Locale

    return Locale.parse(name)


def format_date(value: Any, fmt: str, locale: str, timezone: tzinfo) -> str:
    """`{{ contact.date_essai | date("EEEE d MMMM 'à' HH:mm") }}` → samedi 5 décembre à 18:30.
    Formatted once per value: a run's emails show the same date (Babel: ~14 µs a call)."""
    try:
        return _format_date_once(value, fmt, locale, timezone)
    except TypeError:  # a value that cannot be a key (or cannot be formatted: said again)
        return _format_date(value, fmt, locale, timezone)


def _format_date(value: Any, fmt: str, locale: str, timezone: tzinfo) -> str:
    from babel import dates

    value = to_datetime(value, timezone)
    if isinstance(value, datetime):
        return dates.format_datetime(value, fmt, tzinfo=timezone, locale=_babel_locale(locale))
    return dates.format_date(value, fmt, locale=_babel_locale(locale))


_format_date_once = lru_cache(maxsize=4096)(_format_date)


def format_time(value: Any, fmt: str, locale: str, timezone: tzinfo) -> str:
    from babel import dates

    return dates.format_time(
        to_datetime(value, timezone), fmt, tzinfo=timezone, locale=_babel_locale(locale)
    )


def format_money(value: Any, currency: str, locale: str) -> str:
    """1234.5 → `1 234,50 €` in French."""
    from babel import numbers

    return numbers.format_currency(Decimal(str(value)), currency, locale=_babel_locale(locale))


def format_span(value: Any, locale: str) -> str:
    """timedelta(days=2) or `2d` → `2 jours` in French."""
    from babel import dates

    span = value if isinstance(value, timedelta) else parse_duration(str(value))
    return dates.format_timedelta(span, locale=_babel_locale(locale), threshold=1.0)
