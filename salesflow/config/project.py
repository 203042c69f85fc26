"""Finding and loading a project: files → shape checks → meaning checks → typed Project."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from salesflow.config.locate import PROJECT_FILE
from salesflow.config.model import (
    Pipeline,
    Project,
    Workflow,
    Workflows,
    build_pipeline,
    build_settings,
    build_workflow,
)
from salesflow.config.playbook_checks import check_playbooks, closing_warnings
from salesflow.config.scope import context_scope
from salesflow.config.settings_checks import (
    check_file_name,
    check_imports,
    check_pipeline,
    check_settings,
    maildir_warnings,
)
from salesflow.config.shape import check_shape, pruned
from salesflow.config.template_checks import check_template_files, discover_templates
from salesflow.config.workflow_checks import ProjectFacts, WorkflowChecker, loops_between
from salesflow.config.yamlfile import KeyPath, YamlFile, load_yaml
from salesflow.errors import Problem, ProjectInvalid
from salesflow.templating import make_environment


def yaml_files(folder: Path) -> list[Path]:
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


@dataclass
class Validation:
    """The outcome of checking a project: its problems and, when there are none, the Project."""

    root: Path
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # what may fail some runs: reported
    files: list[Path] = field(default_factory=list)
    project: Project | None = None
    pipelines: int = 0
    workflows: int = 0
    templates: int = 0


def validate(root: Path, database_override: str | None = None) -> Validation:
    """Check every file of the project at `root` (shape, then meaning); never raises for
    problems in the files, which end up in `Validation.problems`."""
    result = Validation(root)
    settings_doc = _settings_to_check_with(
        _load(root / PROJECT_FILE, "project", result, True), result
    )
    pipeline_paths = yaml_files(root / "pipelines")
    pipeline_docs = [_load(path, "pipeline", result) for path in pipeline_paths]
    workflow_docs = [_load(path, "workflow", result, partly=True)
                     for path in yaml_files(root / "workflows")]  # fmt: skip
    templates_dir = root / "workflows" / "templates"
    templates, problems = discover_templates(templates_dir)
    result.problems += problems
    result.pipelines, result.workflows = len(pipeline_docs), len(workflow_docs)
    result.templates = len(templates)
    result.files += sorted(templates_dir.glob("*.j2"))
    if settings_doc is None:  # references cannot be judged without the project's settings,
        result.problems += _templates_alone(root, templates_dir)  # but templates still can
        result.problems.sort()
        return result

    # Checks only compile templates, so the locale and zone of this environment do not matter.
    env = make_environment(templates_dir, "en_US", UTC, "EUR")
    settings_problems = check_settings(settings_doc, env)
    result.problems += settings_problems
    result.warnings += maildir_warnings(settings_doc, root)
    data = settings_doc.data
    if any(problem.key == "timezone" for problem in settings_problems):
        data = {**data, "timezone": "UTC"}  # reported; UTC lets the other files be checked
    settings = build_settings(data, root, database_override)
    pipelines, unreadable = _pipelines(pipeline_paths, pipeline_docs, result)
    result.problems += _playbooks(pipeline_docs, pipelines, settings, env)
    result.warnings += [warning for pipeline in pipelines.values()
                        for warning in closing_warnings(pipeline_docs, pipeline)]  # fmt: skip
    result.problems += check_imports(settings_doc, pipelines, settings["contact_fields"])
    facts = ProjectFacts(
        pipelines=pipelines,
        unreadable_pipelines=unreadable,
        templates=templates,
        team=set(settings["team"]),
        members=settings["team"],
        forms=settings["forms"],
        contact_fields=settings["contact_fields"],
        deal_fields=settings["deal_fields"],
        env=env,
        ticket_fields=settings["ticket_fields"],
        workflows={document.path.stem for document in workflow_docs if document is not None},
    )
    workflows = _workflows(workflow_docs, facts, result)
    scope = context_scope(settings["contact_fields"], settings["deal_fields"],
                          ticket_fields=settings["ticket_fields"])  # fmt: skip
    result.problems += check_template_files(templates_dir, env, scope)
    result.problems.sort()
    if not result.problems:
        result.project = Project(
            **settings, pipelines=pipelines, workflows=Workflows(workflows), templates=templates
        )
    return result


def load_project(root: Path, database_override: str | None = None) -> Project:
    """The typed project at `root`; ProjectInvalid when any file has a problem."""
    result = validate(root, database_override)
    if result.project is None:
        raise ProjectInvalid(result.problems)
    return result.project


def _pipelines(paths: list[Path], docs: list[YamlFile | None], result: Validation):
    """Typed pipelines by id, and the ids of pipeline files too broken to read."""
    pipelines: dict[str, Pipeline] = {}
    unreadable: set[str] = set()
    for path, document in zip(paths, docs, strict=True):
        if document is None:
            unreadable.add(path.stem)
            continue
        pipeline = build_pipeline(document.data, path)
        result.problems += check_pipeline(document, pipeline)
        if pipeline.id in pipelines:
            result.problems.append(_taken(document, "pipeline", pipelines[pipeline.id].path))
        pipelines[pipeline.id] = pipeline
    return pipelines, unreadable


def _playbooks(docs: list[YamlFile | None], pipelines: dict[str, Pipeline], settings: dict,
               env) -> list[Problem]:  # fmt: skip
    """The stages' playbooks of each pipeline read, checked against the fields declared."""
    fields = {record: settings[f"{record}_fields"] for record in ("contact", "deal", "ticket")}
    by_path = {pipeline.path: pipeline for pipeline in pipelines.values()}
    problems: list[Problem] = []
    for document in docs:
        if document is not None and document.path in by_path:
            problems += check_playbooks(document, by_path[document.path], fields, env)
    return problems


