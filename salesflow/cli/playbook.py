"""The stages' playbooks at the command line, for `deals` and `tickets` alike: who moves a
record (--by, --force), what to do when a move is refused, ticking a checklist item
(`check`), and the playbook and history as `show` prints them."""

from __future__ import annotations

from typing import Annotated

import typer

from salesflow.cli.render import print_record, to_json, when
from salesflow.config.playbook import RECORD_FIELDS, SETTABLE_CONTACT_FIELDS
from salesflow.errors import UserError
from salesflow.reports.record import check_answer, has_playbook, timeline
from salesflow.store import contacts, deals, playbook
from salesflow.store.db import transaction
from salesflow.store.session import Store

Member = Annotated[str, typer.Option("--by", metavar="MEMBER", help="The team member ticking it.")]
Undo = Annotated[bool, typer.Option("--undo", help="Untick the item.")]
Item = Annotated[str, typer.Argument(help="The checklist item, as the stage writes it.")]


def mover(store: Store, by: str | None, force: bool) -> str:
    """Who the history says moved the record: --by (a team member, checked), else `cli`.
    Forcing needs a name: the history must say who bypassed the stage's requirements."""
    if force and not by:
        raise typer.BadParameter(
            "give --by MEMBER too: the history must say who forced the move",
            param_hint="'--force'",
        )
    contacts.check_owner(store, by)
    return by or "cli"


def refusal(
    error: playbook.RequirementsMissing, store: Store, record: str, number: int | None,
    contact_id: int | None, by: str,
) -> UserError:  # fmt: skip
    """A refused move (or creation: `number` None) as the CLI says it: the reason on one
    line, then what to do (`by`: who was moving it, as `mover` says)."""
    who = by if by != "cli" else "MEMBER"
    own = [name for name in error.missing.fields if not name.startswith("contact.")]
    of_contact = [name.removeprefix("contact.") for name in error.missing.fields
                  if name.startswith("contact.")]  # fmt: skip
    lines = [str(error)]
    if own:
        options = " ".join(_option(name, RECORD_FIELDS[record]) for name in own)
        command = f"salesflow {record}s update {number}" if number else "give"
        lines.append(f"  set it: {command} {options}")
    if of_contact:
        lines.append(f"  set it: {_contact_command(store, record, contact_id, of_contact)}")
    for item in error.missing.items:
        lines.append(f'  tick it: salesflow {record}s check {number} "{item}" --by {who}')
    lines.append(f"  or force it: add --force --by {who}")
    return UserError("\n".join(lines))


def _option(name: str, own: tuple[str, ...]) -> str:
    """The option of an `update` command that sets the field `name`."""
    if name in own:
        return f"--{name.replace('_', '-')} …"
    return f"--field {name}=…"


def _contact_command(store: Store, record: str, contact_id: int | None, names: list[str]) -> str:
    if contact_id is None:
        return f"give the {record} a contact with {', '.join(names)}"
    contact = playbook.contact_values(store, contact_id)
    options = " ".join(_option(name, SETTABLE_CONTACT_FIELDS) for name in names)
    return f"salesflow contacts update {contact['email']} {options}"


def check(ctx: typer.Context, number: int, item: str, by: str, undo: bool, as_json: bool,
          record: str) -> None:  # fmt: skip
    """`deals check` and `tickets check`: tick (or untick) an item of the record's stage."""
    store = ctx.obj.store()
    with transaction(store.conn, False):
        row = deals.get(store, number, record)
        of = deals.pipeline(store, row["pipeline"], record)
        stage, label, changed = playbook.tick(store, row, of, item, by, undo)
    if as_json:
        typer.echo(to_json(check_answer(row, stage, label, undo, changed, by)))
        return
    state = "ticked" if not undo else "unticked"
    where = f"“{label}” in “{stage.name}” of {record} #{row['id']} {row['title']}"
    if changed:
        typer.echo(f"{state} {where} (by {by})")
    else:
        typer.echo(f"{where} is already {state}: nothing changed")


def print_shown(data: dict, store: Store, as_json: bool, kind: str) -> None:
    """A deal or a ticket as `show` prints it: its fields, its stage's playbook, then its
    history (stage changes, forced ones marked, and checklist ticks)."""
    if as_json:
        typer.echo(to_json(data))
        return
    hidden = ("runs", "messages", "playbook", "history", "checklist_history")
    print_record({key: value for key, value in data.items() if key not in hidden},
                 store.project, kind)  # fmt: skip
    if has_playbook(data["playbook"]):
        print_playbook(data["playbook"], data.get("stage_name"), store)
    typer.echo("history:")
    for entry in timeline(data):
        typer.echo(f"  {when(entry['at'], store.project)}  {_history_line(entry)}")


def print_playbook(book: dict, stage_name: str | None, store: Store) -> None:
    """The stage's guidance as written, its checklist, its entry tasks, and what the next
    stage needs."""
    typer.echo(f"playbook of “{stage_name}”:")
    for line in (book["guidance"] or "").strip().splitlines():
        typer.echo(f"  {line}")
    if book["checklist"]:
        typer.echo("checklist:")
    for entry in book["checklist"]:
        box = "[x]" if entry["ticked"] else "[ ]"
        notes = ["required"] if entry["required"] else []
        if entry["ticked"]:
            notes.append(f"{entry['ticked_by']}, {when(entry['ticked_at'], store.project)}")
        typer.echo(f"  {box} {entry['item']}" + (f"  ({'; '.join(notes)})" if notes else ""))
    for task in book["entry_tasks"]:
        due = f" (due in {task['due_in']})" if task["due_in"] else ""
        typer.echo(f"on entry, a task for the owner: {task['title']}{due}")
    following = book["next"]
    if following:
        typer.echo(f"next stage: “{following['stage_name']}” {_needs(following)}")


def _needs(following: dict) -> str:
    lacking = [f"{name} (not set)" for name in following["missing_fields"]]
    lacking += [f"“{item}” ticked here" for item in following["missing_items"]]
    if lacking:
        return "needs " + ", ".join(lacking)
    met = ", ".join(following["requires"])
    return f"(requires {met}: set)" if met else "(nothing required)"


def _history_line(entry: dict) -> str:
    """A stage change (forced ones marked) or a tick, as `show` prints it after its moment."""
    if entry["kind"] == "tick":
        state = "ticked" if entry["ticked"] else "unticked"
        return f"{state} “{entry['item']}” in {entry['stage']}  ({entry['by']})"
    origin = f"{entry['from']} → " if entry["from"] else ""
    forced = ", forced" if entry.get("forced") else ""
    return f"{origin}{entry['to']}  ({entry['by']}{forced})"
