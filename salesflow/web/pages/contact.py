"""A contact: their fields, tags, owner, email status and unsubscription, their deals and
tickets with those records' tasks, and the conversation (sent and received, in order); and
the change made there: an address a bounce marked undeliverable set back to deliverable, by
the member signed in (as `contacts update EMAIL --email-status ok` does)."""

from __future__ import annotations

from starlette.responses import Response

from salesflow.config.model import Project
from salesflow.reports.contact import shown
from salesflow.store import contacts
from salesflow.store.db import transaction
from salesflow.web.auth import Visit, json_answer, wants_json


def contact(visit: Visit) -> Response:
    whole = contact_json(visit)
    return visit.page("contact.html", contact=whole, called=name_of(whole),
                      fields=_fields(visit.store.project, whole))  # fmt: skip


def contact_json(visit: Visit) -> dict:
    """`/contacts/N.json`: `salesflow contacts show N --json` (the contact and their deals),
    with their tickets, the tasks of both, the conversation, and for an undeliverable
    address the bounce that made it so."""
    return shown(visit.store, visit.request.path_params["contact"])


def email_status(visit: Visit) -> Response:
    """Set the address's status (the page's button: back to `ok`), recorded as changed by
    the signed-in member; as JSON, the contact's fields (as `contacts show --json` gives
    them, without their deals)."""
    store, number = visit.store, visit.request.path_params["contact"]
    with transaction(store.conn):
        row = contacts.set_email_status(store, number, visit.form.get("status") or "ok",
                                        by=visit.member.id)  # fmt: skip
    if wants_json(visit.request):
        return json_answer(contacts.public(row, store))
    return visit.back(f"/contacts/{row['id']}")


def name_of(contact) -> str:
    """How the pages name a contact (a row or contacts.public): their name, else their email."""
    return " ".join(filter(None, (contact["first_name"], contact["last_name"]))) or contact["email"]


def _fields(project: Project, whole: dict) -> list[tuple[str, object, str]]:
    """The contact's custom fields as the page lists them: (label, value, how to show it)."""
    return [
        (field.label or name, whole.get(name), field.type if field.type in _DATES else "text")
        for name, field in project.contact_fields.items()
    ]


_DATES = ("date", "datetime")
