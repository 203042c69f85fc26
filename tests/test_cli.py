"""The installed command: entry points, global options, exit codes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest
from conftest import REPO

SCRIPT = Path(sys.executable).parent / "salesflow"


def test_console_script_validates_the_demo():
    result = subprocess.run(
        [SCRIPT, "validate"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: 2 pipelines, 8 workflows")


def test_python_dash_m_works_like_the_script(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "salesflow", "validate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: no salesflow.yaml in")
    assert "Traceback" not in result.stderr


def test_project_option_and_environment(tmp_path):
    env = {**os.environ, "SALESFLOW_PROJECT": str(REPO)}
    result = subprocess.run(
        [SCRIPT, "validate"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.output.startswith("salesflow ")


def test_an_unreadable_file_is_an_unexpected_error_pointing_to_debug(tmp_path, cli):
    """A file salesflow cannot read (here: a folder where a file should be) is not the user's
    typo: a short message, exit 3, and --debug shows the traceback."""
    project = tmp_path / "p"
    shutil.copytree(REPO / "tests" / "examples" / "base", project)
    (project / "workflows" / "templates" / "bienvenue.txt.j2").unlink()
    (project / "workflows" / "templates" / "bienvenue.txt.j2").mkdir()
    result = cli("--project", project, "validate")
    assert result.exit_code == 3
    assert "unexpected error" in result.output
    assert "--debug" in result.output
    result = cli("--project", project, "--debug", "validate")
    assert result.exit_code == 3  # --debug shows more, and changes nothing else
    assert "Traceback (most recent call last)" in result.output
    assert "IsADirectoryError" in result.output


def hearing_ctrl_c() -> None:
    """A command started in the background by a shell (`make test &`, a CI runner) inherits
    SIGINT ignored, and Python then never turns it into KeyboardInterrupt: restore it, as a
    terminal would have it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_exits_130_and_keeps_nothing_half_done(tmp_path):
    import sqlite3

    project = tmp_path / "p"
    shutil.copytree(REPO / "tests" / "examples" / "base", project)
    rows = "".join(f"p{n}@example.org,Ana\n" for n in range(1_000_000))  # a few seconds' work
    (tmp_path / "big.csv").write_text("Email,First Name\n" + rows)
    process = subprocess.Popen(
        [SCRIPT, "--project", project, "import", tmp_path / "big.csv"],
        stderr=subprocess.PIPE, text=True, preexec_fn=hearing_ctrl_c,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not (project / "salesflow.db").exists() and time.monotonic() < deadline:
        time.sleep(0.01)  # waiting for the import to be under way, to interrupt it there
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.strip().endswith("interrupted")
    with sqlite3.connect(project / "salesflow.db") as connection:
        assert connection.execute("SELECT count(*) FROM contacts").fetchone()[0] == 0


@pytest.mark.parametrize("columns", [80, 120])
def test_help_reads_in_whole_sentences_and_flags_show_no_type(cli, monkeypatch, columns):
    """Paragraphs are rewrapped to the terminal: a line ends where the width says, not where
    the docstring's source line did; no flag (not even --help) shows a `<bool>`."""
    monkeypatch.setenv("COLUMNS", str(columns))
    commands = [(), ("import",), ("deals", "move"), ("run",), ("pipeline", "board")]
    for words in commands:
        text = cli(*words, "--help").output
        assert "<bool>" not in text, words
        lines = [line.strip() for line in text.partition("╭")[0].splitlines()]
        for line, following in pairwise(lines):
            if line and following:  # a line followed by more of its paragraph is full
                assert len(line) + 1 + len(following.split()[0]) > columns - 2, (words, line)
    imported = " ".join(cli("import", "--help").output.split())
    assert "Importing the same file again changes nothing." in imported


def test_bad_choices_read_plainly(cli):
    result = cli("--project", REPO, "pipeline", "board", "--format", "xml")
    assert result.exit_code == 2
    assert "Value error" not in result.output
    assert "'xml' is not one of 'table', 'json', 'csv'," in result.output


def _wait_for_python_to_catch_sigint(pid: int) -> None:
    """Until the interpreter has installed its SIGINT handler (before it, Ctrl-C kills the
    process outright, as it does any program that has not started)."""

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt"))
                     .split()[1], 16)  # fmt: skip
        if caught & (1 << (signal.SIGINT - 1)):
            return
        time.sleep(0.002)


