"""examples/ci/: the GitHub Actions workflow and the GitLab CI job that plan a pull request's
change. Their own steps run here — the base branch fetched as they fetch it, `salesflow
validate`, `salesflow plan --against` — in a shallow clone of a repository whose branch
changes the trial-lesson reminder from 24 h to 48 h before, on the demo's data as it stands
after its forms of 22 November; what they print is the sample examples/ci/README.md shows."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
import yaml
from conftest import APP, REPO

CI = REPO / "examples" / "ci"
NOW = "2026-11-22T10:00"
SAMPLE = re.compile(r"<!-- sample: (?P<command>.+?) -->\n(?P<text>.*?)\n<!-- end of sample -->",
                    re.DOTALL)  # fmt: skip
GIT = {"GIT_AUTHOR_NAME": "Marie", "GIT_AUTHOR_EMAIL": "marie@club.example",
       "GIT_COMMITTER_NAME": "Marie", "GIT_COMMITTER_EMAIL": "marie@club.example",
       "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}  # fmt: skip


def github_commands() -> list[str]:
    workflow = yaml.safe_load((CI / "github-plan.yml").read_text(encoding="utf-8"))
    return [step["run"] for job in workflow["jobs"].values() for step in job["steps"]
            if "run" in step]  # fmt: skip


def gitlab_commands() -> list[str]:
    jobs = yaml.safe_load((CI / "gitlab-plan.yml").read_text(encoding="utf-8"))
    return [line for job in jobs.values() for line in job["script"]]


def ours(commands: list[str]) -> list[str]:
    """The lines that fetch the base branch and run salesflow (not the installs, the copy of
    the data, the comment: those need the outside world)."""
    lines = [line for command in commands for line in command.replace("\\\n", " ").splitlines()]
    return [line.strip() for line in lines if re.match(r"\s*(salesflow|git fetch) ", line)]


EXAMPLES = {"github-plan.yml": github_commands, "gitlab-plan.yml": gitlab_commands}


def test_the_github_workflow_runs_on_pull_requests_that_change_the_configuration():
    workflow = yaml.safe_load((CI / "github-plan.yml").read_text(encoding="utf-8"))
    on = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert on["pull_request"]["paths"] == ["salesflow.yaml", "pipelines/**", "workflows/**"]
    assert workflow["permissions"]["pull-requests"] == "write"
    assert any("gh pr comment" in command for command in github_commands())


def test_the_gitlab_job_runs_on_merge_requests_and_posts_a_note():
    (job,) = yaml.safe_load((CI / "gitlab-plan.yml").read_text(encoding="utf-8")).values()
    assert job["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
    assert any("/merge_requests/$CI_MERGE_REQUEST_IID/notes" in line for line in job["script"])


@pytest.mark.parametrize("example", EXAMPLES)
def test_each_salesflow_command_of_the_examples_exists_with_its_options(example):
    group = typer.main.get_command(APP)
    commands = [line for line in ours(EXAMPLES[example]()) if line.startswith("salesflow")]
    assert [shlex.split(line)[1] for line in commands] == ["validate", "plan"]
    for line in commands:
        words = shlex.split(line.partition(">")[0])
        # parsed as the command line is (not run): an unknown option or format raises
        group.commands[words[1]].make_context(words[1], words[2:])
    assert "--against" in commands[1] and "--format markdown" in commands[1]


def test_the_readme_shows_the_comment_the_examples_post(tmp_path, cli, demo):
    """The README's sample is what the examples' own commands print for the scenario the
    README names, run as each example runs them (so the sample cannot rot)."""
    readme = (CI / "README.md").read_text(encoding="utf-8")
    sample = SAMPLE.search(readme)
    assert sample["command"] == 'salesflow plan --against "origin/$BASE" --format markdown'
    shown = re.sub(r"^> ?", "", sample["text"], flags=re.MULTILINE)
    database = demo_after_the_forms(cli, demo)
    origin = repository_with_a_longer_reminder(demo, tmp_path / "origin.git")
    for example, commands in EXAMPLES.items():
        printed = run_as_ci(ours(commands()), origin, database, tmp_path / example)
        assert printed == shown + "\n", f"examples/ci/README.md's sample is now:\n{printed}"


def demo_after_the_forms(cli, demo: Path) -> Path:
    """The demo's database after its prospects (21 November) and two forms (22 November)."""
    for form, file in (("cours-essai", "julie.json"), ("cours-essai-tally", "tally-ines.json")):
        (demo / "inbox" / form).mkdir(parents=True)
        shutil.copy(demo / "examples" / "forms" / file, demo / "inbox" / form)
    for now, *command in (
        ("2026-11-21T18:00", "import", demo / "examples" / "prospects.csv", "--pipeline",
         "cours-essai", "--stage", "nouveau"),
        (NOW, "ingest", "--inbox"),
        (NOW, "tick"),
    ):  # fmt: skip
        result = cli("--project", demo, "--now", now, *command)
        assert result.exit_code == 0, result.output
    return demo / "salesflow.db"


def repository_with_a_longer_reminder(demo: Path, origin: Path) -> Path:
    """A bare repository of the demo's configuration: `main`, and the branch `rappel-48h`
    where the reminder comes 48 h before the lesson instead of 24 h."""
    work = origin.with_name("work")
    work.mkdir()
    shutil.copy(demo / "salesflow.yaml", work)
    for folder in ("pipelines", "workflows"):
        shutil.copytree(demo / folder, work / folder)
    git(work, "init", "--quiet", "--initial-branch", "main")
    git(work, "add", ".")
    git(work, "commit", "--quiet", "--message", "The club's configuration")
    git(work, "switch", "--quiet", "--create", "rappel-48h")
    workflow = work / "workflows" / "essai-formulaire.yaml"
    text = workflow.read_text(encoding="utf-8")
    assert "before: 24h," in text
    workflow.write_text(text.replace("before: 24h,", "before: 48h,"), encoding="utf-8")
    git(work, "commit", "--quiet", "--all", "--message", "The reminder 48 h before the lesson")
    git(work, "clone", "--quiet", "--bare", work, origin)
    return origin


def run_as_ci(lines: list[str], origin: Path, database: Path, folder: Path) -> str:
    """`lines` run by bash in a shallow clone of the branch, as a pull request's CI checks
    it out, on a copy of `database`; what they wrote to plan.md."""
    git(origin.parent, "clone", "--quiet", "--depth=1", "--branch", "rappel-48h",
        origin.as_uri(), folder)  # fmt: skip
    copy = folder.with_name(f"{folder.name}.db")
    shutil.copy(database, copy)
    bin_folder = Path(sys.executable).parent  # this environment's salesflow
    env = {**os.environ, **GIT, "BASE": "main", "SALESFLOW_DB": str(copy), "SALESFLOW_NOW": NOW,
           "PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    env.pop("SALESFLOW_PROJECT", None)
    script = "set -euo pipefail\n" + "\n".join(lines)
    done = subprocess.run(["bash", "-c", script], cwd=folder, env=env, capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return (folder / "plan.md").read_text(encoding="utf-8")


def git(folder: Path, *args: object) -> None:
    subprocess.run(["git", "-C", folder, *map(str, args)], check=True, env={**os.environ, **GIT})
