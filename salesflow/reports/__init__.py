"""Pipeline reports: plain data that the CLI renders and templates use, computed from the
rows of `store/reports.py` (where their SQL lives)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Column:
    """A column of a report: `kind` says how to show it (text, int, money, percent, days,
    hours, date, datetime)."""

    key: str
    label: str
    kind: str = "text"


@dataclass
class Report:
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    totals: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    more: int = 0  # rows left out of a bounded list (counted in the totals): a page says so
    listed_by: str = ""  # the command that lists them all, when some are left out
