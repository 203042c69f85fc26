"""The words the pages look up by a value they show — a status, a priority, a report
column — marked here for the catalogs (the value itself is data, and English to the CLI);
the pages translate them with `gettext` in the project's language."""

from __future__ import annotations

from salesflow.reports import Column
from salesflow.translations import N_

# Runs, messages (emails and webhook requests) and trace lines, by their stored status.
STATUSES = {
    "open": N_("open"),
    "running": N_("running"),
    "waiting": N_("waiting"),
    "done": N_("done"),
    "failed": N_("failed"),
    "cancelled": N_("cancelled"),
    "stopped": N_("stopped"),
    "skipped": N_("skipped"),
    "retried": N_("retried"),
    "fired": N_("fired"),
    "rescheduled": N_("rescheduled"),
    "queued": N_("queued"),
    "sending": N_("sending"),
    "retrying": N_("retrying"),
    "sent": N_("sent"),
}

# What a received message is (store/inbound.py's kinds), as a conversation names it; a bounce
# by its severity (a report that gave none: a bounce).
RECEIVED = {
    "reply": N_("reply"),
    "auto_reply": N_("automatic reply"),
    "bounce": N_("bounce"),
    "bounce_permanent": N_("permanent bounce"),
    "bounce_transient": N_("temporary bounce"),
    "complaint": N_("complaint (spam)"),
    "unmatched": N_("message matched to no email sent"),
    "unreadable": N_("unreadable message"),
    "failed": N_("message not recorded (an error)"),
}

# A closed deal's status, and a closed ticket's (a ticket is resolved, not won).
OUTCOMES = {
    ("deal", "won"): N_("Won"),
    ("deal", "lost"): N_("Lost"),
    ("ticket", "won"): N_("Resolved"),
    ("ticket", "lost"): N_("Abandoned"),
}

PRIORITIES = {
    "low": N_("low"),
    "normal": N_("normal"),
    "high": N_("high"),
    "urgent": N_("urgent"),
}

# A report column's heading on the pages, by its key (a `name` column by its label: what it
# names). Keyed rather than by the CLI's label: the CLI's terse lower-case labels stay as
# they are, and one English label may need two French words ("overdue").
HEADINGS = {
    "title": N_("Deal"),
    "subject": N_("Subject"),
    "contact": N_("Contact"),
    "owner": N_("Owner"),
    "name": N_("Name"),
    "stage": N_("Stage"),
    "stage_name": N_("Stage"),
    "amount": N_("Amount"),
    "weighted": N_("weighted"),
    "count": N_("deals"),
    "deals": N_("deals"),
    "open_deals": N_("deals"),
    "won": N_("won"),
    "month": N_("Month"),
    "days_in_stage": N_("days"),
    "days_overdue": N_("days overdue"),
    "stalled": N_("stalled"),
    "next_step": N_("Next step"),
    "reached": N_("reached"),
    "to_next": N_("→ next"),
    "drop_off": N_("drop-off"),
    "from_first": N_("from first"),
    "median_days": N_("median days"),
    "items_median_hours": N_("required items, median hours"),
    "items_measured": N_("measured, waiting included"),
    "items_waiting": N_("still waiting"),
    "lost_from": N_("lost from"),
    "reason": N_("Reason"),
    "open_tasks": N_("tasks"),
    "overdue_tasks": N_("overdue"),
    "priority": N_("Priority"),
}

# The built-in fields a stage's `requires` may name (the record's, its contact's), as the
# move prompt asks for them.
FIELDS = {
    "title": N_("Title"),
    "subject": N_("Subject"),
    "amount": N_("Amount"),
    "expected_close": N_("Expected close"),
    "next_step": N_("Next step"),
    "owner": N_("Owner"),
    "probability": N_("Probability"),
    "priority": N_("Priority"),
    "email": N_("Email"),
    "first_name": N_("First name"),
    "last_name": N_("Last name"),
    "phone": N_("Phone"),
    "company": N_("Company"),
    "source": N_("Source"),
}

# The words the reports write into their rows, in English for the CLI (its JSON keeps
# them): the pages show them in their language.
ROW_WORDS = {"(nobody)": N_("(nobody)")}

# What a report's empty cell means, by its column's key.
BLANKS = {"month": N_("No expected close")}


def received(message: dict) -> str:
    """The (untranslated) name of what a received message is: its kind, a bounce's with its
    severity."""
    kind = message["kind"]
    with_severity = f"{kind}_{message.get('severity')}"
    return RECEIVED.get(with_severity) or RECEIVED.get(kind, kind)


def heading(column: Column) -> str:
    """The (untranslated) heading of a report column on the pages."""
    key = column.label if column.key == "name" else column.key
    return HEADINGS.get(key, column.label)
