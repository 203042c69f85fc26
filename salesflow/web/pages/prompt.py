"""The move prompt: when a record may not enter a stage yet (the rule of config/playbook.py),
the board and the deal page ask for what it lacks — the stage's required fields (the
record's own, its contact's `contact.x`) and the required checklist items of the stage it
leaves — in one small form, whose post sets them, ticks them and moves the record in one
transaction. The post takes only what the move lacks (a field or an item the form did not
ask for is ignored); a contact's field of a record without a contact is not asked but
explained: it can only be given a contact, or the move forced from the CLI.

`GET /deals/N/move?to=STAGE` is the form as a page (the board's script shows the same form
in a <dialog>); the post is the move's own (`POST /deals/N/move`), with the fields as
`set.NAME` and the items as `tick.ITEM`. A refusal says the rule's phrase in the page's language.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from typing import Any

from starlette.responses import Response

from salesflow.config.model import PRIORITIES, FieldDef, Stage
from salesflow.config.playbook import Missing
from salesflow.phrases import say
from salesflow.store import contacts, deals, playbook
from salesflow.store.session import Store
from salesflow.web.auth import Visit, local_path
from salesflow.web.words import FIELDS, HEADINGS
from salesflow.web.words import PRIORITIES as PRIORITY_WORDS

SET = "set."  # a filled field's name in the form: `set.amount`, `set.contact.date_essai`
TICK = "tick."  # a ticked item's: `tick.Paiement reçu`
NO_CONTACT = "no-contact"  # the kind of a contact's field asked of a record without a contact

# The HTML input of a custom field's type (the rest are text).
INPUT_TYPES = {"date": "date", "datetime": "datetime-local", "email": "email", "number": "text"}


@dataclass(frozen=True)
class Asked:
    """One field the prompt asks for: its input's kind, and its choices for a select
    (value, label)."""

    name: str
    label: str
    kind: str = "text"
    choices: tuple[tuple[str, str], ...] = ()


def missing_now(store: Store, row: sqlite3.Row, target: Stage) -> Missing:
    """What the record lacks, as it is stored, to move to `target`."""
    of = deals.pipeline(store, row["pipeline"])
    return playbook.missing_for(store, of, row, deals.public(row, store), target)


def fill(store: Store, row: sqlite3.Row, target: Stage, form: dict[str, Any], by: str) -> None:
    """Set the fields the prompt's form filled (blank ones are left alone) and tick its
    items, by the member `by`: only what moving to `target` lacks now, what the prompt asked
    for (never `set.stage`, nor the contact's email that names it, unless the stage asks
    for them); the caller moves the record in the same transaction."""
    record = deals.object_of(store, row)
    missing = missing_now(store, row, target)
    own, custom, of_contact, contact_custom = {}, {}, {}, {}
    for key, value in form.items():
        name = key.removeprefix(SET)
        if not key.startswith(SET) or name not in missing.fields or not str(value).strip():
            continue
        if name.startswith("contact."):
            name = name.removeprefix("contact.")
            into = contact_custom if name in store.project.contact_fields else of_contact
        else:
            into = custom if name in store.project.fields_of(record) else own
        into[name] = value
    if own or custom:
        deals.update(store, row, {**own, **({"fields": custom} if custom else {})}, by)
    if (of_contact or contact_custom) and row["contact_id"] is not None:
        person = contacts.get(store, row["contact_id"])
        contacts.update(store, person, of_contact, fields=contact_custom, by=by)
    of = deals.pipeline(store, row["pipeline"])
    for item in missing.items:
        if form.get(TICK + item):
            playbook.tick(store, deals.get(store, row["id"]), of, item, by)


def missing_json(missing: Missing) -> dict[str, list[str]]:
    """`{"fields": […], "items": […]}`: what a refused move lacks, for the board's script
    and programs."""
    return {"fields": list(missing.fields), "items": list(missing.items)}


def prompt(visit: Visit) -> Response:
    """`GET /deals/N/move?to=STAGE`: the form asking for what the move lacks."""
    store = visit.store
    row = deals.get(store, visit.request.path_params["deal"])
    of = deals.pipeline(store, row["pipeline"])
    target = deals.stage(of, visit.request.query_params.get("to", ""))
    return page(visit, row, target, missing_now(store, row, target))


def page(
    visit: Visit, row: sqlite3.Row, target: Stage, missing: Missing, status: int = 200,
    kept: dict[str, Any] | None = None, message: str | None = None,
) -> Response:  # fmt: skip
    """The prompt's page: the refusal's phrase (`message`, else what `missing` says), the
    fields and items asked for (`kept`: the values a refused post had filled, shown again)."""
    store = visit.store
    record = deals.object_of(store, row)
    if message is None and missing:
        refusal = playbook.RequirementsMissing(record, row["id"], missing)
        message = say(refusal.phrase, visit.gettext)
    of = deals.pipeline(store, row["pipeline"])
    fields = [asked(store, record, name, visit.gettext) for name in missing.fields]
    if row["contact_id"] is None:  # a contact's field cannot be set here: say so, no input
        fields = [replace(field, kind=NO_CONTACT) if field.name.startswith("contact.") else field
                  for field in fields]  # fmt: skip
    return visit.page(
        "prompt.html", status, deal=shown_record(store, row), target=target, nav="board",
        message=sentence(message or ""), pipeline=of, asked=fields, kind=record,
        no_contact=any(field.kind == NO_CONTACT for field in fields),
        items=list(missing.items), leaving=missing.leaving, kept=kept or {},
        reason_needed=target.outcome == "lost" and of.require_lost_reason,
        next=local_path(visit.request.query_params.get("next") or visit.form.get("next")) or "",
    )  # fmt: skip


def shown_record(store: Store, row: sqlite3.Row) -> dict:
    """The record as its pages show it (deals.public, with its contact): a ticket's subject
    is its title."""
    data = deals.public(deals.with_contact(store, row), store)
    data.setdefault("title", data.get("subject"))
    return data


def sentence(text: str) -> str:
    """A phrase shown alone, as an alert: its first letter capitalised (`L’affaire n° 3 …`)."""
    return text[:1].upper() + text[1:]


def asked(store: Store, record: str, name: str, gettext) -> Asked:
    """The input for a required field: a select of the team for an owner, of the options
    for a choice; a date, a number, an email, else text."""
    project = store.project
    of_contact = name.startswith("contact.")
    bare = name.removeprefix("contact.")
    custom = (project.contact_fields if of_contact else project.fields_of(record)).get(bare)
    label = _label(bare, custom, gettext)
    if of_contact:
        label = f"{label} ({gettext(HEADINGS['contact'])})"
    if bare == "owner":
        team = tuple((member.id, member.name) for member in project.team.values())
        return Asked(name, label, "select", team)
    if bare == "priority" and not of_contact:
        words = tuple((priority, gettext(PRIORITY_WORDS[priority])) for priority in PRIORITIES)
        return Asked(name, label, "select", words)
    if bare == "expected_close" and not of_contact:
        return Asked(name, label, "date")
    if custom is not None and custom.type == "choice":
        return Asked(name, label, "select", tuple((option, option) for option in custom.options))
    if custom is not None:
        return Asked(name, label, INPUT_TYPES.get(custom.type, "text"))
    return Asked(name, label, "email" if bare == "email" else "text")


def _label(name: str, custom: FieldDef | None, gettext) -> str:
    if custom is not None:
        return custom.label or name
    return gettext(FIELDS[name]) if name in FIELDS else name
