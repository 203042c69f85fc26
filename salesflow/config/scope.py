"""What templates and expressions can name: the context the engine gives them."""

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
)

REPORT_FUNCTIONS = ("stalled", "forecast", "board")
DATE_FIELDS = {
    "contact": {"created_at", "updated_at", "unsubscribed_at"},
    "deal": {"created_at", "expected_close", "closed_at", "stage_entered_at"},
    "ticket": {"created_at", "closed_at", "stage_entered_at"},
}


def _known(names) -> dict[str, None]:
    return dict.fromkeys(names)


def context_scope(
    contact_fields: dict[str, FieldDef],
    deal_fields: dict[str, FieldDef],
    event_data: dict[str, FieldDef] | None = None,
    ticket_fields: dict[str, FieldDef] | None = None,
) -> Scope:
    """The names of a workflow's context; `event_data` when the event's fields are known."""
    member = _known(MEMBER_FIELDS)
    return {
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


PAYLOAD_SCOPE: Scope = {"payload": None}
