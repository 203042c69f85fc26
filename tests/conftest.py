"""Shared fixtures: real project folders in tmp dirs, and the real CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from salesflow.cli import app

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
