"""Stalled deals: open deals with nothing planned, `rot_after` past since their stage change
or their last completed task (the later), most overdue first."""

from __future__ import annotations

from json.encoder import encode_basestring as _text  # a text as JSON, in C

from salesflow.reports import Column, Report
from salesflow.reports.as_json import Encoded
from salesflow.store.reports import overdue_deals, overdue_listed, overdue_total, rot_limits
from salesflow.store.session import Store
from salesflow.values import currency_digits, from_minor
from salesflow.wording import counted

COLUMNS = [
    Column("id", "#", "int"),
    Column("title", "deal"),
    Column("contact", "contact"),
    Column("stage_name", "stage"),
    Column("days_in_stage", "days", "int"),
    Column("days_overdue", "overdue", "int"),
    Column("owner", "owner"),
    Column("next_step", "next step"),
    Column("amount", "amount", "money"),
]
TICKET_SUBJECT = Column("subject", "ticket")


def stalled_rows(store: Store, pipeline_id: str | None = None, kind: str | None = None):
    """The stalled deals (or tickets: `kind`) as rows (store/reports.py says what stalled
    means), most overdue first."""
    return overdue_deals(store, rot_limits(store, pipeline_id, kind))


def _row(values: tuple, limits: list[tuple], currency: str, subject: bool) -> dict:
    """A stalled deal as the report lists it, from overdue_listed's LISTED values (a ticket
    with its `subject` too, last: its title)."""
    id_, title, contact, limit, days, overdue_days, owner, next_step, amount = values
    pipeline, stage, stage_name = limits[limit][:3]
    row = {
        "id": id_,
        "title": title,
        "contact": contact,
        "pipeline": pipeline,
        "stage": stage,
        "stage_name": stage_name,
        "days_in_stage": int(days),
        "days_overdue": int(overdue_days),
        "owner": owner,
        "next_step": next_step,
        "amount": from_minor(amount, currency),
    }
    return {**row, "subject": title} if subject else row


def _written(listed: list[tuple], limits: list[tuple], currency: str, subject: bool) -> Encoded:
    """The rows `_row` makes, written as JSON straight from overdue_listed's values as
    to_json writes those rows: 10,000 stalled deals in a third of the time their dicts and
    the encoder took. Every text is a column of text (SQLite stores no number there), every
    number an int."""
    rows, digits = Encoded(), currency_digits(currency)
    stages = [f'"pipeline": {_text(pipeline)}, "stage": {_text(stage)}, "stage_name": '
              f"{_text(name)}" for pipeline, stage, name, *_ in limits]  # fmt: skip
    for id_, title, contact, limit, days, overdue_days, owner, next_step, amount in listed:
        text = (
            f'{{"id": {id_}, "title": {_text(title)}, "contact": '
            f"{'null' if contact is None else _text(contact)}, {stages[limit]}, "
            f'"days_in_stage": {int(days)}, "days_overdue": {int(overdue_days)}, '
            f'"owner": {"null" if owner is None else _text(owner)}, '
            f'"next_step": {"null" if next_step is None else _text(next_step)}, '
            f'"amount": {"null" if amount is None else _decimal_text(amount, digits)}'
        )  # fmt: skip
        rows.append(f'{text}, "subject": {_text(title)}}}' if subject else text + "}")
    return rows


def _decimal_text(minor: int, digits: int) -> str:
    """`str(from_minor(minor, …))` as JSON (a text: digits, a point, a sign, nothing to
    escape) for a currency of `digits`, worked out from the integer: the Decimal took twice
    as long."""
    if not digits:
        return f'"{minor}"'
    whole, part = divmod(abs(minor), 10**digits)
    return f'"{"-" if minor < 0 else ""}{whole}.{str(part).zfill(digits)}"'


def stalled(
    store: Store, pipeline_id: str | None = None, kind: str | None = None,
    listed: int | None = None, written: bool = False,
) -> Report:  # fmt: skip
    """The stalled deals, or tickets: those of `pipeline_id`'s kind, else of `kind` (deals by
    default): one report never mixes the two. With `listed`, the most overdue `listed` only
    (a page's list), the totals still of them all and the others counted (`more`).
    `written`: its rows already written as JSON (`--json`: see _written)."""
    if pipeline_id:
        kind = store.project.pipelines[pipeline_id].object if (
            pipeline_id in store.project.pipelines) else kind  # fmt: skip
    kind = kind or "deal"
    currency = store.project.currency
    limits = rot_limits(store, pipeline_id, kind)
    listed_rows = overdue_listed(store, limits, first=listed)
    subject = kind != "deal"  # a ticket's title is its subject
    rows = (_written(listed_rows, limits, currency, subject) if written
            else [_row(values, limits, currency, subject) for values in listed_rows])  # fmt: skip
    if listed is None:  # every one listed: counted and summed here
        count = len(rows)
        amount = from_minor(sum(values[-1] or 0 for values in listed_rows), currency)
    else:  # even when fewer came: one of the first found may have left its stage meanwhile
        count, minor = overdue_total(store, limits)
        amount = from_minor(minor, currency)
    totals = {"title": f"total: {counted(count, kind)}", "amount": amount}
    more = max(0, count - len(rows))  # the total is read apart: a deal closed meanwhile
    if kind == "deal":
        return Report("Stalled deals", COLUMNS, rows, totals, more=more,
                      listed_by="salesflow pipeline stalled")  # fmt: skip
    # a ticket has no amount
    columns = [TICKET_SUBJECT if c.key == "title" else c for c in COLUMNS if c.key != "amount"]
    return Report("Stalled tickets", columns, rows, {"subject": totals["title"]}, more=more,
                  listed_by="salesflow pipeline stalled --kind ticket")  # fmt: skip
