"""Where the JSON Schemas are: inside the installed package, or the repository's schemas/."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

KINDS = ("project", "pipeline", "workflow")


def schema_dir() -> Path:
    """The schemas the wheel carries, or the repository's `schemas/` in a development install."""
    packaged = Path(str(resources.files("salesflow"))) / "schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "schemas"


@cache
def load_schema(kind: str) -> dict[str, Any]:
    return json.loads((schema_dir() / f"{kind}.schema.json").read_text(encoding="utf-8"))
