"""Words for counts, the same everywhere: `1 row`, `2 rows`, `0 deals`."""

from __future__ import annotations


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """`counted(1, "run")` → `1 run`; `counted(2, "entry", "entries")` → `2 entries`."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
