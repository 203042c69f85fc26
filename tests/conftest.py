"""Shared fixtures: real project folders in tmp dirs, and the real CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from salesflow.cli.app import app

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = Path(__file__).parent / "examples"


def build_example(case: Path, destination: Path) -> Path:
    """An example project: tests/examples/base/ with the case folder's files laid over it."""
    shutil.copytree(EXAMPLES / "base", destination)
    shutil.copytree(case, destination, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.txt"))
    return destination


@pytest.fixture
def cli(monkeypatch):
    """Run `salesflow ARGS…` in-process; returns click's Result (output, exit_code)."""
    monkeypatch.delenv("SALESFLOW_NOW", raising=False)
    monkeypatch.delenv("SALESFLOW_DB", raising=False)
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, [str(arg) for arg in args], input=input)

    return run


@pytest.fixture
def demo(tmp_path) -> Path:
    """A scratch copy of the repository's demo project (the singing club)."""
    target = tmp_path / "demo"
    target.mkdir()
    shutil.copy(REPO / "salesflow.yaml", target)
    for folder in ("pipelines", "workflows", "examples"):
        shutil.copytree(REPO / folder, target / folder)
    return target


@pytest.fixture
def sf(cli, demo):
    """`sf("deals", "add", …, now="2026-12-01T09:00")` in the demo copy; JSON output parsed
    when the command was given --json; fails the test on a non-zero exit unless `code=`."""
    import json

    def run(*args: str, now: str = "2026-11-20T10:00", code: int = 0, input: str | None = None):
        result = cli("--project", demo, "--now", now, *args, input=input)
        assert result.exit_code == code, result.output
        return json.loads(result.output) if "--json" in args and code == 0 else result

    run.project = demo
    return run


def query(project: Path, sql: str, *params) -> list[tuple]:
    """Rows from the project's database, read as a user with sqlite3 would."""
    import sqlite3

    with sqlite3.connect(project / "salesflow.db") as connection:
        return connection.execute(sql, params).fetchall()
