"""Data as `salesflow … --json` writes it, and the pages' JSON with it (one serialiser, so a
page's `.json` is the CLI's answer to the same question): money as a decimal string with
the currency's digits, dates and moments in ISO 8601, reports as `{rows, totals, notes}`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from salesflow.phrases import say
from salesflow.reports import Report


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):  # money: a decimal string with the currency's digits
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


_ENCODER = json.JSONEncoder(default=_json_default, ensure_ascii=False)


class Encoded(list):
    """Rows already written as JSON, each as `_ENCODER` writes it (a long report writes its
    rows straight from its statement's values: reports/stalled.py); to_json lays them out
    as it lays out rows."""


def to_json(data: Any, indent: str = "") -> str:
    """Indented JSON; a list has one object per line, and so do the lists of an object (a
    report's rows): the C encoder, where indenting 100,000 rows would go through json's
    pure-Python encoder, ten times slower. Its pieces are joined once (2.5 MB of rows were
    copied five times)."""
    return "".join(_pieces(data, indent))


def _pieces(data: Any, indent: str) -> Iterator[str]:
    if isinstance(data, list):
        if not data:
            yield "[]"
            return
        item = indent + "  " if indent else ""  # a top-level list: one object per line
        between = f",\n{item}"
        yield f"[\n{item}"
        yield between.join(data) if isinstance(data, Encoded) else _lines(data, between)
        yield f"\n{indent}]"
    elif isinstance(data, dict) and any(isinstance(value, list) for value in data.values()):
        inner = indent + "  "
        for number, (key, value) in enumerate(data.items()):
            yield f"{',' if number else '{'}\n{inner}{_ENCODER.encode(key)}: "
            yield from _pieces(value, inner)
        yield f"\n{indent}}}"
    else:
        text = json.dumps(data, default=_json_default, ensure_ascii=False, indent=2)
        yield text.replace("\n", "\n" + indent)


def _lines(items: list, between: str) -> str:
    """Each item encoded as `_ENCODER` does, `between` them: a list of objects (a report's
    rows) in one call of the C encoder (one call per row cost as much again), then cut
    where one object ends and the next begins — when "}, {" is found there only (no text
    nor list of objects holds it, and no occurrence can overlap such a cut); anything else
    item by item."""
    if all(type(item) is dict for item in items):
        text = _ENCODER.encode(items)[1:-1]
        if text.count("}, {") == len(items) - 1:
            return text.replace("}, {", "}" + between + "{")
    return between.join(_ENCODER.encode(item) for item in items)


def report_json(report: Report) -> dict:
    """Every report the same shape: its rows, its totals, and its notes (warnings)."""
    notes = [say(note) for note in report.notes]  # in English, as the CLI says them
    return {"rows": report.rows, "totals": report.totals or {}, "notes": notes}
