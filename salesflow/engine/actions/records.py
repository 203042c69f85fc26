"""Actions on contacts, deals and tickets: the same changes (and events) as the CLI makes by
hand."""

from __future__ import annotations

from salesflow.config import actions as a
from salesflow.engine.outcome import Act, Outcome, StepFailed
from salesflow.errors import UserError
from salesflow.phrases import phrase, reason_of
from salesflow.store import contacts, deals
from salesflow.store.db import row_dict
from salesflow.values import normalise_email

_CONTACT_TEXT = ("first_name", "last_name", "phone", "company", "source", "owner")


def _contact_values(act: Act, config, context: dict) -> tuple[dict, list, dict]:
    values = {name: act.render(getattr(config, name), context) for name in _CONTACT_TEXT}
    tags = [act.render(tag, context) for tag in config.tags]
    fields = act.render(config.fields, context) or {}
    return values, [t for t in tags if t], fields


def upsert_contact(act: Act, config: a.UpsertContact) -> Outcome:
    context = act.context()
    email = act.render(config.email, context)
    values, tags, fields = _contact_values(act, config, context)
    try:
        contact, created, changed = contacts.upsert(
            act.store, normalise_email(email or ""), values, tags, fields, act.by
        )
    except (UserError, ValueError) as error:
        raise StepFailed(reason_of(error)) from None
    act.run.bind_contact(contact["id"])
    act.run.contact_row = row_dict(contact)
    if created:
        return Outcome(phrase("contact_created", email=contact["email"]))
    return Outcome(phrase("contact_updated", email=contact["email"], changed=_changes(changed)))


def update_contact(act: Act, config: a.UpdateContact) -> Outcome:
    context = act.context()
    values, tags, fields = _contact_values(act, config, context)
    contact = act.contact_row()
    try:
        changed, act.run.contact_row = contacts.updated(
            act.store, contact, values, tags, fields, act.by
        )
    except UserError as error:
        raise StepFailed(str(error)) from None
    return Outcome(phrase("contact_updated", email=contact["email"], changed=_changes(changed)))


def _changes(changed: list[str]) -> str:
    """The fields a step changed, or a phrase saying it changed none."""
    return ", ".join(changed) or phrase("no_change")


def create_deal(act: Act, config: a.CreateDeal) -> Outcome:
    context = act.context()
    contact_id = act.need_contact()
    if config.dedupe:
        existing = deals.open_deal(act.store, contact_id, config.pipeline)
        if existing is not None:
            act.run.bind_deal(existing["id"])
            return _bring_forward(act, existing, config.stage, config.force)
    values = {
        name: act.render(getattr(config, name), context)
        for name in ("amount", "owner", "expected_close", "next_step")
    }
    values["fields"] = act.render(config.fields, context) or {}
    contact = context["contact"]
    title = act.render(config.title, context) or contact.get("full_name") or contact["email"]
    try:
        deal = deals.add(act.store, title, contact_id, config.pipeline, config.stage, values,
                         act.by, force=config.force, contact_row=act.contact_row())  # fmt: skip
    except UserError as error:
        raise StepFailed(reason_of(error)) from None
    act.run.bind_deal(deal["id"])
    return Outcome(phrase("deal_created", id=deal["id"], title=deal["title"], stage=deal["stage"]))


def _bring_forward(act: Act, deal, stage_id: str, force: bool) -> Outcome:
    """The contact's open deal stands for the new one; one at an earlier stage moves on (by
    the stage's rule, as any move)."""
    pipeline = deals.pipeline(act.store, deal["pipeline"])
    owner = contacts.get(act.store, deal["contact_id"])["owner"] if deal["contact_id"] else None
    if owner and not deal["owner"]:
        deals.update(act.store, deal, {"owner": owner})
        deal = deals.get(act.store, deal["id"])  # the move reads its owner (a stage may require it)
    order = [stage.id for stage in pipeline.stages]
    if stage_id in order and order.index(deal["stage"]) < order.index(stage_id):
        try:
            deals.move(act.store, deal, stage_id, by=act.by, force=force)
        except UserError as error:
            raise StepFailed(reason_of(error)) from None
        return Outcome(
            phrase("deal_kept_moved_on", id=deal["id"], title=deal["title"], stage=stage_id)
        )
    return Outcome(phrase("deal_kept", id=deal["id"], title=deal["title"], stage=deal["stage"]))


def move_deal(act: Act, config: a.MoveDeal) -> Outcome:
    return _move(act, config, "deal")


def move_ticket(act: Act, config: a.MoveTicket) -> Outcome:
    return _move(act, config, "ticket")


def _move(act: Act, config: a.MoveDeal, record: str) -> Outcome:
    try:
        deal = deals.get(act.store, act.need_deal(record), record)
        if config.pipeline and deal["pipeline"] != config.pipeline:
            raise StepFailed(
                phrase(f"{record}_in_pipeline", id=deal["id"], pipeline=deal["pipeline"])
            )
        moved = deals.move(act.store, deal, config.stage, act.render(config.reason), by=act.by,
                           force=config.force)  # fmt: skip
    except UserError as error:
        raise StepFailed(reason_of(error)) from None
    if moved["stage"] == deal["stage"]:
        return Outcome(phrase(f"{record}_already_in", id=deal["id"], stage=deal["stage"]),
                       "skipped")  # fmt: skip
    return Outcome(phrase(f"{record}_moved", id=deal["id"], from_stage=deal["stage"],
                          to_stage=moved["stage"]))  # fmt: skip


def update_deal(act: Act, config: a.UpdateDeal) -> Outcome:
    names = ("title", "amount", "owner", "expected_close", "next_step", "probability")
    return _update(act, config, "deal", {name: name for name in names})


def update_ticket(act: Act, config: a.UpdateTicket) -> Outcome:
    return _update(act, config, "ticket", {"title": "subject", "priority": "priority",
                                           "owner": "owner"})  # fmt: skip


def _update(act: Act, config, record: str, columns: dict[str, str]) -> Outcome:
    """`columns`: the record's column ← the action's option that sets it."""
    context = act.context()
    values = {column: act.render(getattr(config, name), context)
              for column, name in columns.items()}  # fmt: skip
    values["fields"] = act.render(config.fields, context) or {}
    try:
        deal = deals.get(act.store, act.need_deal(record), record)
        changed = deals.update(act.store, deal, values, act.by)
    except UserError as error:
        raise StepFailed(str(error)) from None
    return Outcome(phrase(f"{record}_updated", id=deal["id"], changed=_changes(changed)))


def create_ticket(act: Act, config: a.CreateTicket) -> Outcome:
    context = act.context()
    values = {name: act.render(getattr(config, name), context) for name in ("priority", "owner")}
    values["fields"] = act.render(config.fields, context) or {}
    subject = act.render(config.subject, context) or "(no subject)"
    try:
        ticket = deals.add(act.store, subject, act.run.contact_id, config.pipeline,
                           config.stage, values, act.by, record="ticket",
                           force=config.force)  # fmt: skip
    except UserError as error:
        raise StepFailed(reason_of(error)) from None
    act.run.bind_deal(ticket["id"])
    return Outcome(phrase("ticket_created", id=ticket["id"], title=ticket["title"],
                          stage=ticket["stage"], priority=ticket["priority"]))  # fmt: skip
