"""The step actions a workflow can use: one typed, frozen configuration per action.

`ACTIONS` is the one registry: the workflow schema's list of step types must equal its keys
(a test checks it), and the engine looks its handlers up by the same names.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True, kw_only=True)
class UpdateContact:
    """Change fields of the run's contact."""

    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    company: str | None = None
    source: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class UpsertContact(UpdateContact):
    """Create the contact with this email, or update it with the non-empty values given."""

    email: str


@dataclass(frozen=True)
class CreateDeal:
    """Open a deal for the run's contact; one open deal per contact and pipeline by default."""

    pipeline: str
    stage: str
    title: str | None = None
    amount: str | None = None
    owner: str | None = None
    expected_close: str | None = None
    next_step: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    dedupe: bool = True
    force: bool = False  # enter the stage even when its requirements are not met


@dataclass(frozen=True)
class MoveDeal:
    """Move the run's deal to another stage of its pipeline."""

    stage: str
    pipeline: str | None = None
    reason: str | None = None
    force: bool = False  # move even when the stage's requirements are not met


@dataclass(frozen=True)
class UpdateDeal:
    """Change fields of the run's deal."""

    title: str | None = None
    amount: str | None = None
    owner: str | None = None
    probability: int | None = None
    expected_close: str | None = None
    next_step: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CreateTicket:
    """Open a ticket (for the run's contact, when it has one) in a ticket pipeline."""

    pipeline: str
    subject: str
    stage: str | None = None
    priority: str = "normal"
    owner: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    force: bool = False  # create it even when the stage's requirements are not met


@dataclass(frozen=True)
class MoveTicket(MoveDeal):
    """Move the run's ticket to another stage of its pipeline."""


@dataclass(frozen=True)
class UpdateTicket:
    """Change fields of the run's ticket."""

    subject: str | None = None
    priority: str | None = None
    owner: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AssignOwner:
    """Give the subject an owner, in turn (`round_robin`) or to the least loaded member."""

    among: tuple[str, ...]
    strategy: str = "round_robin"


@dataclass(frozen=True)
class SendEmail:
    """Queue a templated email to the contact (or an address); optionally with an .ics invite."""

    template: str
    to: str = "contact"
    reply_to: str | None = None
    calendar: dict[str, Any] | None = None


@dataclass(frozen=True)
class Notify:
    """Queue a templated email to a team member, the subject's owner, or the whole team."""

    template: str
    to: str = "owner"


@dataclass(frozen=True)
class CreateTask:
    """Create a task for a team member, due after a duration or at a date-time."""

    title: str
    assignee: str = "owner"
    due_in: str | None = None
    due_at: str | None = None


@dataclass(frozen=True)
class Http:
    """Queue a request to another tool (a chat channel, a script); sent by the delivery pass.

    `{{ env.NAME }}` references (secrets) are allowed in `url` and `headers` only and stay
    unresolved until the request leaves."""

    url: str
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    body: str | None = None


@dataclass(frozen=True)
class Wait:
    """Park the run for a duration."""

    duration: str


@dataclass(frozen=True)
class WaitUntil:
    """Park the run until a date-time (shifted by before/after); follows the anchor field."""

    at: str
    before: str | None = None
    after: str | None = None
    if_past: str = "skip"


@dataclass(frozen=True)
class Branch:
    """Run `then` when the condition holds, else `otherwise`."""

    condition: str
    then: tuple = ()
    otherwise: tuple = ()


@dataclass(frozen=True)
class Stop:
    """End the run here, with a reason for the trace."""

    reason: str | None = None


ACTIONS: dict[str, type] = {
    "upsert_contact": UpsertContact,
    "update_contact": UpdateContact,
    "create_deal": CreateDeal,
    "move_deal": MoveDeal,
    "update_deal": UpdateDeal,
    "create_ticket": CreateTicket,
    "move_ticket": MoveTicket,
    "update_ticket": UpdateTicket,
    "assign_owner": AssignOwner,
    "send_email": SendEmail,
    "notify": Notify,
    "create_task": CreateTask,
    "http": Http,
    "wait": Wait,
    "wait_until": WaitUntil,
    "branch": Branch,
    "stop": Stop,
}

# YAML keys that are Python keywords or read better in YAML than as field names.
_RENAMED = {"if": "condition", "else": "otherwise"}
# Actions written as a bare scalar (`wait: 2d`, `stop: "already enrolled"`).
_SCALAR_FIELD = {"wait": "duration", "stop": "reason"}


def build_action(name: str, value: Any, build_steps) -> Any:
    """The typed configuration of action `name` from its validated YAML value.

    `build_steps` turns a nested list of steps (a branch's then/else) into typed steps.
    """
    cls = ACTIONS[name]
    if not isinstance(value, dict):
        return cls(**({_SCALAR_FIELD[name]: value} if value is not None else {}))
    kwargs = {_RENAMED.get(key, key): item for key, item in value.items()}
    for item in fields(cls):
        if item.name in ("then", "otherwise"):
            kwargs[item.name] = build_steps(kwargs.get(item.name, []))
        elif item.name in ("tags", "among") and item.name in kwargs:
            kwargs[item.name] = tuple(kwargs[item.name])
    return cls(**kwargs)
