"""The floor of `salesflow run` with nothing to do: load the cached project and its workflows
(the cache reads them when first used, as `run` does), open the database, and ask one
indexed query whether any event is pending.

    python bench/floor_idle.py PROJECT
"""

import pickle
import sqlite3
import sys
from pathlib import Path

project = Path(sys.argv[1])
_, loaded = pickle.loads((project / ".salesflow" / "project.pickle").read_bytes())
dict(loaded.workflows)
connection = sqlite3.connect(project / "salesflow.db")
connection.execute(
    "SELECT id FROM events WHERE processed_at IS NULL ORDER BY id LIMIT 1"
).fetchall()
