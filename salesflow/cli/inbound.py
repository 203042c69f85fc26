"""`salesflow inbound`: what came back to the replies mailbox (email.inbound) — replies,
automatic answers, bounces, complaints, and what matched nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from salesflow.cli.options import AsJson, Id, OutputFormat
from salesflow.cli.render import Format, chosen, emit_rows, to_json, when
from salesflow.phrases import say
from salesflow.reports import Column
from salesflow.store.db import LARGEST_ID
from salesflow.values import clean_line
from salesflow.wording import counted

if TYPE_CHECKING:
    from salesflow.config.model import Project
    from salesflow.mail.reprocess import Reprocessed

app = typer.Typer(
    no_args_is_help=True,
    help="The messages read from the replies mailbox: read it now, list, show, reprocess.",
)
COLUMNS = [
    Column("id", "#", "int"),
    Column("received_at", "received", "datetime"),
    Column("kind", "kind"),
    Column("sender", "from"),
    Column("subject", "subject"),
    Column("outbox_id", "answers email", "int"),
    Column("workflow", "workflow"),
    Column("contact", "contact"),
    Column("reason", "reason"),
]


@app.command()
def poll(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Read the replies mailbox now, whatever its poll interval.

    Exits 1 when the mailbox cannot be read. The events the new messages make (a reply, a
    bounce…) are handled by the next `salesflow run`.

    Example: salesflow inbound poll
    """
    from salesflow.mail.poll import poll as read_mailbox

    result = read_mailbox(ctx.obj.store())
    if as_json:
        typer.echo(to_json(result.as_json()))
    if result.error:
        typer.echo(f"error: {result.summary()}", err=True)
        raise typer.Exit(1)
    if not as_json:
        typer.echo(result.summary())


@app.command("list")
def list_(
    ctx: typer.Context,
    kind: Annotated[
        str | None,
        typer.Option(help="reply, auto_reply, bounce, complaint, unmatched, unreadable or failed."),
    ] = None,
    contact: Annotated[
        str | None,
        typer.Option(
            metavar="EMAIL", help="Only messages from or about this address (or contact id)."
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="At most this many.", min=1, max=LARGEST_ID)
    ] = None,
    output: OutputFormat = Format.table,
    as_json: AsJson = False,
) -> None:
    """List the messages read from the replies mailbox, newest first.

    Each with what it is, the email it answers and that email's workflow, the contact, and
    why it was not acted on.

    Example: salesflow inbound list --kind bounce
    """
    from salesflow.store.inbound import KINDS, listing

    if kind and kind not in KINDS:
        raise typer.BadParameter(f"'{kind}' is not one of {', '.join(KINDS)}")
    store = ctx.obj.store()
    rows = listing(store, kind, contact, limit)
    output = chosen(output, as_json)
    if output is not Format.json:  # JSON escapes them, and has severity and status apart
        rows = [{key: _printable(value) for key, value in _with_kind(row).items()}
                for row in rows]  # fmt: skip
    emit_rows(rows, COLUMNS, output, store.project, "Inbound messages")


def _with_kind(row: dict) -> dict:
    """A bounce's kind with its severity and status ("bounce (permanent 5.1.1)"), a
    complaint's with its type: what a person scanning the list needs."""
    detail = " ".join(filter(None, (row.get("severity"), row.get("status"),
                                    row.get("feedback_type"))))  # fmt: skip
    return {**row, "kind": f"{row['kind']} ({detail})"} if detail else row


def _printable(value: object) -> object:
    """A value of a message without the control characters it may carry (an escape
    sequence in a subject): a terminal would obey them."""
    return clean_line(value)[0] if isinstance(value, str) else value


