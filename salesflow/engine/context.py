"""What templates and expressions see while a run acts, and rendering with it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from salesflow.config.model import Project, Workflow
from salesflow.store import contacts, deals
from salesflow.store.db import row_dict
from salesflow.store.session import Store
from salesflow.templating import make_environment, plain_path, read_plain
from salesflow.templating.urls import url_value
from salesflow.values import read_instant


def environment(project: Project):
    return make_environment(
        project.templates_dir, project.locale, project.timezone, project.currency
    )


class Renderer:
    """Renders template strings from the project's files (compiled once each)."""

    def __init__(self, env):
        self.env = env
        self._compile = lru_cache(maxsize=1024)(env.from_string)
        self._expression = lru_cache(maxsize=1024)(env.compile_expression)
        self._plain = lru_cache(maxsize=1024)(plain_path)
        self._url = lru_cache(maxsize=256)(env.overlay(finalize=url_value).from_string)

    def value(self, value: Any, context: dict) -> Any:
        """A config value: template strings rendered (an empty result is None), the rest as is."""
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            names = self._plain(value)
            text = read_plain(names, context) if names else None
            if text is None:
                text = self._compile(value).render(context)
            return text.strip() or None
        if isinstance(value, dict):
            return {key: self.value(item, context) for key, item in value.items()}
        return value

    def url(self, template: str, context: dict) -> str:
        """An `http` step's URL: what each `{{ … }}` gives is percent-encoded."""
        return self._url(template).render(context).strip()

    def test(self, expression: str, context: dict) -> bool:
        return bool(self._expression(expression)(**context))


def event_view(event, store: Store) -> dict:
    """An event as templates see it: {id, type, data, key, received_at, subject}."""
    if event is None:
        return {}
    received = read_instant(event["created_at"], store.project.timezone)
    return {
        "id": event["id"],
        "type": event["type"],
        "data": json.loads(event["data"]),
        "key": event["key"],
        "received_at": received.isoformat(),
        "subject": event["subject_type"],
    }


def build_context(
    store: Store,
    workflow: Workflow,
    run: dict | None,
    event: dict,
    contact_id,
    deal_id,
    contact_row: Mapping[str, Any] | None = None,
) -> dict:
    """Everything a step's templates can name, read fresh from the store (`contact_row`:
    the contact's, when the caller holds it as it stands)."""
    project = store.project
    context = {
        "event": event,
        "run": run or {},
        "workflow": {"id": workflow.id, "name": workflow.name, "description": workflow.description},
        "project": {
            "name": project.name,
            "timezone": project.timezone.key,
            "locale": project.locale,
            "currency": project.currency,
        },
        "now": store.now,
        **report_functions(store),
    }
    refresh_records(store, context, contact_id, deal_id, contact_row=contact_row)
    return context


def refresh_records(
    store: Store,
    context: dict,
    contact_id,
    deal_id,
    contact_too: bool = True,
    contact_row: Mapping[str, Any] | None = None,
) -> None:
    """The context's records read again: its deal (or ticket), its contact unless
    `contact_too` is False (a step that changed only the deal), and the owner they name.
    `contact_row`: the contact's row as it stands, when the caller holds it (not read)."""
    project = store.project
    if contact_too:
        row = contact_row
        if row is None and contact_id:
            row = contacts.get(store, contact_id)
        contact = contacts.public(row, store) if row is not None else None
        if contact is not None:
            contact["owner"] = _member(project, contact.get("owner"))
            contact["full_name"] = " ".join(
                part for part in (contact["first_name"], contact["last_name"]) if part
            )
        context["contact"] = contact
    deal = ticket = None
    if deal_id:  # the run's pipeline record: a deal, or a ticket
        row = row_dict(deals.read_with_contact(store, deal_id))
        if deals.object_of(store, row) == "ticket":
            ticket = deals.public(row, store)
        else:
            deal = deals.public(row, store)
    record = deal or ticket
    record_owner = record.get("owner") if record else None
    if record is not None:
        record["owner"] = _member(project, record_owner)
    context["deal"], context["ticket"] = deal, ticket
    # the record's owner, else the contact's (an id no member has: nobody, as before)
    owner = _member(project, record_owner) if record_owner else None
    if not record_owner and context["contact"] is not None:
        owner = context["contact"]["owner"] and dict(context["contact"]["owner"])
    context["owner"] = owner


def _member(project: Project, member_id: str | None) -> dict | None:
    member = project.team.get(member_id or "")
    return {"id": member.id, "name": member.name, "email": member.email} if member else None


def report_functions(store: Store) -> dict:
    """stalled(), forecast(), board(), today(): the same data as the CLI's reports."""

    def stalled(pipeline: str | None = None) -> list[dict]:
        from salesflow.reports.stalled import stalled as report

        return report(store, pipeline).rows

    def forecast(by: str = "month", pipeline: str | None = None) -> dict:
        from salesflow.reports.forecast import forecast as report

        result = report(store, by, pipeline)
        return {"rows": result.rows, "totals": result.totals}

    def board(pipeline: str | None = None) -> list[dict]:
        from salesflow.reports.board import board as report

        return report(store, pipeline).rows

    def today(member: Any) -> list[dict]:
        """The member's items of `salesflow today --member` (a member, or a member's id)."""
        from salesflow.reports.today import today as report

        member_id = _member_id(member)
        return report(store, member_id)["members"][0]["items"] if member_id else []

    return {"stalled": stalled, "forecast": forecast, "board": board, "today": today}


def _member_id(member: Any) -> str | None:
    """A member as templates hold one: notify's `member`, `owner` (a dict), or an id."""
    if isinstance(member, str | None):
        return member
    return member.get("id") if isinstance(member, dict) else getattr(member, "id", None)


def local_time(moment: datetime, store: Store) -> str:
    """`2026-12-04 18:30` in the project's zone (isoformat, cut: strftime costs twice as much)."""
    return moment.astimezone(store.project.timezone).isoformat(" ", "minutes")[:16]
