"""The rule of a pipeline's stage playbooks, the same at every door (the CLI, the pages, the
workflows, the import): a record enters a stage only with the stage's `requires` set, and
moves forward out of a stage only with that stage's required checklist items ticked.

Pure: the callers bring the record's values and its ticks, so the rule can be tested, and
shown ("what the next stage will require"), without a database.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from salesflow.config.model import Pipeline, Project, Stage

# The record's own fields a stage can require (custom fields come from the project). Not
# `probability`: a deal always has one, its stage's, so requiring it would require nothing.
RECORD_FIELDS = {
    "deal": ("title", "amount", "expected_close", "next_step", "owner"),
    "ticket": ("subject", "priority", "owner"),
}
ALWAYS_THERE = {"deal": ("probability",), "ticket": ()}
# The contact's own fields set by name (`contacts update --phone`, a contact step's `phone:`);
# the others are custom fields (`--field`, `fields:`).
SETTABLE_CONTACT_FIELDS = ("first_name", "last_name", "phone", "company", "owner", "source")
# The contact's fields a stage can require, as `contact.x` (and its custom fields).
REQUIRABLE_CONTACT_FIELDS = ("email", *SETTABLE_CONTACT_FIELDS)


@dataclass(frozen=True)
class Missing:
    """What a record lacks to enter `stage` (`fields`) or to leave `leaving` forward
    (`items`, its required checklist items not ticked); empty when it may move."""

    stage: Stage
    fields: tuple[str, ...] = ()
    leaving: Stage | None = None
    items: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.fields or self.items)


def folded_item(item: str) -> str:
    """A checklist item as ticking matches it (and validate compares them): case and runs of
    spaces aside."""
    return " ".join(item.split()).casefold()


def is_set(value: Any) -> bool:
    """A field is set when it holds something other than nothing or blank text."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple | dict):
        return bool(value)
    return True


def missing_fields(stage: Stage, values: Mapping[str, Any]) -> tuple[str, ...]:
    """The stage's `requires` that `values` (the record's fields by name, its contact's as
    `contact.x`) leave unset, in the stage's order."""
    return tuple(name for name in stage.requires if not is_set(values.get(name)))


def is_forward(of: Pipeline, source: Stage, target: Stage) -> bool:
    """A move that needs the source's required items: towards a later stage, not to a lost one."""
    if target.outcome == "lost":
        return False
    return of.stages.index(target) > of.stages.index(source)


def missing_to_move(
    of: Pipeline, source: Stage | None, target: Stage, values: Mapping[str, Any],
    ticked: Collection[str],
) -> Missing:  # fmt: skip
    """What a record in `source` (None: being created) lacks to enter `target`; `ticked`:
    the items ticked in `source`."""
    items: tuple[str, ...] = ()
    if source is not None and source in of.stages and is_forward(of, source, target):
        items = tuple(item for item in source.required_items if item not in ticked)
    return Missing(target, missing_fields(target, values), source, items)


def known_fields(project: Project, record: str) -> set[str]:
    """Every name a stage of a `record` pipeline may require."""
    return field_names(record, project.fields_of(record), project.contact_fields)


def field_names(record: str, custom: Iterable[str], contact_custom: Iterable[str]) -> set[str]:
    """known_fields from the custom fields declared (validate has no Project yet)."""
    own = set(RECORD_FIELDS[record]) | set(custom)
    contact = set(REQUIRABLE_CONTACT_FIELDS) | set(contact_custom)
    return own | {f"contact.{name}" for name in contact}
