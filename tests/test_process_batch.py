"""A batch of events done at once, with one bad item among good ones, leaves exactly what
handling its events one by one (each in its savepoint) leaves: the same contacts, deals,
runs, trace, tasks, outbox and events, the bad one failed, visible and retryable.

Each case processes the same events twice, in two databases: one by one (the reference), and
at once (what `process` does). The bad item raises before writing anything (a template of the
welcome email: it fails in place), after writing (the owner's notice, for the second member:
the batch is undone and redone one by one), or is an event that cannot be read at all.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
from conftest import open_project

from salesflow.config.cache import load_project
from salesflow.engine.process import Processor
from salesflow.phrases import say
from salesflow.store import contacts, events
from salesflow.store.session import Store

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL

NOW = "2026-12-01T12:00:00+00:00"
# The nameless contact's templates divide by the length of its first name.
DIVIDE = "{{ 100 // (contact.first_name or '') | length }}"
WELCOME = """
    ---
    subject: "Bienvenue {{ contact.first_name }}"
    ---
    Bonjour {{ contact.first_name }}, à {{ contact.date_essai | date("d MMMM HH:mm") }}.{bad}
    """
NOTICE = """
    ---
    subject: "Nouveau : {{ contact.email }}"
    ---
    Bonjour {{ member.name }} : {{ contact.full_name }}, {{ owner.name }}.{bad}
    """
PROJECT = {
    "salesflow.yaml": """
        name: Lots
        timezone: Europe/Paris
        locale: fr_FR
        currency: EUR
        email: {from: "Lots <bonjour@lots.example>"}
        team:
          - {id: marie, name: Marie Dupont, email: marie@lots.example}
          - {id: paul, name: Paul Martin, email: paul@lots.example}
        fields:
          contact:
            date_essai: {type: datetime}
        """,
    "pipelines/ventes.yaml": """
        id: ventes
        name: Ventes
        stages:
          - {id: nouveau, name: Nouveau}
          - {id: gagne, name: Gagné, outcome: won}
        """,
    "workflows/accueil.yaml": """
        id: accueil
        trigger: {event: contact.created}
        steps:
          - id: tache
            create_task: {title: "Appeler {{ contact.email }}", assignee: paul}
          - id: bienvenue
            send_email: {to: contact, template: bienvenue}
          - id: tour
            assign_owner: {among: [marie, paul]}
          - id: affaire
            create_deal: {pipeline: ventes, stage: nouveau, title: "Essai {{ contact.email }}"}
          - id: equipe
            notify: {to: team, template: equipe}
          - id: veille
            wait_until: {at: "{{ contact.date_essai }}", before: 1d}
        """,
}
CASES = {  # (the welcome's bad part, the notice's bad part, an unreadable event)
    "raises-before-writing": (DIVIDE, "", False),
    "raises-after-writing": ("", "{% if member.id == 'paul' %}" + DIVIDE + "{% endif %}", False),
    "event-unreadable": ("", "", True),
}
PEOPLE = [("ana", "Ana"), ("bob", "Bob"), ("nameless", ""), ("cleo", "Cléo"), ("dan", "Dan")]
_numbers = itertools.count()


def project(root: Path, case: str) -> Path:
    welcome, notice, _ = CASES[case]
    texts = {**PROJECT, "workflows/templates/bienvenue.txt.j2": WELCOME.replace("{bad}", welcome),
             "workflows/templates/equipe.txt.j2": NOTICE.replace("{bad}", notice)}  # fmt: skip
    for name, text in texts.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip())
    return root


def reference_store(root: Path, backend: str, request) -> Store:
    """The same project on a second database of the engine under test."""
    copy = root.with_name(f"{root.name}-reference")
    shutil.copytree(root, copy)
    url = None
    if backend == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")
        name = f"test_{os.getpid()}_reference_{next(_numbers)}"
        cluster.admin(f"CREATE DATABASE {name} TEMPLATE salesflow_template")
        request.addfinalizer(lambda: cluster.admin(f"DROP DATABASE {name} WITH (FORCE)"))
        url = cluster.url(name)
    return Store.open(load_project(copy, url), datetime.fromisoformat(NOW))


def the_events(store: Store, unreadable: bool) -> None:
    """Five contacts created (five events), the nameless one third; an unreadable event
    after it, when asked."""
    for email, first_name in PEOPLE:
        contacts.add(store, f"{email}@lots.example", {"first_name": first_name}, (),
                     {"date_essai": "2026-12-10T18:00"})  # fmt: skip
        if unreadable and email == "nameless":
            store.conn.execute(
                "INSERT INTO events (type, subject_type, subject_id, data, created_at)"
                " VALUES ('contact.created', 'contact', 3, '{not json', ?)",
                (store.stamp,),
            )


TABLES = ("contacts", "deals", "stage_history", "runs", "run_steps", "tasks", "outbox",
          "events", "rotations")  # fmt: skip
RANDOM = {"message_id"}  # made anew for each attempt (a uuid)
IDS = {"run_id": "runs", "contact_id": "contacts", "deal_id": "deals", "event_id": "events"}


def rows_of(store: Store, numbered: bool) -> dict[str, list[dict]]:
    """Every row of the tables a pass writes, as dicts. `numbered` False: ids as their rank
    in their table (PostgreSQL's sequences keep the numbers an undone attempt took: the
    redone rows are the same, numbered further on)."""
    tables = {}
    for table in TABLES:
        cursor = store.conn.execute(f"SELECT * FROM {table} ORDER BY 1")
        names = [column[0] for column in cursor.description]
        tables[table] = [{name: value for name, value in zip(names, row, strict=True)
                          if name not in RANDOM} for row in cursor.fetchall()]  # fmt: skip
    if numbered:
        return tables
    rank = {table: {row["id"]: n for n, row in enumerate(rows)}
            for table, rows in tables.items() if rows and "id" in rows[0]}  # fmt: skip
    for table, rows in tables.items():
        for row in rows:
            for name, value in row.items():
                owner = table if name == "id" else IDS.get(name)
                if name == "subject_id" and value is not None:
                    owner = {"contact": "contacts", "deal": "deals"}[row["subject_type"]]
                if owner and value is not None:
                    row[name] = rank[owner][value]
            if table == "run_steps":  # the trace names outbox, task and deal ids
                row["detail"] = re.sub(r"\d+", "#", row["detail"])
    return tables


@pytest.mark.parametrize("case", CASES)
def test_a_batch_with_one_bad_item_delivers_the_others_as_one_by_one(
    tmp_path, backend, request, case
):
    root = project(tmp_path / "lots", case)
    at_once = Store.open(open_project(root), datetime.fromisoformat(NOW))
    one_by_one = reference_store(root, backend, request)
    unreadable = CASES[case][2]
    lines: dict[bool, list] = {True: [], False: []}
    results = {}
    for store, batched in ((one_by_one, False), (at_once, True)):
        the_events(store, unreadable)
        processor = Processor(store, on_line=lines[batched].append, at_once=batched)
        held = processor.result  # as serve's worker holds it across a redone batch
        results[batched] = processor.run()
        assert results[batched] is held
    assert results[True] == results[False]
    assert (results[True].runs, results[True].failed) == (5, 1 if unreadable else 0)
    assert lines[True] == lines[False] or backend == "postgresql"  # ids in the lines
    assert [line.outcome for line in lines[True]] == [line.outcome for line in lines[False]]
    # the same rows; ids the same too unless PostgreSQL had to redo the batch
    numbered = not (backend == "postgresql" and case == "raises-after-writing")
    assert rows_of(at_once, numbered) == rows_of(one_by_one, numbered)

    # the good ones went all the way; the bad one failed, visibly, and can be retried
    waiting = at_once.conn.execute(
        "SELECT c.email FROM runs r JOIN contacts c ON c.id = r.contact_id"
        " WHERE r.status = 'waiting' ORDER BY r.id"
    ).fetchall()
    good = [f"{email}@lots.example" for email, first_name in PEOPLE if first_name or unreadable]
    assert [row[0] for row in waiting] == good
    if unreadable:
        [event] = events.listing(at_once, "failed")
        assert event["error"].startswith("JSONDecodeError")
        assert events.retry(at_once, [event["id"]]) == 1
        return
    [failed] = at_once.conn.execute(
        "SELECT r.status, r.reason, c.email FROM runs r JOIN contacts c ON c.id = r.contact_id"
        " WHERE r.status <> 'waiting'"
    ).fetchall()
    step = "bienvenue" if case == "raises-before-writing" else "equipe"
    assert (failed[0], failed[2]) == ("failed", "nameless@lots.example")
    assert say(failed[1]).startswith(f"step {step}: template ")
    assert at_once.conn.execute(
        "SELECT count(*) FROM outbox o JOIN runs r ON r.id = o.run_id JOIN contacts c"
        " ON c.id = r.contact_id WHERE c.email = 'nameless@lots.example'"
    ).fetchone()[0] == (1 if step == "equipe" else 0)  # fmt: skip
    # the failed step is traced failed, after the steps that went through before it
    trace = at_once.conn.execute(
        "SELECT s.step, s.outcome FROM run_steps s JOIN runs r ON r.id = s.run_id"
        " WHERE r.status = 'failed' ORDER BY s.id"
    ).fetchall()
    steps = ["tache", "bienvenue", "tour", "affaire", "equipe"]
    done = steps[: steps.index(step)]
    assert [tuple(row) for row in trace] == [(name, "done") for name in done] + [(step, "failed")]
