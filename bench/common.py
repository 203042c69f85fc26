"""What every bench shares: the demo project copied to a scratch folder, commands timed in
pairs against their floor (A B A B…, so that a busy machine slows both alike), peak memory
of one command, and the table every bench prints: measure, floor, ratio (min / median),
target, met or not.
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SALESFLOW = Path(sys.executable).parent / "salesflow"
NOW = "2026-11-22T10:00"
_PEAK = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True,"
    " stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def demo_project(folder: Path) -> Path:
    """A copy of the demo project (salesflow.yaml, pipelines, workflows) in `folder`."""
    folder.mkdir(parents=True)
    shutil.copy(REPO / "salesflow.yaml", folder)
    shutil.copytree(REPO / "pipelines", folder / "pipelines")
    shutil.copytree(REPO / "workflows", folder / "workflows")
    return folder


def fresh(database: Path) -> None:
    """No database at `database` (nor its WAL files): the next command starts empty."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)


def salesflow(project: Path, *args: object) -> list:
    """The command line of `salesflow` on `project`, at the bench's fixed time."""
    return [SALESFLOW, "--project", project, "--now", NOW, *args]


def free_port() -> int:
    """A TCP port free on 127.0.0.1, for a server a bench starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RowsDiffer(AssertionError):
    """A floor did not leave the rows the real command left: no ratio is printed."""


def table_rows(database: Path) -> dict[str, int]:
    """Each table's row count in the SQLite file `database` (its own tables, not SQLite's)."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        listed = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        tables = [row[0] for row in connection.execute(listed)]
        return {table: connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
                for table in tables}  # fmt: skip
    finally:
        connection.close()


def same_rows(real: Path, floor: Path, what: str) -> None:
    """Refuse a ratio (raise RowsDiffer, which `attempt` shows as a failed row) unless every
    table of `floor` holds as many rows as the same table of `real`."""
    found, wanted = table_rows(floor), table_rows(real)
    differ = {
        table: (found.get(table), wanted.get(table))
        for table in found.keys() | wanted.keys()
        if found.get(table) != wanted.get(table)
    }
    if differ:
        shown = ", ".join(
            f"{table} {got} vs {want}" for table, (got, want) in sorted(differ.items())
        )
        raise RowsDiffer(f"{what}: the floor's rows differ from salesflow's ({shown}): no ratio")


class Failed(Exception):
    """A command the bench ran failed: its last line of error."""


def timed(command: list, env: dict[str, str] | None = None) -> float:
    """Seconds `command` took (with `env`, the bench's own by default)."""
    began = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    if done.returncode:
        lines = done.stderr.decode(errors="replace").strip().splitlines() or ["(no message)"]
        raise Failed(lines[-1])
    return time.perf_counter() - began


def paired(floor: Callable[[], float], measured: Callable[[], float], runs: int) -> Pair:
    """Run floor and measured alternately `runs` times; each returns its own seconds (so a
    run can prepare its state, e.g. empty a database, outside the time)."""
    floors, ratios = [], []
    for _ in range(runs):
        floors.append(floor())
        ratios.append(measured() / floors[-1])
    return Pair(min(floors), ratios)


def peak_mb(command: list) -> float:
    """Peak resident memory of `command` (and its children), in MB."""
    output = subprocess.run([PYTHON, "-c", _PEAK, *command], check=True, capture_output=True)
    return int(output.stdout) / 1024


@dataclass
class Pair:
    floor: float  # seconds, the fastest floor run
    ratios: list[float]  # measured / floor, pair by pair


@dataclass
class Row:
    measure: str
    floor: str  # what the floor is, with its time
    value: str  # "min / median" of the ratios, or the measured figure
    target: str
    met: bool


def attempt(measure: str, target: str, rows: Callable[[], list[Row]]) -> list[Row]:
    """The rows of a case, or one row saying it failed, with its error's first line: what
    breaks one case (a command, a query, a server) does not stop the others."""
    try:
        return rows()
    except Exception as error:  # shown in the table (and make bench fails); the others go on
        first = (str(error).strip().splitlines() or [""])[0]
        return [Row(measure, "—", f"failed: {type(error).__name__} {first}", target, False)]


def ratio_row(measure: str, floor: str, pair: Pair, target: float) -> Row:
    median = statistics.median(pair.ratios)
    return Row(
        measure,
        f"{floor} {pair.floor:.2f} s",
        f"{min(pair.ratios):.2f}× / {median:.2f}×",
        f"≤ {target:g}× (median)",
        median <= target,
    )


def print_table(rows: list[Row]) -> None:
    header = Row("measure", "floor", "ratio min / median", "target", True)
    widths = [max(len(getattr(row, name)) for row in [header, *rows])
              for name in ("measure", "floor", "value", "target")]  # fmt: skip
    for row in [header, *rows]:
        cells = [row.measure, row.floor, row.value, row.target]
        verdict = "met" if row.met else "NOT MET"
        line = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        print(f"{line}  {'' if row is header else verdict}".rstrip(), flush=True)


def main_of(doc: str, measure: Callable[[Path, int, int], list[Row]], deals: int, runs: int) -> int:
    """A bench's `main`: `--deals` and `--runs` (`deals` and `runs` by default), `measure`
    in a scratch folder, its table printed; exit 1 when a target is not met."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--deals", type=int, default=deals)
    parser.add_argument("--runs", type=int, default=runs)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        rows = measure(Path(scratch), args.deals, args.runs)
    print_table(rows)
    return 0 if all(row.met for row in rows) else 1
