"""Durations as people write them in workflows: `90m`, `24h`, `2d`, `1w`, `1d12h`."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache

DURATION_PATTERN = r"^(?=\d)(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"
_DURATION = re.compile(DURATION_PATTERN)
_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


@lru_cache(maxsize=256)
def parse_duration(text: str) -> timedelta:
    """`1d12h` → timedelta(days=1, hours=12); ValueError for anything else. (Kept per text:
    a run's wait and invitation read the same few durations again and again.)"""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a duration like 90m, 24h, 2d, 1w or 1d12h")
    seconds = sum(
        int(part[:-1]) * unit
        for part, (_, unit) in zip(match.groups(), _UNITS, strict=True)
        if part
    )
    return timedelta(seconds=seconds)


def format_duration(span: timedelta) -> str:
    """timedelta(days=1, hours=12) → `1d12h`, as a workflow would write it (`0s` for none)."""
    seconds, parts = int(span.total_seconds()), []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
