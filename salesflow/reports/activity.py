"""What the robot did: workflow runs and messages, failed ones first, the rest paged; and
a deal's own runs (with their traces) and emails."""

from __future__ import annotations

from dataclasses import dataclass

from salesflow.phrases import say
from salesflow.store import reports as query
from salesflow.store.outbox import public as public_message
from salesflow.store.runs import public as public_run
from salesflow.store.runs import trace
from salesflow.store.session import Store

PAGE = 50
FAILED_SHOWN = 200  # failed items listed in full before the paged rest


@dataclass
class Activity:
    failed_runs: list[dict]
    runs: list[dict]
    failed_messages: list[dict]
    messages: list[dict]
    page: int
    more: bool  # is there a next page?


def activity(store: Store, page: int = 0) -> Activity:
    offset = page * PAGE
    failed_runs = query.runs_listed(store, failed=True, limit=FAILED_SHOWN)
    runs = query.runs_listed(store, failed=False, limit=PAGE + 1, offset=offset)
    failed_messages = query.messages_listed(store, failed=True, limit=FAILED_SHOWN)
    messages = query.messages_listed(store, failed=False, limit=PAGE + 1, offset=offset)
    return Activity(
        [public_run(row, store) for row in failed_runs],
        [public_run(row, store) for row in runs[:PAGE]],
        [public_message(row, store) for row in failed_messages],
        [public_message(row, store) for row in messages[:PAGE]],
        page,
        len(runs) > PAGE or len(messages) > PAGE,
    )


def in_english(run: dict) -> dict:
    """A run as `--json` and the pages' JSON give it: its reason and its trace's details said
    in English (the store keeps them as phrases, which an HTML page says in its language)."""
    said = {**run, "reason": say(run["reason"])}
    if "trace" in run:
        said["trace"] = [{**line, "detail": say(line["detail"])} for line in run["trace"]]
    return said


def deal_runs(store: Store, deal_id: int) -> list[dict]:
    """The workflow runs that touched the deal, newest first, each with its trace."""
    rows = query.runs_of_deal(store, deal_id)
    return [{**public_run(row, store), "trace": trace(store, row["id"])} for row in rows]


def deal_messages(store: Store, deal_id: int) -> list[dict]:
    """The emails of the deal's runs, and those to its contact, newest first."""
    return [public_message(row, store) for row in query.messages_of_deal(store, deal_id)]
