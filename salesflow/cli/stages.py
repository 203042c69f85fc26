"""A stage as a person names it on the command line: its id, or its display name in any case,
with or without accents, with a straight or a curly apostrophe ("besoin qualifie" for
"Besoin qualifié")."""

from __future__ import annotations

from salesflow.config.model import Pipeline, Project
from salesflow.errors import UserError, did_you_mean
from salesflow.values import comparable


def stage_id(
    project: Project, text: str, pipeline: str | None = None, record: str | None = None
) -> str:
    """The id of the stage `text` names, in `pipeline` (or in any pipeline of `record`, or
    in any pipeline). An id is taken as it is; a name or an id in other case or accents,
    when it names one stage only. An unknown pipeline is left to the command's own error."""
    if pipeline is not None and pipeline not in project.pipelines:
        return text
    pipelines = _pipelines(project, pipeline, record)
    if any(of.stage(text) for of in pipelines):
        return text
    wanted = comparable(text)
    named = {s.id: s.name for of in pipelines for s in of.stages
             if wanted in (comparable(s.id), comparable(s.name))}  # fmt: skip
    if len(named) == 1:
        return next(iter(named))
    where = f" of pipeline '{pipelines[0].id}'" if len(pipelines) == 1 else ""
    if named:
        raise UserError(f"'{text}' names several stages: {_listed(named)}; give the id")
    every = {s.id: s.name for of in pipelines for s in of.stages}
    close = did_you_mean(text, [*every, *every.values()])
    raise UserError(f"'{text}' is not a stage{where}{close}; its stages: {_listed(every)}")


def _pipelines(project: Project, pipeline: str | None, record: str | None) -> list[Pipeline]:
    if pipeline is not None:
        return [project.pipelines[pipeline]]
    return [of for of in project.pipelines.values() if record in (None, of.object)]


def _listed(stages: dict[str, str]) -> str:
    return ", ".join(f"{id_} ({name})" for id_, name in stages.items())
