"""`salesflow outbox` and `salesflow render`: the emails, before and after they leave."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from salesflow.cli.options import AsJson, Id, OutputFormat
from salesflow.cli.render import Format, chosen, emit_rows, to_json
from salesflow.errors import UserError, did_you_mean
from salesflow.reports import Column
from salesflow.store.outbox import get as get_message
from salesflow.store.outbox import listing, public

if TYPE_CHECKING:
    from salesflow.outbox.courier import DeliveryResult

app = typer.Typer(
    no_args_is_help=True, help="The queued, sent and failed emails, and http steps' requests."
)
COLUMNS = [
    Column("id", "#", "int"),
    Column("to", "to"),
    Column("subject", "subject"),
    Column("status", "status"),
    Column("attempts", "tries", "int"),
    Column("next_attempt_at", "next try", "datetime"),
    Column("last_error", "last error"),
]
STATUSES = ("queued", "retrying", "sending", "sent", "failed", "cancelled")
KINDS = ("email", "http")


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help=", ".join(STATUSES) + ".")] = None,
    kind: Annotated[
        str | None, typer.Option(help="email, or http (the requests of http steps).")
    ] = None,
    output: OutputFormat = Format.table,
    as_json: AsJson = False,
) -> None:
    """List messages and requests, newest first (a request's subject is its method).

    Example: salesflow outbox list --status failed
    """
    if status and status not in STATUSES:
        raise typer.BadParameter(f"'{status}' is not one of {', '.join(STATUSES)}")
    if kind and kind not in KINDS:
        raise typer.BadParameter(f"'{kind}' is not one of {', '.join(KINDS)}")
    store = ctx.obj.store()
    rows = listing(store, status, kind)
    emit_rows([public(r, store) for r in rows], COLUMNS, chosen(output, as_json), store.project,
              "Outbox")  # fmt: skip


@app.command()
def show(
    ctx: typer.Context,
    message: Id,
    raw: Annotated[bool, typer.Option("--raw", help="The whole MIME message, as sent.")] = False,
    as_json: AsJson = False,
) -> None:
    """Show a message as it will be (or was) sent: its headers and its text; or a request,
    with its `{{ env.NAME }}` references unresolved, and the answer it got.

    Example: salesflow outbox show 3
    """
    from salesflow.mail.mime import build
    from salesflow.outbox.shown import full, noun

    store = ctx.obj.store()
    row = get_message(store, message)
    if as_json:
        typer.echo(to_json(full(row, store)))
        return
    typer.echo(f"# {noun(row)}: {row['status']}, {row['attempts']} attempt(s)"
               + (f"; last error: {row['last_error']}" if row["last_error"] else "")
               + (f"; answer: {row['response']}" if row["kind"] == "http" and row["response"]
                  else ""))  # fmt: skip
    if row["kind"] == "http":
        typer.echo(full(row, store)["request"].rstrip())
        return
    built = build(row, store.project)
    if raw:
        typer.echo(built.as_string(maxheaderlen=0).replace("\r\n", "\n"))
        return
    for name in ("From", "To", "Reply-To", "Subject", "Date"):
        if built[name]:
            typer.echo(f"{name}: {built[name]}")
    attached = [part.get_filename() for part in built.iter_attachments()]
    html = " + HTML" if row["html"] else ""
    typer.echo(f"(text{html}" + (f"; attached: {', '.join(attached)})" if attached else ")"))
    typer.echo("\n" + row["text"].rstrip())


@app.command()
def send(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Deliver the queued messages and requests that are due now.

    Example: salesflow outbox send
    """
    from salesflow.outbox.delivery import deliver_both

    print_delivery(*deliver_both(ctx.obj.store()), as_json)


def print_delivery(emails: DeliveryResult, requests: DeliveryResult, as_json: bool) -> None:
    if as_json:
        typer.echo(to_json({**emails.as_json(), "requests": requests.as_json()}))
        return
    for error in emails.errors + requests.errors:
        typer.echo(error, err=True)
    typer.echo(f"outbox: {emails.sent} sent, {emails.retrying} to retry, {emails.failed} failed")
    if requests.handled:
        typer.echo(f"requests: {requests.told('request')}")


@app.command()
def retry(ctx: typer.Context, message: Id) -> None:
    """Send a failed, retrying, cancelled or abandoned message again at the next delivery
    (now, with `send`).

    Example: salesflow outbox retry 3 && salesflow outbox send
    """
    from salesflow.outbox.by_hand import requeue
    from salesflow.outbox.shown import noun

    store = ctx.obj.store()
    row = get_message(store, message)
    requeue(store, row)
    typer.echo(f"{noun(row)} queued again")


@app.command()
def cancel(ctx: typer.Context, message: Id) -> None:
    """Do not send a message that has not left: queued, retrying, failed or abandoned.

    Example: salesflow outbox cancel 3
    """
    from salesflow.outbox.by_hand import cancel as cancel_message
    from salesflow.outbox.shown import noun

    store = ctx.obj.store()
    row = get_message(store, message)
    cancel_message(store, row)
    typer.echo(f"{noun(row)} cancelled")


def render(
    ctx: typer.Context,
    template: str,
    contact: Annotated[str, typer.Option(help="The contact (email or id) to render for.")],
    deal: Annotated[int | None, typer.Option(help="The deal to render with.")] = None,
    html: Annotated[bool, typer.Option("--html", help="Print the HTML part.")] = False,
) -> None:
    """Render a template with real data, to check it before it goes out.

    Example: salesflow render bienvenue --contact julie.martin@example.org
    """
    from salesflow.engine.context import build_context, environment
    from salesflow.mail.compose import render as render_template
    from salesflow.store import contacts, deals

    store = ctx.obj.store()
    project = store.project
    if template not in project.templates:
        raise UserError(
            f"no template '{template}'{did_you_mean(template, list(project.templates))}"
        )
    person = contacts.get(store, contact)
    deal_id = deal if deal is not None else deals.latest_of_contact(store, person["id"])
    workflow = next(iter(project.workflows.values()))
    context = build_context(store, workflow, None, {}, person["id"], deal_id)
    context["member"] = context["owner"]
    try:
        subject, text, html_part = render_template(
            environment(project), project.templates[template], context
        )
    except Exception as error:
        raise UserError(f"template {template}: {error}") from None
    typer.echo(f"Subject: {subject}\n")
    if html:
        if html_part is None:
            raise UserError(f"template {template} has no HTML part ({template}.html.j2)")
        typer.echo(html_part)
    else:
        typer.echo(text)
