"""The sentences salesflow stores — run traces, run and reject reasons — and the errors it
shows a web form's visitor, kept as data: a message id and its values, as JSON text
(`{"msg": "email_queued", "id": 1, "to": "julie@example.org", "subject": "Bienvenue"}`).
Each reader renders them in its own language: the CLI in English, the pages through the
project's catalog. Text that is not such a phrase (rows written before phrases, by an older
salesflow, or a person's own words) is shown as stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from salesflow.translations import N_

MESSAGES = {
    # traces of the steps
    "waiting_for": N_("waiting {duration}, until {until}"),
    "waiting_until": N_("waiting until {until}"),
    "wait_passed_go_on": N_("{when} has passed: going on now"),
    "wait_passed_skip": N_("{when} has passed: skipping the next step"),
    "condition_then": N_("{condition} is true: then"),
    "condition_else": N_("{condition} is false: else"),
    "condition_false": N_("{condition} is false"),
    "stopped": N_("stopped"),
    "outside_send_window": N_("outside the send window: waiting until {until}"),
    "not_sent_unsubscribed": N_("not sent: {email} unsubscribed"),
    "not_sent_undeliverable": N_("not sent: {email} is undeliverable (it bounced)"),
    "email_queued": N_("email #{id} to {to}: “{subject}”"),
    "email_queued_invitation": N_("email #{id} to {to}: “{subject}” with an invitation"),
    "notified": N_("notified {who} (email #{ids}): “{subject}”"),
    "contact_created": N_("created contact {email}"),
    "contact_updated": N_("updated contact {email}: {changed}"),
    "no_change": N_("no change"),
    "deal_created": N_("created deal #{id} {title} in {stage}"),
    "deal_kept": N_("kept open deal #{id} {title} (in {stage})"),
    "deal_kept_moved_on": N_("kept open deal #{id} {title}, moved on to {stage}"),
    "deal_already_in": N_("deal #{id} already in {stage}"),
    "ticket_already_in": N_("ticket #{id} already in {stage}"),
    "deal_moved": N_("moved deal #{id} from {from_stage} to {to_stage}"),
    "ticket_moved": N_("moved ticket #{id} from {from_stage} to {to_stage}"),
    "deal_updated": N_("updated deal #{id}: {changed}"),
    "ticket_updated": N_("updated ticket #{id}: {changed}"),
    "ticket_created": N_("created ticket #{id} {title} in {stage} ({priority})"),
    "owner_least_loaded": N_("owner {owner} (least loaded among {among})"),
    "owner_in_turn": N_("owner {owner} (in turn among {among})"),
    "task_created": N_("task #{id} “{title}” for {assignee}"),
    "task_created_due": N_("task #{id} “{title}” for {assignee}, due {due}"),
    "nobody": N_("nobody"),
    "request_queued": N_("request #{id} queued: {method} {url}"),
    "slot_fired": N_("slot {when}"),
    "slot_fired_missed": N_("slot {when}; {missed} earlier slot(s) missed, fired once"),
    "slot_missed": N_("slot {when} missed while salesflow was not running (catch_up: none)"),
    "wait_moved": N_("{field} changed: now waiting until {until}"),
    "wait_redefined": N_("the workflow changed: now waiting until {until}"),
    # what the other end answered an email or a request (the answer is its own words)
    "message_number": N_("message #{id}"),
    "request_number": N_("request #{id}"),
    "delivered": N_("{item}: {answer}"),
    "delivery_retrying": N_("{item}: {failure}; next try in {wait}"),
    "delivery_failed": N_("{item}: {failure}"),
    "delivery_failed_after": N_("{item}: {failure} (after {attempts} attempts)"),
    # a report's warning: deals in a stage or a pipeline the YAML no longer has
    "warning": N_("warning: {text}"),
    "stray_pipeline_one": N_(
        "1 deal is in pipeline '{pipeline}', which no longer exists: put its file back in"
        " pipelines/, or move it (`salesflow deals move ID STAGE`)"
    ),
    "stray_pipeline": N_(
        "{count} deals are in pipeline '{pipeline}', which no longer exists: put its file back"
        " in pipelines/, or move them (`salesflow deals move ID STAGE`)"
    ),
    "stray_stage_one": N_(
        "1 deal is in stage '{stage}', which pipeline '{pipeline}' no longer has: move it"
        " (`salesflow deals move ID STAGE`), or put the stage back"
    ),
    "stray_stage": N_(
        "{count} deals are in stage '{stage}', which pipeline '{pipeline}' no longer has: move"
        " them (`salesflow deals move ID STAGE`), or put the stage back"
    ),
    # a stage change refused: what the record lacks (store/playbook.py)
    "cannot_enter": N_("{record} cannot enter “{stage}”: {missing}"),
    "deal_number": N_("deal #{id}"),
    "ticket_number": N_("ticket #{id}"),
    "a_new_deal": N_("a new deal"),
    "a_new_ticket": N_("a new ticket"),
    "field_not_set": N_("{fields} is not set"),
    "fields_not_set": N_("{fields} are not set"),
    "item_not_ticked": N_("{items} is not ticked in “{stage}”"),
    "items_not_ticked": N_("{items} are not ticked in “{stage}”"),
    "missing_both": N_("{fields}; {items}"),
    "quoted": N_("“{text}”"),  # a checklist item named in a refusal, quoted as each language does
    # why a run ended, failed or changed
    "workflow_gone": N_("workflow '{workflow}' no longer exists"),
    "step_gone": N_("workflow edited: its step '{step}' no longer exists"),
    "contact_already_in": N_("contact already in this workflow (run #{run})"),
    "run_stopped": N_("stopped: {reason}"),
    "step_failed": N_("step {step}: {reason}"),
    "cancelled_by": N_("cancelled by {event}"),
    "cancelled_by_move": N_("cancelled by {event}: {from_stage} → {to_stage} ({pipeline})"),
    "cancelled_by_form": N_("cancelled by {event} of the form {form}"),
    "cancelled_by_hand": N_("cancelled by hand"),
    # what `salesflow plan` foresees besides the steps' own lines
    "plan_queued_email": N_("email to {to}: “{subject}” (already in the outbox)"),
    "plan_queued_request": N_("request {method} {url} (already in the outbox)"),
    "plan_run_started": N_("run #{id} of {workflow} starts"),
    "plan_run_done": N_("run #{id} of {workflow} ends, done"),
    "plan_run_cancelled": N_("run #{id} of {workflow} ends, cancelled"),
    "plan_run_failed": N_("run #{id} of {workflow} ends, failed"),
    "plan_stalled": N_("{record} goes stale: {days} days in {stage}"),
    "stopped_on_reply": N_("stopped: {email} replied to “{subject}”"),
    "retried_by_hand": N_("retried by hand"),
    "missed_slot": N_("missed slot"),
    # why a step failed
    "template_error": N_("template error: {error}"),
    "no_template": N_("no template '{name}' in workflows/templates/"),
    "template_failed": N_("template {name}: {error}"),
    "no_contact_yet": N_("this run has no contact yet (put upsert_contact before this step)"),
    "no_deal_yet": N_("this run has no deal (put create_deal before this step)"),
    "no_ticket_yet": N_("this run has no ticket (put create_ticket before this step)"),
    "deal_in_pipeline": N_("deal #{id} is in pipeline '{pipeline}'"),
    "ticket_in_pipeline": N_("ticket #{id} is in pipeline '{pipeline}'"),
    "condition_failed": N_("condition {condition}: {error}"),
    "wait_until_empty": N_("wait_until: {at} is empty"),
    "wait_until_unreadable": N_("wait_until: {error}"),
    "wait_passed": N_("the time to wait for ({when}) has passed"),
    "send_email_no_contact": N_("send_email to contact, but this run has no contact yet"),
    "send_email_bad_address": N_("send_email to {address}: not an email address"),
    "calendar_start_unreadable": N_("calendar start: {error}"),
    "notify_no_owner": N_("notify owner: the run's contact and deal have no owner"),
    "url_refused": N_("'{url}': {problem}"),
    "header_line_break": N_("header {name}: its value has a line break"),
    "nothing_to_assign": N_("nothing to assign: this run has no contact or deal yet"),
    "due_at_unreadable": N_("due_at: {error}"),
    # values refused (a visitor's form, an import, a step)
    "not_an_email": N_("'{value}' is not an email address"),
    "not_an_email_domain": N_("'{value}' is not an email address (its domain)"),
    "email_too_long": N_(
        "'{value}…' is too long for an email address ({length} characters; at most {local}"
        " before the @ and {total} in all)"
    ),
    "year_out_of_range": N_("'{value}' is out of range (years {first} to {last})"),
    "number_too_many_digits": N_("a whole number of more than {digits} digits is too long"),
    "number_too_long": N_(
        "{start}… ({length} characters) is too long for a number (at most {most})"
    ),
    "not_an_amount_example": N_("'{value}' is not an amount (e.g. 1200.50 or {example})"),
    "not_an_amount": N_("'{value}' is not an amount"),
    "number_out_of_range": N_("'{value}' is out of range for a number (beyond ±1.8e308)"),
    "amount_negative": N_("'{value}': an amount cannot be negative"),
    "amount_too_large": N_("'{value}' is too large for an amount (at most {most})"),
    "amount_too_precise_comma": N_(
        "'{value}' has more decimals than {currency} has ({digits}); here the comma is the"
        " decimal mark: write 12345 or 12 345 for thousands"
    ),
    "amount_too_precise_round": N_(
        "'{value}' has more decimals than {currency} has ({digits}); round it yourself"
    ),
    "other_currency": N_(
        "'{value}' is not in {currency}, the project's currency: write the amount in"
        " {currency} (amounts are never converted)"
    ),
    "not_a_date": N_("'{value}' is not a date (e.g. 2026-12-05 or {example})"),
    "not_a_datetime": N_("'{value}' is not a date-time (e.g. 2026-12-05T18:30)"),
    "not_yes_or_no": N_("'{value}' is not yes or no"),
    "not_an_option": N_("'{value}' is not one of: {options}"),
    # a submission refused (`{pointer}: {reason}`), and what a form's visitor is told
    "refused_at": N_("{pointer}: {reason}"),
    "required": N_("required"),
    "not_a_single_value": N_("expected a single value, got {kind}"),
    "not_an_object": N_("a submission is a JSON object"),
    "which_form": N_('which form? pass --form NAME, or put "form" in the payload'),
    "no_form_named": N_("no form '{form}' in salesflow.yaml{hint}"),
    "map_failed": N_("the form's map failed: {error}"),
    "not_utf8": N_("the body is not UTF-8 (byte {byte})"),
    "one_submission": N_("one submission per request, not {count}"),
    "form_data_unreadable": N_("the form data cannot be read ({why})"),
    "too_many_fields": N_("the form data cannot be read: too many fields (at most {most})"),
    "multipart_without_boundary": N_(
        "the form data cannot be read: a multipart body without its boundary"
    ),
    "no_form_here": N_("no form '{form}'; the forms here: {forms}"),
    "no_form_close": N_("no form '{form}' (did you mean '{close}'?); the forms here: {forms}"),
    "no_form_in_project": N_("no form '{form}'; this project has no form"),
    "body_too_large": N_("the body is over {kib} KiB"),
    "unsupported_type": N_("send application/json, or an HTML form's fields"),
    "signature_wrong": N_("the signature or token is missing or wrong"),
    "origin_refused": N_("this form cannot be posted from that site"),
    "too_many_posts": N_("too many posts; try again later"),
    "database_busy": N_("the database is busy; try again shortly"),
    "not_accepted": N_("this value is not accepted"),
}

NESTING = 8  # phrases inside phrases, at most: a stored row deeper than that is shown as is


class Phrase(str):
    """A phrase's stored JSON text; as a value of another phrase it nests as an object."""


