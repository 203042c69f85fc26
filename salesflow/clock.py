"""The one clock: every "now" in salesflow comes from here, settable with --now / SALESFLOW_NOW."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from salesflow.errors import UserError


def parse_now(text: str, tz: tzinfo) -> datetime:
    """An ISO 8601 date or date-time; one without an offset is in `tz` (the project's zone)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(
            f"'{text}' is not an ISO 8601 date-time (e.g. 2026-12-01T09:00 or 2026-12-01)"
        ) from None
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def now(override: str | None, tz: tzinfo) -> datetime:
    """The current time in `tz`, or the time given by --now / SALESFLOW_NOW."""
    if override:
        return parse_now(override, tz).astimezone(tz)
    return datetime.now(UTC).astimezone(tz)