def test_ctrl_c_while_starting_exits_130_without_a_traceback():
    process = subprocess.Popen([SCRIPT, "validate"], cwd=REPO, stderr=subprocess.PIPE, text=True,
                               preexec_fn=hearing_ctrl_c)  # fmt: skip
    _wait_for_python_to_catch_sigint(process.pid)
    time.sleep(0.08)  # into the app's import (~0.2 s), whatever the machine's load
    process.send_signal(signal.SIGINT)
    _, errors = process.communicate(timeout=20)
    assert process.returncode == 130
    assert "Traceback" not in errors
    assert errors == "interrupted\n"


HUGE = "99999999999999999999"  # past SQLite's largest integer (2^63 - 1)


@pytest.mark.parametrize(
    "args",
    [
        ["deals", "show", HUGE], ["deals", "move", HUGE, "essai-planifie"],
        ["tickets", "show", HUGE], ["outbox", "show", HUGE], ["outbox", "retry", HUGE],
        ["runs", "show", HUGE], ["events", "retry", HUGE], ["rejects", "show", HUGE],
        ["tasks", "done", HUGE],
    ],
)  # fmt: skip
def test_an_id_no_database_could_hold_is_a_usage_error(sf, args):
    """Was an unexpected error (OverflowError inside SQLite, exit 3) on every command."""
    result = sf(*args, code=2)
    assert "less than or equal to" in result.output
    assert "unexpected" not in result.output


def test_a_contact_number_no_database_could_hold_is_not_found(sf):
    result = sf("contacts", "show", HUGE, code=1)
    assert f"no contact '{HUGE}'" in result.output


