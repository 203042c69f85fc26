"""What templates and expressions can name: the context the engine gives them, per kind of
start. An event's run has its contact, deal or ticket; a scheduled run has none of them; a
manual start has the record it was started for, and no form data. Names a start lacks map to
the sentence that says so (see `Scope`): the check then explains instead of guessing."""

from __future__ import annotations

from salesflow.config.jinja_check import Scope
from salesflow.config.model import (
    CONTACT_FIELDS,
    DEAL_FIELDS,
    EVENT_FIELDS,
    MEMBER_FIELDS,
    PROJECT_FIELDS,
    RUN_FIELDS,
    TICKET_FIELDS,
    WORKFLOW_FIELDS,
    FieldDef,
    Trigger,
)

REPORT_FUNCTIONS = ("stalled", "forecast", "board", "today")
DATE_FIELDS = {
    "contact": {"created_at", "updated_at", "unsubscribed_at"},
    "deal": {"created_at", "expected_close", "closed_at", "stage_entered_at"},
    "ticket": {"created_at", "closed_at", "stage_entered_at"},
}
# What each kind of start lacks, with the reason a user reads.
_SCHEDULED = (
    "a scheduled run has no {name} (it starts from the clock, for nobody): it can read"
    " project, workflow, run, now and the reports stalled(), forecast(), board(), today()"
)
_MANUAL = (
    "a manual start has no form data: event.data holds only workflow and by; read the"
    " contact, deal or ticket it was started for, or trigger the workflow on form.submitted"
)
_LACKS: dict[str, dict[str, Scope | str]] = {
    "schedule": {name: _SCHEDULED.format(name=name)
                 for name in ("contact", "deal", "ticket", "owner", "event")},
    "manual": {"event.data": {"workflow": None, "by": None, "": _MANUAL}},
    "event": {},
}  # fmt: skip


def start_of(trigger: Trigger) -> str:
    """How a run of this trigger starts: `event`, `schedule` or `manual`."""
    if trigger.schedule is not None:
        return "schedule"
    return "manual" if trigger.manual else "event"


def lacks(start: str) -> set[str]:
    """Why a run started this way has not some name: the sentences its checks may say."""
    return {_reason(value) for value in _LACKS[start].values()}


def _reason(value: Scope | str) -> str:
    return value if isinstance(value, str) else value[""]


def _known(names) -> dict[str, None]:
    return dict.fromkeys(names)


def context_scope(
    contact_fields: dict[str, FieldDef],
    deal_fields: dict[str, FieldDef],
    event_data: dict[str, FieldDef] | None = None,
    ticket_fields: dict[str, FieldDef] | None = None,
    start: str = "event",
) -> Scope:
    """The names of a workflow's context; `event_data` when the event's fields are known;
    `start` the kind of start (its missing names carry their reason)."""
    member = _known(MEMBER_FIELDS)
    scope: Scope = {
        "contact": {**_known(CONTACT_FIELDS), **_known(contact_fields), "owner": member},
        "deal": {**_known(DEAL_FIELDS), **_known(deal_fields), "owner": member},
        "ticket": {**_known(TICKET_FIELDS), **_known(ticket_fields or {}), "owner": member},
        "owner": member,
        "member": member,  # the team member a notify message is for
        "event": {**_known(EVENT_FIELDS), "data": _known(event_data) if event_data else None},
        "project": _known(PROJECT_FIELDS),
        "workflow": _known(WORKFLOW_FIELDS),
        "run": _known(RUN_FIELDS),
        "now": None,
        **_known(REPORT_FUNCTIONS),
    }
    for dotted, names in _LACKS[start].items():
        *parents, last = dotted.split(".")
        level = scope
        for name in parents:
            level = level[name]
        level[last] = names
    return scope


PAYLOAD_SCOPE: Scope = {"payload": None}
