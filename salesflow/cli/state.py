"""What the root options say, handed to every command; typer-free, so that the quick paths
(cli/quick.py) open the project and its store exactly as the full command line does."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from salesflow import clock
from salesflow.config.cache import load_project
from salesflow.config.locate import find_root
from salesflow.config.model import Project, shown
from salesflow.errors import UserError
from salesflow.store.db import BUSY_TIMEOUT
from salesflow.store.session import Store


@dataclass
class State:
    """What the root options say: the project folder, --now, --debug; and the stores opened."""

    project_dir: Path | None = None
    now_text: str | None = None
    debug: bool = False
    opened: list[Store] = field(default_factory=list)

    def root(self) -> Path:
        return find_root(self.project_dir or Path.cwd())

    def project(self) -> Project:
        return load_project(self.root(), os.environ.get("SALESFLOW_DB"))

    def now(self, project: Project) -> datetime:
        return clock.now(self.now_text, project.timezone)

    def store(self) -> Store:
        """The project's store, at the time --now says (or now)."""
        project = self.project()
        store = Store.open(project, self.now(project), _lock_timeout())
        self.opened.append(store)
        return store

    def database(self) -> str | None:
        """The database opened, as messages name it (a URL's password masked)."""
        return shown(self.opened[0].project.database) if self.opened else None

    def close(self) -> None:
        for store in self.opened:
            store.conn.close()


def _lock_timeout() -> float:
    """Seconds to wait for another command's write lock: SALESFLOW_LOCK_TIMEOUT, or 30."""
    text = os.environ.get("SALESFLOW_LOCK_TIMEOUT")
    try:
        return float(text) if text else BUSY_TIMEOUT
    except ValueError:
        raise UserError(f"SALESFLOW_LOCK_TIMEOUT={text!r}: give a number of seconds") from None
