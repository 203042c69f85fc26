"""A plain `salesflow import FILE` is answered before typer is loaded (cli/quick.py): it must
say the same lines, exit with the same code and leave the same database and rejects file as
the full command line does with the same call."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

FIXTURES = Path(__file__).parent / "fixtures" / "csv"
NOW = "2026-11-22T10:00"
WATCHED = "{'typer', 'salesflow.config.actions'}"  # loaded by the full command line, validating
QUICK = "from salesflow.cli import main\ntry:\n    main()\nfinally:\n" \
        f"    print(sorted({WATCHED} & set(sys.modules)), file=sys.stderr)"  # fmt: skip
FULL = "from salesflow.cli.app import register\nregister(sys.argv[1:])()"


def salesflow(way: str, args: list, cwd: Path, env: dict[str, str]) -> tuple:
    """(exit code, stdout, stderr) of `salesflow ARGS` by one way: the console script's
    `main` (quick paths first, stderr ending with which of typer and the workflows' step
    actions it loaded) or the full command line alone."""
    code = f"import sys; sys.argv[0] = 'salesflow'\n{QUICK if way == 'quick' else FULL}"
    result = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd,
                            capture_output=True, text=True, env={**os.environ, **env})  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def left(folder: Path) -> list:
    """The database's rows, and every file beside the CSV files (the rejects)."""
    database = folder / "demo" / "salesflow.db"
    rows = []
    if database.exists():
        connection = sqlite3.connect(database)
        rows = list(connection.iterdump())
        connection.close()
    files = sorted((path.name, path.read_bytes()) for path in (folder / "data").iterdir())
    return [rows, files]


def both_ways(tmp_path: Path, calls: list[list], env: dict[str, str] | None = None) -> list:
    """Each of `calls` run in turn by both ways, each way from the same fresh copy of the demo
    project at the same path: what each said, and what was left, must be equal; the quick
    way's answers (with what it loaded) are returned."""
    said = {}
    for way in ("full", "quick"):
        shutil.rmtree(tmp_path / "w", ignore_errors=True)
        shutil.copytree(tmp_path / "template", tmp_path / "w")
        answers = []
        for args in calls:
            code, out, err = salesflow(way, args, tmp_path / "w" / "data", env or {})
            if way == "quick":
                err, loaded = err.removesuffix("\n").rpartition("\n")[::2]
                answers.append((code, out, err + "\n" if err else "", loaded))
            else:
                answers.append((code, out, err))
        said[way] = answers, left(tmp_path / "w")
    (full, full_left), (quick, quick_left) = said["full"], said["quick"]
    assert [answer[:3] for answer in quick] == full
    assert quick_left == full_left
    return quick


@pytest.fixture
def template(tmp_path) -> Path:
    """The demo project (demo/) and its CSV files (data/), copied afresh for each way."""
    demo = tmp_path / "template" / "demo"
    demo.mkdir(parents=True)
    shutil.copy(REPO / "salesflow.yaml", demo)
    for folder in ("pipelines", "workflows"):
        shutil.copytree(REPO / folder, demo / folder)
    (tmp_path / "template" / "data").mkdir()
    shutil.copy(FIXTURES / "excel-fr.csv", tmp_path / "template" / "data")
    return tmp_path / "template"


def plain(*args: object, project: str = "../demo") -> list:
    return ["--project", project, "--now", NOW, "import", *args]


def test_a_file_with_rejected_rows_then_the_same_file_again(tmp_path, template):
    said = both_ways(tmp_path, [plain("excel-fr.csv"), plain("excel-fr.csv")])
    (code, out, err, loaded), again = said
    assert code == 0 and "3 created" in out and "2 rejected" in out
    assert "excel-fr.csv:" in err and "ignored columns" in err
    assert "typer" not in loaded  # the first call validated the project: actions loaded
    assert "3 unchanged" in again[1] and again[3] == "[]"  # from the cache: neither


def test_values_not_taken_and_more_rejected_rows_than_are_shown(tmp_path, template):
    rows = "".join(f"pas-une-adresse-{n};Nom{n}\n" for n in range(12))
    (template / "data" / "a.csv").write_text(f"email;first_name\n{rows}julie@example.org;Julie\n")
    (template / "data" / "b.csv").write_text("email;first_name\njulie@example.org;Juliette\n")
    first, second = both_ways(tmp_path, [plain("a.csv"), plain("b.csv")])
    assert "… and 2 rejected rows more" in first[2] and "not taken" in second[2]


def test_a_file_name_with_an_escape_code_is_written_as_click_writes_it(tmp_path, template):
    (template / "data" / "x\x1b[31my.csv").write_text("email\njulie@example.org\n")
    ((code, out, _, _),) = both_ways(tmp_path, [plain("x\x1b[31my.csv")])
    assert code == 0 and "\x1b" not in out  # click strips it off a pipe


@pytest.mark.parametrize(
    ("args", "env", "code", "handed_over"),
    [
        (plain("missing.csv"), {}, 1, False),
        (plain("excel-fr.csv"), {"SALESFLOW_LOCK_TIMEOUT": "soon"}, 1, False),
        (plain("excel-fr.csv"), {"SALESFLOW_DB": "/nonexistent/salesflow.db"}, 1, False),
        (plain("excel-fr.csv", project="../nowhere"), {}, 1, True),
        (plain("excel-fr.csv", project="excel-fr.csv"), {}, 2, True),  # typer's: a file
        (plain("."), {}, 2, True),  # typer's: a folder
    ],
)  # fmt: skip
def test_errors_are_said_alike(tmp_path, template, args, env, code, handed_over):
    ((said_code, out, err, loaded),) = both_ways(tmp_path, [args], env)
    assert said_code == code and out == "" and err
    assert ("typer" in loaded) == handed_over


def test_an_invalid_project_is_said_alike(tmp_path, template):
    yaml = template / "demo" / "salesflow.yaml"
    yaml.write_text(yaml.read_text().replace("timezone:", "timezon:", 1))
    ((code, _, err, loaded),) = both_ways(tmp_path, [plain("excel-fr.csv")])
    assert code == 1 and "salesflow.yaml:" in err and "typer" not in loaded


def test_version_without_the_command_line(tmp_path):
    code, out, err = salesflow("quick", ["--version"], tmp_path, {})
    assert (code, out, err) == (0, salesflow("full", ["--version"], tmp_path, {})[1], "[]\n")


def test_the_cached_workflows_are_the_validated_ones(template):
    from salesflow.config import project as loader
    from salesflow.config.cache import load_project

    demo = template / "demo"
    validated = loader.load_project(demo)
    assert load_project(demo) == validated  # validated, then cached
    cached = load_project(demo)  # its workflows read from the cache when first used
    assert cached.workflows == validated.workflows and cached == validated
    assert (
        cached.workflows["essai-formulaire"].steps == validated.workflows["essai-formulaire"].steps
    )