def phrase(msg: str, **values: Any) -> Phrase:
    """The JSON text stored for message `msg` with its values (a Phrase among them nests)."""
    nested = {name: _nested(value) for name, value in values.items()}
    return Phrase(_as_json({"msg": msg, **nested}))


# json.dumps(…, ensure_ascii=False) without a new encoder per call (a run writes a phrase a step)
_as_json = json.JSONEncoder(ensure_ascii=False).encode


def _nested(value: Any) -> Any:
    if isinstance(value, list):
        return [_nested(each) for each in value]
    return json.loads(value) if isinstance(value, Phrase) else value


def say(stored: str | None, gettext: Callable[[str], str] | None = None) -> str | None:
    """A stored phrase in English, or through `gettext` (a page's language); anything that is
    not a phrase of ours, as stored. Never raises: it renders whatever a database holds."""
    if stored is None:
        return None
    try:
        data = json.loads(stored) if stored.startswith("{") else None
        return _rendered(data, gettext or _english, NESTING) if data is not None else stored
    except (ValueError, RecursionError, KeyError, IndexError, TypeError, AttributeError):
        return stored


def _english(text: str) -> str:
    return text


def _rendered(data: Any, gettext: Callable[[str], str], depth: int) -> str:
    """A decoded phrase's text; KeyError (or the like) when `data` is not one of ours."""
    template = MESSAGES[data["msg"]]
    values = {name: _value(value, gettext, depth) for name, value in data.items() if name != "msg"}
    try:
        return gettext(template).format(**values)
    except (KeyError, IndexError, ValueError):  # a translation naming a wrong value
        return template.format(**values)


def _value(value: Any, gettext: Callable[[str], str], depth: int) -> Any:
    """A phrase's value as its text shows it: a nested phrase said too; other JSON (a list,
    an object not ours, or nested past NESTING) as JSON, not Python's repr; null as nothing."""
    if _is_phrase(value) and depth:
        return _rendered(value, gettext, depth - 1)
    if isinstance(value, list) and value and all(map(_is_phrase, value)) and depth:
        return ", ".join(_rendered(each, gettext, depth - 1) for each in value)  # quoted items
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


def _is_phrase(value: Any) -> bool:
    return isinstance(value, dict) and value.get("msg") in MESSAGES


class Refused(ValueError):
    """A value, or a submission, that cannot be taken, with its phrase: str() gives the English
    (the CLI's one line), `phrase` the message a page shows in its reader's language."""

    def __init__(self, msg: str, **values: Any):
        self.phrase = phrase(msg, **values)
        super().__init__(say(self.phrase))


def reason_of(error: BaseException) -> str:
    """An error as a phrase's value: its phrase when it carries one, else its English text."""
    return getattr(error, "phrase", None) or str(error)
