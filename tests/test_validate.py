"""`salesflow validate`: the example projects, each invalid one with its exact expected output."""

from __future__ import annotations

import email
import email.policy
import json

import pytest
from conftest import EXAMPLES, REPO, build_example
from test_schemas import RAW_SCHEMA_WORDS

INVALID = sorted((EXAMPLES / "invalid").iterdir())
VALID = sorted((EXAMPLES / "valid").iterdir())


@pytest.mark.parametrize("case", INVALID, ids=[case.name for case in INVALID])
def test_invalid_example_reports_exactly_its_errors(case, tmp_path, cli, monkeypatch):
    monkeypatch.chdir(build_example(case, tmp_path / "project"))
    result = cli("validate")
    assert result.output == (case / "expected.txt").read_text(encoding="utf-8")
    assert result.exit_code == 1


@pytest.mark.parametrize("case", VALID, ids=[case.name for case in VALID])
def test_valid_example_passes(case, tmp_path, cli):
    project = build_example(case, tmp_path / "project")
    result = cli("--project", project, "validate")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: ")


def test_a_project_written_on_windows_with_loops_macros_and_anchors_validates_and_runs(
    tmp_path, cli
):
    """BOM, CRLF, anchors with merge keys, `loop` and `caller`: checked clean, then sent."""
    case = EXAMPLES / "valid" / "loop-caller-anchors-crlf-bom"
    for name in (
        "salesflow.yaml",
        "workflows/accueil.yaml",
        "workflows/templates/bienvenue.txt.j2",
    ):
        written = (case / name).read_bytes()
        assert written.startswith("\ufeff".encode()) and b"\r\n" in written, name
    project = build_example(case, tmp_path / "project")
    submission = tmp_path / "julie.json"
    submission.write_text(json.dumps({"email": "julie@exemple.example", "prenom": "Julie",
                                      "date_essai": "2026-12-10T18:00",
                                      "telephone": "06 12 34 56 78"}))  # fmt: skip
    for command in (("validate",), ("ingest", submission, "--form", "rappel"), ("run",)):
        result = cli("--project", project, "--now", "2026-12-01T09:00", *command)
        assert result.exit_code == 0, result.output
    sent = [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted((project / "outbox").glob("*.eml"))]  # fmt: skip
    welcome, summary = (message.get_content().replace("\r\n", "\n") for message in sent)
    assert "=== Vos étiquettes ===\n1/3 chant (d'abord),\n2/3 essai *,\n3/3 solfège\n" in welcome
    assert "telephone : 06 12 34 56 78." in summary  # a field the merge key added to the form


def test_there_are_at_least_thirty_invalid_examples():
    assert len(INVALID) >= 30


def test_the_demo_project_validates(cli, monkeypatch):
    monkeypatch.chdir(REPO)
    result = cli("validate")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "ok: 2 pipelines, 8 workflows, 9 templates checked, no errors\n"
        "environment: CANAL_PROFS (named by http steps; set where `salesflow run` and `serve`"
        " run)\n"
    )


def test_the_agency_example_validates(cli):
    result = cli("validate", REPO / "examples" / "agence")
    assert result.exit_code == 0, result.output


def test_project_is_found_from_a_subfolder(cli, monkeypatch):
    monkeypatch.chdir(REPO / "workflows" / "templates")
    assert cli("validate").exit_code == 0


def test_a_single_file_is_checked_against_its_project(tmp_path, cli):
    project = build_example(EXAMPLES / "invalid" / "four-mistakes", tmp_path / "p")
    result = cli("validate", project / "workflows" / "hebdo.yaml")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert "hebdo.yaml:2:21: '0 8 * * lundi' is not a cron expression" in lines[0]
    assert lines[1].startswith("1 error in 1 file")


def test_a_folder_limits_the_report_to_its_files(tmp_path, cli):
    project = build_example(EXAMPLES / "invalid" / "four-mistakes", tmp_path / "p")
    result = cli("validate", project / "workflows" / "templates")
    assert result.exit_code == 1
    assert "frist_name" in result.output
    assert "hebdo.yaml" not in result.output


def test_json_format_lists_every_error_for_ci(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(build_example(EXAMPLES / "invalid" / "four-mistakes", tmp_path / "p"))
    result = cli("validate", "--format", "json")
    assert result.exit_code == 1
    errors = json.loads(result.output)
    assert [(e["path"], e["line"], e["column"]) for e in errors] == [
        ("salesflow.yaml", 6, 1),
        ("workflows/accueil.yaml", 9, 44),
        ("workflows/hebdo.yaml", 2, 21),
        ("workflows/templates/bienvenue.txt.j2", 4, 1),
    ]
    assert errors[1]["key"] == "steps[1].create_deal.stage"
    assert cli("validate", "--json").output == result.output


def test_outside_a_project_says_how_to_start(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("validate")
    assert result.exit_code == 1
    assert result.output.startswith("error: no salesflow.yaml in ")
    assert "salesflow init" in result.output
    assert "Traceback" not in result.output


def test_a_file_outside_the_project_layout_is_refused(cli, tmp_path):
    project = build_example(EXAMPLES / "valid" / "minimal", tmp_path / "p")
    stray = project / "notes.yaml"
    stray.write_text("a: 1\n")
    result = cli("validate", stray)
    assert result.exit_code == 1
    assert "notes.yaml is not a project file" in result.output


def test_missing_path_is_an_error(cli, tmp_path):
    result = cli("validate", tmp_path / "nowhere")
    assert result.exit_code == 1
    assert "no such file or folder" in result.output


def test_unknown_option_is_a_usage_error(cli):
    assert cli("validate", "--colour").exit_code == 2


@pytest.mark.parametrize("case", INVALID, ids=[case.name for case in INVALID])
def test_no_error_reads_as_a_raw_schema_message(case):
    """Every schema error is a sentence naming the key and what to write, never jsonschema's."""
    expected = (case / "expected.txt").read_text(encoding="utf-8")
    assert not [words for words in RAW_SCHEMA_WORDS if words in expected]


def test_a_maildir_folder_that_is_not_one_is_a_warning_with_the_fix(demo, cli, monkeypatch):
    """The mail server may create the folder later, or on another machine: a warning, with
    the command that makes one."""
    settings = demo / "salesflow.yaml"
    settings.write_text(settings.read_text().replace(
        "  transport: outbox", "  inbound: {maildir: replies}\n  transport: outbox"
    ))  # fmt: skip
    monkeypatch.chdir(demo)
    result = cli("validate")
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "salesflow.yaml:11:22: warning: replies is not a Maildir folder: it has no new/, cur/,"
        " tmp/; create it with `mkdir -p replies/{new,cur,tmp}`, or name the folder the mail"
        " server delivers to [email.inbound.maildir]\n"
    )
    for sub in ("new", "cur", "tmp"):
        (demo / "replies" / sub).mkdir(parents=True)
    assert cli("validate").stderr == ""
