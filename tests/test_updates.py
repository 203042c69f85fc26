"""Triggers on changes: contact.updated and deal.updated carry what changed with its old and
new values, a change that changes nothing records nothing, and a wait anchored on a deal's
field follows it (the demo's `inscription-prevue` workflow)."""

from __future__ import annotations

import json

import pytest
from conftest import query

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL


def updates(project, kind: str) -> list[dict]:
    rows = query(project, "SELECT data FROM events WHERE type = ? ORDER BY id", kind)
    return [json.loads(data) for (data,) in rows]


def test_a_deal_update_records_old_and_new_values_and_a_no_op_records_nothing(sf):
    sf("deals", "add", "--title", "Essai", "--pipeline", "cours-essai", "--amount", "240")
    sf("deals", "update", "1", "--amount", "1 200,50", "--next-step", "Rappeler lundi")
    sf("deals", "update", "1", "--amount", "1200.50", "--next-step", "Rappeler lundi")
    [event] = updates(sf.project, "deal.updated")
    assert event == {
        "pipeline": "cours-essai", "title": "Essai", "changed": ["amount", "next_step"],
        "old": {"amount": "240.00", "next_step": None},
        "new": {"amount": "1200.50", "next_step": "Rappeler lundi"}, "by": "cli",
    }  # fmt: skip


def test_a_contact_update_records_old_and_new_values(sf):
    sf("contacts", "add", "julie@example.org", "--company", "Chorale")
    sf("contacts", "update", "julie@example.org", "--company", "Opéra", "--tag", "alto",
       "--field", "voix=alto")  # fmt: skip
    [event] = updates(sf.project, "contact.updated")
    assert (event["changed"], event["old"], event["new"]) == (
        ["company", "tags", "voix"],
        {"company": "Chorale", "tags": [], "voix": None},
        {"company": "Opéra", "tags": ["alto"], "voix": "alto"},
    )


def test_a_wait_on_a_deals_expected_close_follows_it(sf):
    sf("deals", "add", "--title", "Essai Julie", "--pipeline", "cours-essai", "--owner", "marie")
    sf("deals", "update", "1", "--next-step", "Rappeler")  # not a change it watches
    sf("process")
    assert query(sf.project, "SELECT count(*) FROM runs") == [(0,)]
    sf("deals", "update", "1", "--expected-close", "10/12/2026")
    sf("process")
    wake = "SELECT workflow, status, wake_at FROM runs"
    assert query(sf.project, wake) == [("inscription-prevue", "waiting", "2026-12-08T23:00:00Z")]
    sf("deals", "update", "1", "--expected-close", "15/12/2026", now="2026-11-25T09:00")
    sf("process", now="2026-11-25T09:00")
    assert query(sf.project, wake) == [("inscription-prevue", "waiting", "2026-12-13T23:00:00Z")]
    assert "expected_close changed" in sf("runs", "show", "1").output
    sf("tick", now="2026-12-14T08:00")
    [(title, assignee)] = query(sf.project, "SELECT title, assignee FROM tasks")
    assert (title, assignee) == (
        "Confirmer l'inscription : Essai Julie, prévue le 15 décembre 2026",
        "marie",
    )