@app.command()
def show(
    ctx: typer.Context,
    message: Id,
    raw: Annotated[
        bool, typer.Option("--raw", help="Print the message as it was read (its bytes).")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Show one message read from the replies mailbox, and what it did.

    What it is, the email it answers and where that email's run stands, its contact, the
    event it made and what it changed, then the reply's own words (quotes removed).

    Example: salesflow inbound show 3
    """
    from salesflow.store import inbound

    store = ctx.obj.store()
    if raw:
        row = inbound.get(store, message)
        kept = bytes(row["raw"] or b"")
        if len(kept) < row["size"]:
            typer.echo(f"only the header of message #{message} was kept: it is {row['size']}"
                       " bytes, over the size limit", err=True)  # fmt: skip
        typer.echo(kept, nl=False)
        return
    data = inbound.account(store, message)
    if as_json:
        typer.echo(to_json(data))
        return
    for line in _account_lines(data, store.project):
        typer.echo(_printable(line))
    if data["text"]:
        typer.echo("\n" + clean_line(data["text"].rstrip(), multiline=True)[0])


def _account_lines(data: dict, project: Project) -> list[str]:
    """A message's account as `label: value` lines, the empty ones left out."""
    received = f", received {when(data['received_at'], project)}" if data["received_at"] else ""
    lines = [f"inbound message #{data['id']}: {_kind(data)}{received}"]
    answers = data["answers"]
    contact = data["contact_state"]
    pairs = [
        ("from", data["sender"]),
        ("subject", data["subject"]),
        ("message-id", data["message_id"]),
        ("read", f"{when(data['recorded_at'], project)}, {_size(data)}"),
        ("answers", answers and _answered(answers, data["matched_by"], project)),
        ("its run", answers and answers["run_id"] and _run(answers)),
        ("recipient", data["recipient"]),
        ("contact", contact and _contact(data, contact, project)),
        ("reason", data["reason"]),
        *(("event", _event(event)) for event in data["events"]),
        *(("changed", _change(change)) for change in data["changes"]),
    ]
    lines += [f"{label}: {value}" for label, value in pairs if value]
    return lines


def _kind(data: dict) -> str:
    """`bounce (permanent, 5.1.1)`, `complaint (abuse)`, `auto reply`…"""
    details = [data["severity"], data["status"]] if data["kind"] == "bounce" else []
    details += [data["feedback_type"]] if data["kind"] == "complaint" else []
    shown = [detail for detail in details if detail]
    return data["kind"].replace("_", " ") + (f" ({', '.join(shown)})" if shown else "")


def _size(data: dict) -> str:
    if data["whole"]:
        return f"{data['size']} bytes"
    return f"{data['size']} bytes, over the size limit: only its header was kept"


def _answered(answers: dict, matched_by: str | None, project: Project) -> str:
    if answers["sent_at"]:
        left = f"sent {when(answers['sent_at'], project)}"
    else:
        left = f"{answers['status']} (queued {when(answers['created_at'], project)})"
    return (f"email #{answers['id']} “{answers['subject']}” to {answers['to']}, {left},"
            f" matched by {matched_by}")  # fmt: skip


def _run(answers: dict) -> str:
    reason = say(answers["run_reason"])
    return (f"#{answers['run_id']} of {answers['workflow']}, {answers['run_status']}"
            + (f": {reason}" if reason else ""))  # fmt: skip


def _contact(data: dict, state: dict, project: Project) -> str:
    notes = [] if state["email_status"] == "ok" else [f"email {state['email_status']}"]
    if state["unsubscribed_at"]:
        notes.append(f"unsubscribed {when(state['unsubscribed_at'], project)}")
    return f"#{data['contact_id']} {data['contact']}" + (f" ({'; '.join(notes)})" if notes else "")


def _event(event: dict) -> str:
    runs = ", ".join(f"#{run['id']} of {run['workflow']} ({run['status']})"
                     for run in event["runs"])  # fmt: skip
    started = f"; started run {runs}" if runs else ""
    return f"#{event['id']} {event['type']} ({event['status']}){started}"


def _change(change: dict) -> str:
    """`email status → undeliverable (bounced: 5.1.1), event #23`, `unsubscribed (by
    complaint), event #21`."""
    new = change["new"] or {}
    parts = [
        f"{name.replace('_', ' ')} → {new[name]}" if name in new else name.removesuffix("_at")
        for name in change["changed"]
    ]
    why = change["reason"] or f"by {change['by']}"
    return f"{', '.join(parts)} ({why}), event #{change['event']}"


@app.command()
def reprocess(
    ctx: typer.Context,
    message: Annotated[
        list[int] | None,
        typer.Argument(help="Messages to read again (their #).", min=1, max=LARGEST_ID),
    ] = None,
    unmatched: Annotated[
        bool, typer.Option("--unmatched", help="Every message that matched no sent email.")
    ] = False,
    failed: Annotated[
        bool, typer.Option("--failed", help="Every message that could not be recorded.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Read stored messages again, against the outbox as it is now.

    A reply whose email is known now becomes a reply and acts; a message that failed is
    recorded properly. Each message goes alone: one that fails again is left as it was,
    and the exit code is 1. The events they make are handled by the next `salesflow run`.

    Example: salesflow inbound reprocess --failed
    """
    from salesflow.mail.reprocess import reprocess as read_again
    from salesflow.store.inbound import ids_of_kind

    if not (message or unmatched or failed):
        raise typer.BadParameter("give message ids, --unmatched or --failed")
    store = ctx.obj.store()
    chosen_ids = list(message or [])
    for kind, wanted in (("unmatched", unmatched), ("failed", failed)):
        chosen_ids += ids_of_kind(store, kind) if wanted else []
    outcomes = read_again(store, list(dict.fromkeys(chosen_ids)))
    if as_json:
        typer.echo(to_json([outcome.as_json() for outcome in outcomes]))
    else:
        for outcome in outcomes:
            typer.echo(_printable(_outcome_line(outcome)), err=bool(outcome.error))
        typer.echo(_summary(outcomes))
    if any(outcome.error for outcome in outcomes):
        raise typer.Exit(1)


def _outcome_line(outcome: Reprocessed) -> str:
    said = f"#{outcome.id} {outcome.before}"
    reason = f" — {outcome.reason}" if outcome.reason else ""
    if outcome.error:
        return f"{said}: not reprocessed, left as it was: {outcome.error}"
    if outcome.header_only and not outcome.changed:
        return f"{said}: unchanged: only its header was kept (over the size limit)"
    if not outcome.changed:
        return f"{said}: unchanged{reason}"
    answers = ""
    if outcome.outbox_id:
        answers = f" to email #{outcome.outbox_id} (matched by {outcome.matched_by})"
    return f"{said} → {outcome.after}{answers}{reason}"


def _summary(outcomes: list[Reprocessed]) -> str:
    from salesflow.store.inbound import EVENTS

    changed = [outcome for outcome in outcomes if outcome.changed]
    failed = sum(1 for outcome in outcomes if outcome.error)
    line = f"{counted(len(outcomes), 'message')} reprocessed: {len(changed)} changed"
    line += f", {failed} failed" if failed else ""
    if any(outcome.after in EVENTS for outcome in changed):
        line += "; `salesflow run` handles their events"
    return line
