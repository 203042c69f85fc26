"""The environment variables a project's `http` steps name: what `validate` lists and
`check` looks for where salesflow runs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from salesflow.config.model import Step, Workflow
from salesflow.templating.references import referenced


def needed(workflows: Iterable[Workflow]) -> dict[str, list[str]]:
    """The environment variables the `http` steps name → the workflows that name them."""
    found: dict[str, list[str]] = {}
    for workflow in workflows:
        for step in _http_steps(workflow.steps):
            for source in (step.config.url, *step.config.headers.values()):
                for name in referenced(source):
                    found.setdefault(name, [])
                    if workflow.id not in found[name]:
                        found[name].append(workflow.id)
    return dict(sorted(found.items()))


def _http_steps(steps: Iterable[Step]) -> Iterator[Step]:
    for step in steps:
        if step.action == "http":
            yield step
        elif step.action == "branch":
            yield from _http_steps((*step.config.then, *step.config.otherwise))
