"""Values as people read them, in the project's locale: the CLI's tables and the web pages
show the same text."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from salesflow.config.model import Project


def cell(value: Any, kind: str, project: Project) -> str:
    """A value as a person reads it, in the project's locale."""
    from babel import dates, numbers

    if value is None or value == "":
        return ""
    if isinstance(value, bool) and kind != "bool":
        return "yes" if value else "no"
    if kind == "money":
        return numbers.format_currency(value, project.currency, locale=project.locale)
    if kind == "percent":
        return numbers.format_percent(value, "#,##0.0 %", locale=project.locale)
    if kind == "bool":
        return "⚠ yes" if value else ""
    if kind in ("days", "hours"):
        return numbers.format_decimal(value, "#,##0.0", locale=project.locale)
    if kind == "datetime":
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return dates.format_datetime(
            moment, "short", tzinfo=project.timezone, locale=project.locale
        )
    if kind == "date":
        day = date.fromisoformat(value) if isinstance(value, str) else value
        return dates.format_date(day, "short", locale=project.locale)
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)