def _workflows(docs: list[YamlFile | None], facts: ProjectFacts, result: Validation):
    """Typed workflows by id. A workflow with shape problems is still checked for meaning as
    far as it can be (an unknown template beside a misspelt key is reported too), keeping
    only the problems that do not follow from a shape problem."""
    workflows: dict[str, Workflow] = {}
    documents: dict[str, YamlFile] = {}
    for document in docs:
        if document is None:
            continue
        shaky = [p.key for p in result.problems if p.path == document.path]
        checked = pruned(document, "workflow") if shaky else document
        if checked is None:  # nothing left to read as a workflow: its shape problems say why
            continue
        try:
            workflow = build_workflow(checked.data, document.path)
            found = check_file_name(checked, workflow.id, "workflow")
            checker = WorkflowChecker(checked, workflow, facts)
            found += checker.run()
            result.warnings += checker.warnings
        except Exception:  # too broken to read as a workflow: its shape problems say why
            if not shaky:
                raise
            continue
        result.problems += [p for p in found if not _follows(p.key, shaky)]
        if shaky:
            continue
        if workflow.id in workflows:
            result.problems.append(_taken(document, "workflow", workflows[workflow.id].path))
        workflows[workflow.id] = workflow
        documents[workflow.id] = document
    result.problems += loops_between(workflows, documents)
    return workflows


def _settings_to_check_with(document: YamlFile | None, result: Validation) -> YamlFile | None:
    """The settings to check the other files with, despite their shape problems (reported
    already): the parts these are about are left out, for their defaults, so that one mistake
    in salesflow.yaml hides none of the other files' errors. None when nothing can be read."""
    if document is None or not any(p.path == document.path for p in result.problems):
        return document
    return pruned(document, "project", _stand_in)


_REQUIRED = {"name": "?", "timezone": "UTC"}  # values never used: the project is invalid


def _stand_in(keypath: KeyPath, data: dict) -> tuple[KeyPath, Any] | None:
    """What a wrong or missing part of salesflow.yaml counts as while the other files are
    checked: a field definition (of contacts, deals, tickets or a form) as text and a team
    member kept by id, so these names stay known; a required key as a placeholder.
    Other parts are left out for their defaults."""
    if keypath[:1] == ("fields",) and len(keypath) >= 3:
        return keypath[:3], {"type": "string"}
    if keypath[:1] == ("forms",) and keypath[2:3] == ("fields",) and len(keypath) >= 4:
        return keypath[:4], {"type": "string"}
    if keypath[:1] == ("team",) and len(keypath) >= 2:
        member = _member_stand_in(data["team"][keypath[1]])
        return (keypath[:2], member) if member else None
    if len(keypath) == 1 and keypath[0] in _REQUIRED:
        return keypath, _REQUIRED[keypath[0]]
    return None


def _member_stand_in(member: Any) -> dict | None:
    """A team member with a shape problem, kept by id: the texts written stay (a wrong email
    is still reported once, by the meaning checks), the others take a placeholder."""
    if not isinstance(member, dict) or not isinstance(member.get("id"), str):
        return None
    texts = {key: member.get(key) for key in ("name", "email")}
    placeholders = {"name": member["id"], "email": "someone@example.com"}
    return {"id": member["id"], **{key: value if isinstance(value, str) else placeholders[key]
                                   for key, value in texts.items()}}  # fmt: skip


def _follows(key: str, shaky: list[str]) -> bool:
    """A problem at or under (or above) a key that already has a shape problem."""
    return any(_within(key, k) or _within(k, key) for k in shaky if k) or "" in shaky


def _within(key: str, outer: str) -> bool:
    """`steps[1].wait` is within `steps[1]`; `steps[10]` is not; everything is within ``."""
    return not outer or key == outer or key.startswith((f"{outer}.", f"{outer}["))


def _templates_alone(root: Path, templates_dir: Path) -> list[Problem]:
    """Template checks when salesflow.yaml cannot be read: custom fields are then unknown,
    so any field of a contact or deal is allowed."""
    env = make_environment(templates_dir, "en_US", UTC, "EUR")
    scope = context_scope({}, {})
    for record in ("contact", "deal"):
        scope[record] = None  # fields not known: not judged
    return [p for p in check_template_files(templates_dir, env, scope)]


def _taken(document: YamlFile, kind: str, other: Path) -> Problem:
    message = (
        f"the {kind} id '{document.data['id']}' is already used by {other.parent.name}/{other.name}"
    )
    return document.problem(("id",), message)


def _load(path: Path, kind: str, result: Validation, partly: bool = False) -> YamlFile | None:
    """The file, when its shape is right enough to check its meaning (`partly`: when it is
    readable YAML at all); problems go to result."""
    result.files.append(path)
    if not path.is_file():
        result.problems.append(Problem(path, 1, 1, f"missing {path.name}"))
        return None
    document, problems = load_yaml(path)
    result.problems += problems
    if document is None:
        return None
    shape_problems = check_shape(document, kind)
    result.problems += shape_problems
    return None if shape_problems and not partly else document
