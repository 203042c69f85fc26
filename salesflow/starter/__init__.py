"""`salesflow init`: a small, valid, commented project to start from."""

from __future__ import annotations

import shutil
from pathlib import Path

from salesflow.config.schemas import KINDS, schema_dir
from salesflow.errors import UserError

FILES = Path(__file__).parent / "files"


def starter_files(directory: Path) -> dict[Path, Path]:
    """Destination → source of every file `init` writes, schemas included (so editors can
    offer help on the new project's files without the salesflow repository)."""
    files = {directory / p.relative_to(FILES): p for p in FILES.rglob("*") if p.is_file()}
    for kind in KINDS:
        name = f"{kind}.schema.json"
        files[directory / "schemas" / name] = schema_dir() / name
    return files


def write_starter(directory: Path) -> list[Path]:
    """Write the starter project into `directory`; refuses to overwrite anything."""
    files = starter_files(directory)
    existing = sorted(path for path in files if path.exists())
    if existing:
        names = ", ".join(str(path) for path in existing)
        raise UserError(f"{names} already exist(s); init writes only into an empty project")
    for destination, source in sorted(files.items()):
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
    return sorted(files)
