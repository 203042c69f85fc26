"""Finding the project a command works on, as git finds its repository."""

from __future__ import annotations

from pathlib import Path

from salesflow.errors import UserError

PROJECT_FILE = "salesflow.yaml"
CACHE_DIR = ".salesflow"  # beside it: what salesflow keeps for itself (caches, serve state)


def find_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding salesflow.yaml."""
    start = start.resolve()
    for folder in [start, *start.parents]:
        if (folder / PROJECT_FILE).is_file():
            return folder
    raise UserError(
        f"no {PROJECT_FILE} in {start} or any parent folder;"
        " run `salesflow init` to create a project, or pass --project DIR"
    )
