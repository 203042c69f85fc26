"""`salesflow init`: a new project that validates, and never an overwritten file."""

from __future__ import annotations


def test_init_writes_a_project_that_validates(tmp_path, cli):
    result = cli("init", tmp_path / "club")
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    project = tmp_path / "club"
    assert (
        (project / "salesflow.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=schemas/project.schema.json")
    )
    assert (project / "schemas" / "workflow.schema.json").is_file()
    result = cli("--project", project, "validate")
    assert result.exit_code == 0, result.output
    assert result.output == "ok: 1 pipeline, 1 workflow, 1 template checked, no errors\n"


def test_init_refuses_to_overwrite(tmp_path, cli):
    (tmp_path / "salesflow.yaml").write_text("name: mine\n")
    result = cli("init", tmp_path)
    assert result.exit_code == 1
    assert "salesflow.yaml" in result.output
    assert "already exist" in result.output
    assert (tmp_path / "salesflow.yaml").read_text() == "name: mine\n"
    assert not (tmp_path / "pipelines").exists()


def test_init_ignores_local_state_in_git(tmp_path, cli):
    cli("init", tmp_path / "club")
    ignored = (tmp_path / "club" / ".gitignore").read_text().splitlines()
    for entry in ("salesflow.db", "outbox/", "inbox/", "rejected/", "*.rejected.csv",
                  "*.rejected.jsonl", ".salesflow/"):  # fmt: skip
        assert entry in ignored
