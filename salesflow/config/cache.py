"""A cache of the validated project, so that an unchanged project is not validated again.

`salesflow run` starts every minute from cron; validating means importing jsonschema and
Jinja and checking every file (~150 ms). The typed Project is pickled in `.salesflow/` beside
salesflow.yaml, keyed by every project file's path, size and modification time and by the
salesflow version: any edit, added or removed file makes a miss, and a miss validates again.
The key is that text itself, not a digest of it: comparing a few kB costs nothing, and
hashlib's import (OpenSSL) was 2.5 ms of every command's start-up.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from salesflow import __version__
from salesflow.config import model
from salesflow.config.locate import CACHE_DIR
from salesflow.config.model import DatabaseUrl, Project


def _project_files(root: Path) -> list[Path]:
    files = [root / "salesflow.yaml"]
    for pattern in ("pipelines/*.y*ml", "workflows/*.y*ml", "workflows/templates/*.j2"):
        files += sorted(root.glob(pattern))
    return files


def fingerprint(root: Path, database_override: str | None) -> str:
    parts = [__version__, str(database_override), str(root)]
    model_file = Path(model.__file__)  # a changed model is a new shape of the pickle
    for path in [model_file, model_file.with_name("actions.py"), *_project_files(root)]:
        stat = path.stat()
        parts += [path, stat.st_size, stat.st_mtime_ns]
    return "\0".join(map(str, parts))


def load_project(root: Path, database_override: str | None = None) -> Project:
    """The typed project at `root`, from the cache when no file changed since it was made."""
    url = DatabaseUrl.parse(database_override or "")
    if url is not None and url.has_password:  # a password is never written down here
        from salesflow.config import project as loader

        return loader.load_project(root, database_override)
    key = fingerprint(root, database_override)
    cache = root / CACHE_DIR / "project.pickle"
    try:
        stored_key, project = pickle.loads(cache.read_bytes())
        if stored_key == key:
            return project
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError):
        pass  # no cache yet, or one from another version: validate
    from salesflow.config import project as loader

    project = loader.load_project(root, database_override)
    _store(cache, key, project)
    return project


def _store(cache: Path, key: str, project: Project) -> None:
    """Write the cache atomically; a project folder we cannot write to just goes uncached."""
    try:
        cache.parent.mkdir(exist_ok=True)
        (cache.parent / ".gitignore").write_text("*\n")
        partial = cache.with_suffix(".tmp")
        partial.write_bytes(pickle.dumps((key, project), protocol=pickle.HIGHEST_PROTOCOL))
        partial.replace(cache)
    except OSError:
        pass
