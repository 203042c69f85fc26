"""send_email and notify: render the template and queue the message in the outbox."""

from __future__ import annotations

from datetime import timedelta

from salesflow.config import actions as a
from salesflow.durations import parse_duration
from salesflow.engine.outcome import Act, Outcome, StepFailed
from salesflow.engine.windows import next_opening
from salesflow.errors import UserError
from salesflow.mail import compose
from salesflow.phrases import phrase, reason_of
from salesflow.values import EMAIL, parse_datetime


def _render(act: Act, name: str, context: dict):
    template = act.store.project.templates.get(name)
    if template is None:
        raise StepFailed(phrase("no_template", name=name))
    try:
        return compose.render(act.renderer.env, template, context)
    except Exception as error:
        raise StepFailed(phrase("template_failed", name=name, error=str(error))) from None


def _queue(act: Act, to, subject, text, html, **extra) -> int:
    try:
        item, _ = compose.queue(act.store, act.run.id, act.step.id, to, subject, text, html,
                                **extra)  # fmt: skip
        return item
    except UserError as error:
        raise StepFailed(str(error)) from None


def send_email(act: Act, config: a.SendEmail) -> Outcome:
    window = act.workflow.send_window
    if window:
        opening = next_opening(window, act.store.now)
        if opening is not None:
            until = f"{opening:%Y-%m-%d %H:%M}"
            return Outcome(phrase("outside_send_window", until=until), "wait", opening, again=True)
    context = act.context()
    contact = context["contact"]
    if config.to == "contact":
        if contact is None:
            raise StepFailed(phrase("send_email_no_contact"))
        if contact["unsubscribed_at"]:
            return Outcome(phrase("not_sent_unsubscribed", email=contact["email"]), "skipped")
        if contact.get("email_status") == "undeliverable":
            return Outcome(phrase("not_sent_undeliverable", email=contact["email"]), "skipped")
        to = (contact.get("full_name") or None, contact["email"])
    else:
        address = act.render(config.to, context)
        if not address or not EMAIL.match(address.strip()):
            raise StepFailed(phrase("send_email_bad_address", address=repr(address)))
        to = (None, address.strip())
    subject, text, html = _render(act, config.template, context)
    attachments = [_invite(act, config.calendar, context, to[1])] if config.calendar else []
    reply_to = act.render(config.reply_to, context)
    message = _queue(act, to, subject, text, html, reply_to=reply_to, attachments=attachments,
                     prospect=contact["id"] if config.to == "contact" else None)  # fmt: skip
    queued = "email_queued_invitation" if attachments else "email_queued"
    return Outcome(phrase(queued, id=message, to=to[1], subject=subject))


def _invite(act: Act, spec: dict, context: dict, attendee: str) -> dict:
    project = act.store.project
    start_text = act.render(spec["start"], context)
    try:
        start = parse_datetime(str(start_text or ""), project.locale, project.timezone)
    except ValueError as error:
        raise StepFailed(phrase("calendar_start_unreadable", error=reason_of(error))) from None
    duration = parse_duration(spec["duration"]) if spec.get("duration") else timedelta(hours=1)
    return compose.calendar_invite(
        act.store, act.render(spec.get("summary"), context) or project.name, start, duration,
        act.render(spec.get("location"), context), act.render(spec.get("description"), context),
        attendee,
    )  # fmt: skip


def notify(act: Act, config: a.Notify) -> Outcome:
    context = act.context()
    team = act.store.project.team
    if config.to == "team":
        members = list(team.values())
    elif config.to == "owner":
        owner = context["owner"]
        if owner is None:
            raise StepFailed(phrase("notify_no_owner"))
        members = [team[owner["id"]]]
    else:
        members = [team[config.to]]
    sent = []
    for member in members:
        subject, text, html = _render(act, config.template, {**context, "member": member})
        sent.append(_queue(act, (member.name, member.email), subject, text, html))
    who = ", ".join(member.id for member in members)
    ids = ", #".join(map(str, sent))
    return Outcome(phrase("notified", who=who, ids=ids, subject=subject))
