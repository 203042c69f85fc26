"""Where a run stands in its workflow: a path of step ids (`["choix", "then", "essai"]`), so
that a run survives an edit of its workflow as long as its next step keeps its id."""

from __future__ import annotations

from salesflow.config.model import Step

Path = list[str]
ARMS = {"then": "then", "else": "otherwise"}


def first(steps: tuple[Step, ...]) -> Path | None:
    return [steps[0].id] if steps else None


def find(steps: tuple[Step, ...], path: Path) -> Step | None:
    """The step at `path`, or None when the workflow no longer has it."""
    index = _index(steps, path[0])
    step = None if index is None else steps[index]
    if step is None or len(path) == 1:
        return step
    if step.action != "branch" or len(path) < 3 or path[1] not in ARMS:
        return None
    return find(getattr(step.config, ARMS[path[1]]), path[2:])


def following(steps: tuple[Step, ...], path: Path) -> Path | None:
    """The step after `path` (out of a branch's arm when it ends), or None at the end."""
    index = _index(steps, path[0])
    if len(path) > 1:
        arm = getattr(steps[index].config, ARMS[path[1]])
        inner = following(arm, path[2:])
        if inner is not None:
            return [path[0], path[1], *inner]
    return [steps[index + 1].id] if index + 1 < len(steps) else None


def _index(steps: tuple[Step, ...], step_id: str) -> int | None:
    """Where the step `step_id` stands in `steps` (a loop: a generator costs more here)."""
    for index, step in enumerate(steps):
        if step.id == step_id:
            return index
    return None


def into_arm(path: Path, arm: str, steps: tuple[Step, ...]) -> Path | None:
    """The first step of a branch's arm, or None when the arm is empty."""
    inner = first(steps)
    return [*path, arm, *inner] if inner else None