def test_a_piped_password_is_read_from_its_one_line_without_warnings(demo):
    """`echo … | salesflow team password marie`: no GetPassWarning, no confirmation asked."""
    from salesflow import clock
    from salesflow.config.cache import load_project
    from salesflow.store import passwords
    from salesflow.store.session import Store

    piped = subprocess.run(
        [sys.executable, "-m", "salesflow", "--project", str(demo), "team", "password", "marie"],
        input="do-ré-mi-fa-sol\n", capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == "" and "marie can log in" in piped.stdout
    project = load_project(demo)
    store = Store.open(project, clock.now("2026-11-20T11:00", project.timezone))
    assert passwords.check(store, "marie", "do-ré-mi-fa-sol")


def test_a_piped_table_keeps_whole_values_however_wide(sf):
    """`salesflow contacts list | grep …` finds the whole address, not `zoe.orst…`."""
    long = "zoe.orstanovitch-delacroix-villeneuve@conservatoire-regional.example.org"
    sf("contacts", "add", long, "--first-name", "Zoé", "--last-name", "Orstanovitch-Delacroix")
    environment = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    piped = subprocess.run(
        [sys.executable, "-m", "salesflow", "--project", str(sf.project), "contacts", "list"],
        capture_output=True, text=True, timeout=30, env=environment,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert long in piped.stdout and "…" not in piped.stdout


@pytest.mark.parametrize("args", [["contacts", "list", "--json"], ["contacts", "show", "1"]])
def test_output_piped_into_a_reader_that_stops_early_ends_quietly(sf, args):
    """`salesflow contacts show 1 | head -1`: was 'unexpected error: BrokenPipeError', exit 3."""
    sf("contacts", "add", "julie@example.org")
    reader_gone = subprocess.Popen(
        [sys.executable, "-m", "salesflow", "--project", str(sf.project), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    reader_gone.stdout.close()  # like `head` once it has its line
    errors = reader_gone.stderr.read().decode()
    assert reader_gone.wait(timeout=30) == 1
    assert errors == ""


def test_show_commands_write_every_moment_one_way(sf):
    """Tables, records, stage histories, run traces and events: one format, `2026-03-05
    10:01` in the project's zone (the form run traces record), never another beside it."""
    import re

    sf("import", sf.project / "examples/prospects.csv", "--pipeline", "cours-essai",
       "--stage", "nouveau", now="2026-03-05T10:01")  # fmt: skip
    sf("ingest", sf.project / "examples/forms/julie.json", "--form", "cours-essai")
    sf("process", now="2026-03-05T10:01")
    shows = [("deals", "show", "1"), ("contacts", "show", "1"), ("runs", "show", "1"),
             ("events", "show", "1"), ("runs", "list"), ("events", "list")]  # fmt: skip
    for words in shows:
        text = sf(*words).output
        moments = re.findall(r"\d{4}-\d\d-\d\d\S*|\d\d/\d\d/\d{4}", text)
        odd = [moment for moment in moments if not re.fullmatch(r"\d{4}-\d\d-\d\d", moment)]
        assert moments and not odd, words
    assert "2026-03-05 10:01  nouveau → essai-planifie" in sf("deals", "show", "1").output
    assert "date_essai       2026-12-05 18:30" in sf("contacts", "show", "1").output


def test_a_stage_is_named_by_its_id_or_its_display_name(sf):
    """Where a stage's id goes, its display name does too, in any case and without accents;
    a typo is told with the close name and the pipeline's stages."""
    sf("import", sf.project / "examples/prospects.csv", "--pipeline", "cours-essai",
       "--stage", "Nouveau prospect")  # fmt: skip
    moved = sf("deals", "move", "1", "cours d'essai PLANIFIE", "--force", "--by", "marie", "--json")
    assert (moved["stage"], moved["stage_name"]) == ("essai-planifie", "Cours d'essai planifié")
    listed = sf("deals", "list", "--stage", "Cours d'essai planifié", "--json")
    assert [deal["id"] for deal in listed] == [1]
    typed_on_a_phone = sf("deals", "list", "--stage", "Cours d\u2019essai planifié", "--json")
    assert [deal["id"] for deal in typed_on_a_phone] == [1]  # a curly apostrophe: was refused
    ticket = sf("tickets", "add", "--subject", "Créneau", "--stage", "en cours", "--owner", "paul",
                "--json")  # fmt: skip
    resolved = sf(
        "tickets", "move", str(ticket["id"]), "Résolue", "--force", "--by", "paul", "--json"
    )
    assert resolved["stage"] == "resolu"
    typo = sf("deals", "move", "2", "Cours d'essai planfié", code=1)
    assert "(did you mean 'Cours d'essai planifié'?)" in typo.output
    assert "essai-planifie (Cours d'essai planifié)" in typo.output


@pytest.mark.parametrize(
    "args",
    [
        ["import", "{csv}", "--tag", "a", "--tag", "b", "--dry-run"],
        ["pipeline", "board", "--format", "json"],
        ["deals", "list"],
    ],
)
def test_texts_paths_choices_and_defaults_start_without_pydantic(tmp_path, args):
    """Typer builds a pydantic TypeAdapter for each parameter; salesflow takes texts, paths,
    choices and numbers left at their default without one, so such a command line does not
    even load pydantic."""
    csv_file = tmp_path / "one.csv"
    csv_file.write_text("email,Prénom\njulie@example.org,Julie\n")
    shown = "import sys; from salesflow.cli import main\ntry:\n    main()\nfinally:\n" \
            "    print('pydantic' in sys.modules, file=sys.stderr)"  # fmt: skip
    argv = [word.format(csv=csv_file) for word in args]
    command = [sys.executable, "-c", shown, "--project", REPO, "--now", "2026-11-22T10:00", *argv]
    result = subprocess.run(command, capture_output=True, text=True, check=False,
                            env={**os.environ, "SALESFLOW_DB": str(tmp_path / "s.db")})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == "False\n"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["import", "--bogus", "x.csv"], "No such option: --bogus"),
        (["import", "/"], "Invalid value for 'file': file '/' is a directory."),
        (["import", "x.csv", "--delimiter", "x"],
         "Invalid value for '--delimiter': 'x' is not a CSV delimiter: use , ; | or tab"),
        (["deals", "show", "abc"], "Invalid value for 'deal': Input should be a valid integer"),
        (["deals", "show", "0"], "Invalid value for 'deal': Input should be greater than"),
        (["pipeline", "board", "--format", "JSON"],
         "Invalid value for '--format': 'JSON' is not one of 'table', 'json', 'csv', 'markdown'."),
    ],
)  # fmt: skip
def test_usage_errors_read_as_typer_writes_them(cli, monkeypatch, args, said):
    """Texts and paths are taken without typer's pydantic adapters (see the test above), the
    rest with them: either way a bad value is said as typer says it, exit 2."""
    monkeypatch.setenv("COLUMNS", "200")
    result = cli("--project", REPO, *args)
    assert result.exit_code == 2
    assert "[OPTIONS]" in result.output and "-h' for help." in result.output
    assert said in result.output


def test_repeated_options_and_paths_arrive_as_typer_gives_them(sf, tmp_path):
    (tmp_path / "one.csv").write_text("email,Prénom\njulie@example.org,Julie\n")
    sf("import", tmp_path / "one.csv", "--tag", "a", "--tag", "b")
    shown = sf("contacts", "show", "julie@example.org", "--json")
    assert shown["tags"] == ["a", "b"]
