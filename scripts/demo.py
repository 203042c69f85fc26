"""The README's demo: the singing-club project, run in a scratch copy (build/demo/).

It never touches the repository's own files: every command runs in build/demo/, which is
recreated each time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from salesflow.config.project import load_project
from salesflow.durations import format_duration

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "build" / "demo"
SALESFLOW = Path(sys.executable).parent / "salesflow"
console = Console()


def prepare() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir(parents=True)
    shutil.copy(REPO / "salesflow.yaml", DEMO)
    for folder in ("pipelines", "workflows", "examples"):
        shutil.copytree(REPO / folder, DEMO / folder)


def salesflow(*args: str) -> None:
    """Run a real `salesflow` command in the demo project, showing it as a user would type it."""
    console.print(f"\n[bold]$ salesflow {' '.join(args)}[/bold]")
    result = subprocess.run([SALESFLOW, *args], cwd=DEMO, check=False)
    if result.returncode != 0:
        sys.exit(result.returncode)


def summary() -> None:
    project = load_project(DEMO)
    console.print(f"\n[bold]{project.name}[/bold] — {project.timezone.key}, {project.locale}")
    for pipeline in project.pipelines.values():
        table = Table(title=f"Pipeline {pipeline.id}: {pipeline.name}", title_justify="left")
        for column in ("stage", "name", "probability", "outcome", "stalled after"):
            table.add_column(column)
        for stage in pipeline.stages:
            rot = format_duration(stage.rot_after) if stage.rot_after else ""
            table.add_row(stage.id, stage.name, f"{stage.probability} %", stage.outcome or "", rot)
        console.print(table)
    table = Table(title="Workflows", title_justify="left")
    for column in ("workflow", "trigger", "steps"):
        table.add_column(column)
    for workflow in project.workflows.values():
        trigger = workflow.trigger
        when = (trigger.schedule and f"cron {trigger.schedule}") or trigger.event
        matched = ", ".join(f"{k}={'|'.join(v)}" for k, v in trigger.match.items())
        steps = " → ".join(f"{step.id} ({step.action})" for step in workflow.steps)
        table.add_row(workflow.id, f"{when} {matched}".strip(), steps)
    console.print(table)


def main() -> None:
    prepare()
    console.print(f"Demo project copied to {DEMO.relative_to(REPO)}/")
    salesflow("validate")
    summary()


if __name__ == "__main__":
    main()
