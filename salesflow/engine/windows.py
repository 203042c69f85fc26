"""Send windows: when a workflow's emails may leave (e.g. Mon–Sat 09:00–20:00 local time)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from salesflow.config.model import SendWindow

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def next_opening(window: SendWindow, now: datetime) -> datetime | None:
    """None when the window is open at `now`; else when it next opens (in now's zone)."""
    start, end = time.fromisoformat(window.start), time.fromisoformat(window.end)
    for offset in range(8):
        day = (now + timedelta(days=offset)).date()
        if DAYS[day.weekday()] not in window.days:
            continue
        opens = datetime.combine(day, start, tzinfo=now.tzinfo)
        closes = datetime.combine(day, end, tzinfo=now.tzinfo)
        if offset == 0 and opens <= now < closes:
            return None
        if opens > now:
            return opens
    return None
