"""Phase 2 for the stages' playbooks (#29): what a pipeline's schema cannot judge — the
fields `requires` names, checklist items written twice, and the entry tasks' title
templates (checked as the task will be written: with the record, its contact and the stage)."""

from __future__ import annotations

from salesflow.config.model import CONTACT_FIELDS, DEAL_FIELDS, TICKET_FIELDS, FieldDef, Pipeline
from salesflow.config.playbook import ALWAYS_THERE, field_names, folded_item
from salesflow.config.settings_checks import jinja_problems
from salesflow.config.yamlfile import YamlFile
from salesflow.errors import Problem, did_you_mean

_OWN = {"deal": DEAL_FIELDS, "ticket": TICKET_FIELDS}


def check_playbooks(
    document: YamlFile, pipeline: Pipeline, fields: dict[str, dict[str, FieldDef]], env
) -> list[Problem]:
    """`fields`: the custom fields declared, by record (contact, deal, ticket)."""
    record = pipeline.object
    known = field_names(record, fields[record], fields["contact"])
    scope = _task_scope(record, fields)
    problems: list[Problem] = []
    for index, stage in enumerate(pipeline.stages):
        where = ("stages", index)
        for position, name in enumerate(stage.requires):
            if name in ALWAYS_THERE[record]:
                message = (f"'{name}' is always set (a {record} has its stage's):"
                           " requiring it would require nothing; remove it")  # fmt: skip
                problems.append(document.problem((*where, "requires", position), message))
            elif name not in known:
                message = (f"'{name}' is not a field of a {record} or of its contact"
                           f"{did_you_mean(name, sorted(known))}")  # fmt: skip
                problems.append(document.problem((*where, "requires", position), message))
        problems += _repeated_items(document, stage, where)
        for position, task in enumerate(stage.on_enter_tasks):
            keypath = (*where, "on_enter_tasks", position, "title")
            problems += jinja_problems(document, keypath, task.title, env, scope)
    return problems


def closing_warnings(docs: list[YamlFile | None], pipeline: Pipeline) -> list[Problem]:
    """A playbook on a won or lost stage that looks unintended: `requires` on a lost stage
    refuses to lose a record lacking it (losing should never be blocked: the record would
    stay open, and the pipeline's forecast with it), and a required item of a closed stage
    asks nothing (a closed record never moves forward out of it; it only reopens)."""
    document = next((d for d in docs if d is not None and d.path == pipeline.path), None)
    if document is None:
        return []
    record, warnings = pipeline.object, []
    for index, stage in enumerate(pipeline.stages):
        where = ("stages", index)
        if stage.outcome == "lost" and stage.requires:
            message = (f"stage '{stage.id}' is where {record}s are lost: requiring"
                       f" {', '.join(stage.requires)} here refuses to lose a {record} lacking"
                       f" {'it' if len(stage.requires) == 1 else 'them'} (but with --force);"
                       " require it in an earlier stage, or not at all")  # fmt: skip
            warnings.append(document.problem((*where, "requires"), message, of_key=True))
        if stage.outcome:
            warnings += _closed_required_items(document, stage, where, record)
    return warnings


def _closed_required_items(document: YamlFile, stage, where: tuple, record: str) -> list[Problem]:
    written = document.data["stages"][where[1]].get("checklist") or []
    return [
        document.problem((*where, "checklist", position, "required"), (
            f"a closed {record} never leaves stage '{stage.id}' ({stage.outcome}) forward:"
            f" “{entry['item']}” is never required here; make it required in the stage"
            " before"), of_key=True)
        for position, entry in enumerate(written)
        if isinstance(entry, dict) and entry.get("required") is True
    ]  # fmt: skip


def _repeated_items(document: YamlFile, stage, where: tuple) -> list[Problem]:
    """Items that read the same but for case and spaces: `deals check` names an item that
    way, so it could never tell them apart."""
    problems, seen = [], {}
    for position, entry in enumerate(stage.checklist):
        same = folded_item(entry.item)
        if same in seen:
            first = seen[same]
            message = (f"checklist item “{entry.item}” repeats item {first + 1}"
                       f" (“{stage.checklist[first].item}”) of stage '{stage.id}':"
                       " `deals check` could not tell them apart")  # fmt: skip
            keypath = (*where, "checklist", position)
            if isinstance(document.data["stages"][where[1]]["checklist"][position], dict):
                keypath = (*keypath, "item")
            problems.append(document.problem(keypath, message))
        seen.setdefault(same, position)
    return problems


def _task_scope(record: str, fields: dict[str, dict[str, FieldDef]]) -> dict:
    """What an entry task's title sees (store/deals._entered): the record, its contact, and
    the stage's name."""
    return {
        record: {**dict.fromkeys(_OWN[record]), **dict.fromkeys(fields[record]), "owner": None},
        "contact": {**dict.fromkeys(CONTACT_FIELDS), **dict.fromkeys(fields["contact"])},
        "stage": None,
    }
