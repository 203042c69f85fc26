"""Every report on a small database built by hand through store/ (the real migrations, no
CLI): exact rows, so that a failure points at the report, not at the command around it.

The clock is NOW; some rows are dated after it (a deal entered a stage, a task due, an email
and a move of a ticket), and the reports that read the clock must not count them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import open_project, written_project

from salesflow.reports import activity as activity_module
from salesflow.reports.activity import activity, deal_messages, deal_runs
from salesflow.reports.board import board, stage_cards
from salesflow.reports.forecast import forecast
from salesflow.reports.funnel import funnel
from salesflow.reports.losses import losses
from salesflow.reports.response import response
from salesflow.reports.stalled import stalled
from salesflow.reports.workload import workload
from salesflow.store import contacts, deals, tasks
from salesflow.store.session import Store

pytestmark = pytest.mark.engines


NOW = "2026-12-01T12:00:00Z"
PROJECT = {
    "salesflow.yaml": """
        name: Unités
        timezone: UTC
        locale: en_GB
        currency: EUR
        email: {from: "Unités <hello@units.example>"}
        team:
          - {id: marie, name: Marie Dupont, email: marie@units.example}
          - {id: paul, name: Paul Martin, email: paul@units.example}
        """,
    "pipelines/ventes.yaml": """
        id: ventes
        name: Ventes
        stages:
          - {id: nouveau, name: Nouveau, probability: 10, rot_after: 3d}
          - {id: essai, name: Essai, probability: 50, rot_after: 1w}
          - {id: gagne, name: Gagné, outcome: won}
          - {id: perdu, name: Perdu, outcome: lost}
        """,
    "pipelines/support.yaml": """
        id: support
        name: Support
        object: ticket
        stages:
          - {id: ouvert, name: Ouvert, rot_after: 1d}
          - {id: en-cours, name: En cours}
          - {id: resolu, name: Résolu, outcome: won}
          - {id: abandon, name: Abandonné, outcome: lost}
        """,
}


def at(store: Store, moment: str) -> Store:
    """The store's clock set to `moment`: what happens next is dated then."""
    store.now = datetime.fromisoformat(moment)
    return store


def opened(store: Store, moment: str, title: str, contact: str | None, **values):
    """A deal opened at `moment` in the first stage of ventes, or with a `priority` a ticket
    of support."""
    record = "ticket" if "priority" in values else "deal"
    pipeline = "support" if record == "ticket" else "ventes"
    email = f"{contact}@units.example" if contact else None
    return deals.add(at(store, moment), title, email, pipeline, None, values, record=record)


def queue_email(store: Store, to: str, subject: str, moment: str, status: str = "sent", run=None):
    """An outbox row as a workflow's send_email leaves it (only what the reports read)."""
    return store.conn.execute(
        "INSERT INTO outbox (run_id, step, message_id, to_addr, subject, text, status, attempts,"
        " last_error, created_at) VALUES (?, 'mail', ?, ?, ?, 'Bonjour', ?, ?, ?, ?) RETURNING id",
        (run, f"<{subject}@units.example>", to, subject, status, 1 if status == "failed" else 0,
         "550 no such user" if status == "failed" else None, moment),
    ).fetchone()[0]  # fmt: skip


def add_run(store: Store, workflow: str, status: str, moment: str, contact=None, deal=None):
    """A workflow run row as the engine leaves it, with one trace line."""
    run_id = store.conn.execute(
        "INSERT INTO runs (workflow, subject, contact_id, deal_id, status, reason, started_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (workflow, "deal" if deal else "contact", contact, deal, status,
         "boom" if status == "failed" else None, moment, moment),
    ).fetchone()[0]  # fmt: skip
    store.conn.execute(
        "INSERT INTO run_steps (run_id, step, action, outcome, detail, at)"
        " VALUES (?, 'mail', 'send_email', ?, 'queued', ?)",
        (run_id, "failed" if status == "failed" else "done", moment),
    )
    return run_id


@pytest.fixture
def store(tmp_path: Path, backend: str) -> Store:
    """The project of PROJECT with, as of NOW (2026-12-01 12:00 UTC):

    deals (pipeline ventes)
      #1 Cleo gagné   nobody 2,000 €; nouveau 10-01, essai 10-05 (4 d), gagne 11-10 (36 d)
      #2 Anna essai   marie  1,000 € closes 2026-12-15; nouveau 11-01, essai 11-03 (2 d)
      #3 Anna perdu   marie    300 €; nouveau 11-02, perdu 11-04 (2 d) for "prix"
      #4 Bob nouveau  paul     500 € at its own 80 %, closes 2027-01-10; nouveau 11-30
      #5 Dan demain   paul     700 €; nouveau 11-30, essai after now (12-02: 2 d)
    tickets (pipeline support)
      #6 high   Eve: opened 11-30 08:00, emailed 10:00, resolved 12-01 08:00
      #7 normal Fay: opened 11-30 12:00, an email cancelled; emailed and moved after now
      #8 low    Gus: opened 11-29 12:00, nothing since (stalled: rot_after 1d)
    tasks: marie's due 11-30 (overdue) and 12-02 (not yet), paul's done, nobody's overdue
    runs: #1 done and #2 failed for deal #2 with an email each (#2's failed), #3 for Bob;
    emails: #1 Eve's, #2 Fay's cancelled, #3 Fay's after now, #4 and #5 of the runs.
    """
    root = written_project(tmp_path / "units", PROJECT)
    store = Store.open(open_project(root), datetime.fromisoformat(NOW))
    at(store, "2026-10-01T09:00Z")
    for name, owner in (("anna", "marie"), ("bob", "paul"), ("cleo", None), ("dan", "paul"),
                        ("eve", None), ("fay", None)):  # fmt: skip
        contacts.add(store, f"{name}@units.example", {"first_name": name.title(), "owner": owner})
    cleo = opened(store, "2026-10-01T09:00Z", "Cleo gagné", "cleo", amount="2000", owner="")
    cleo = deals.move(at(store, "2026-10-05T09:00Z"), cleo, "essai")
    anna = opened(store, "2026-11-01T09:00Z", "Anna essai", "anna", amount="1000",
                  expected_close="15/12/2026")  # fmt: skip
    lost = opened(store, "2026-11-02T09:00Z", "Anna perdu", "anna", amount="300")
    deals.move(at(store, "2026-11-03T09:00Z"), anna, "essai")
    deals.move(at(store, "2026-11-04T09:00Z"), lost, "perdu", reason="prix")
    deals.move(at(store, "2026-11-10T09:00Z"), cleo, "gagne")
    opened(store, "2026-11-30T12:00Z", "Bob nouveau", "bob", amount="500", probability=80,
           expected_close="10/01/2027")  # fmt: skip
    dan = opened(store, "2026-11-30T12:00Z", "Dan demain", "dan", amount="700")
    deals.move(at(store, "2026-12-02T12:00Z"), dan, "essai")
    eve = opened(store, "2026-11-30T08:00Z", "Eve ne chante plus", "eve", priority="high")
    queue_email(store, "eve@units.example", "re-eve", "2026-11-30T10:00:00Z")
    deals.move(at(store, "2026-12-01T08:00Z"), eve, "resolu")
    fay = opened(store, "2026-11-30T12:00Z", "Fay change de jour", "fay", priority="normal")
    queue_email(store, "fay@units.example", "oops-fay", "2026-11-30T13:00:00Z", "cancelled")
    queue_email(store, "fay@units.example", "re-fay", "2026-12-01T18:00:00Z")
    deals.move(at(store, "2026-12-02T09:00Z"), fay, "en-cours")
    opened(store, "2026-11-29T12:00Z", "Gus a perdu sa clé", None, priority="low")
    at(store, "2026-11-20T09:00Z")
    tasks.add(store, "Rappeler Anna", "marie", datetime.fromisoformat("2026-11-30T09:00Z"))
    tasks.add(store, "Relancer", "marie", datetime.fromisoformat("2026-12-02T09:00Z"))
    tasks.done(store, tasks.add(store, "Fait", "paul")["id"])
    tasks.add(store, "À qui ?", None, datetime.fromisoformat("2026-11-01T09:00Z"))
    anna_ids = {"contact": anna["contact_id"], "deal": anna["id"]}
    first = add_run(store, "relance", "done", "2026-11-03T09:00:00Z", **anna_ids)
    queue_email(store, "anna@units.example", "relance-1", "2026-11-03T09:00:00Z", run=first)
    failed = add_run(store, "relance", "failed", "2026-11-04T09:00:00Z", **anna_ids)
    queue_email(store, "nobody@units.example", "relance-2", "2026-11-04T09:00:00Z", "failed",
                failed)  # fmt: skip
    add_run(store, "accueil", "done", "2026-11-30T12:00:00Z", contact=2)
    return at(store, NOW)


def test_board_counts_the_open_deals_of_each_stage_and_shows_their_cards(store):
    report = board(store)
    assert report.title == "Ventes"
    assert [(r["stage"], r["name"], r["outcome"], r["count"], r["amount"], r["weighted"])
            for r in report.rows] == [
        ("nouveau", "Nouveau", None, 1, Decimal("500"), Decimal("400")),  # at its own 80 %
        ("essai", "Essai", None, 2, Decimal("1700"), Decimal("850")),
        ("gagne", "Gagné", "won", 1, Decimal("2000"), Decimal("2000")),
        ("perdu", "Perdu", "lost", 1, Decimal("300"), Decimal("0")),
    ]  # fmt: skip
    assert report.totals == {"name": "total", "count": 3, "amount": Decimal("2200"),
                             "weighted": Decimal("1250")}  # fmt: skip
    assert report.notes == []
    cards = {r["stage"]: [(c["id"], c["days_in_stage"], c["stalled"]) for c in r["cards"]]
             for r in report.rows}  # fmt: skip
    # Dan entered essai after now: in it since now (0 days), not stalled
    assert cards == {"nouveau": [(4, 1, False)], "essai": [(2, 28, True), (5, 0, False)],
                     "gagne": [(1, 21, False)], "perdu": [(3, 27, False)]}  # fmt: skip
    assert report.rows[1]["cards"][0] == {
        "id": 2, "title": "Anna essai", "contact": "anna@units.example", "contact_name": "Anna",
        "owner": "marie", "amount": Decimal("1000"), "priority": None, "days_in_stage": 28,
        "stalled": True,
    }  # fmt: skip


def test_board_of_one_owner_and_a_column_paged_oldest_first(store):
    mine = board(store, owner="paul", oldest_first=True)
    assert [(r["stage"], r["count"], [c["id"] for c in r["cards"]]) for r in mine.rows] == [
        ("nouveau", 1, [4]), ("essai", 1, [5]), ("gagne", 0, []), ("perdu", 0, []),
    ]  # fmt: skip
    column = stage_cards(store, "ventes", "essai", None, offset=1, limit=5)
    assert (column["count"], [c["id"] for c in column["cards"]]) == (2, [5])  # Anna's older
    assert column["more"] == 0
    short = board(store, cards=1)  # --json readers see how many cards are left out
    assert [(r["stage"], len(r["cards"]), r["more"]) for r in short.rows] == [
        ("nouveau", 1, 0), ("essai", 1, 1), ("gagne", 1, 0), ("perdu", 1, 0)]  # fmt: skip


def after_now(store: Store) -> Store:
    """What happens after NOW, that no report as of NOW may count: Bob's deal won and Anna's
    lost deal reopened, Gus's ticket resolved, and a deal and a ticket opened (and moved)."""
    bob = deals.get(store, 4)
    deals.move(at(store, "2026-12-03T09:00Z"), bob, "gagne")
    deals.move(at(store, "2026-12-03T10:00Z"), deals.get(store, 3), "nouveau", reopen=True)
    deals.move(at(store, "2026-12-04T09:00Z"), deals.get(store, 8), "resolu")
    late = opened(store, "2026-12-05T09:00Z", "Hugo plus tard", "cleo", amount="900",
                  expected_close="20/12/2026")  # fmt: skip
    deals.move(at(store, "2026-12-06T09:00Z"), late, "perdu", reason="prix")
    opened(store, "2026-12-05T09:00Z", "Ida plus tard", "eve", priority="high")
    return at(store, NOW)


def test_forecast_by_month_weighs_open_deals_and_adds_what_was_won(store):
    after_now(store)
    report = forecast(store)
    zero = Decimal("0")
    assert report.rows == [
        {"month": "2026-11", "deals": 0, "amount": zero, "weighted": zero,
         "won": Decimal("2000")},  # Cleo, by month of closing
        {"month": "2026-12", "deals": 1, "amount": Decimal("1000"), "weighted": Decimal("500"),
         "won": zero},  # not Hugo's, opened after now
        {"month": "2027-01", "deals": 1, "amount": Decimal("500"), "weighted": Decimal("400"),
         "won": zero},  # Bob, won after now: open as of now
        {"month": None, "deals": 1, "amount": Decimal("700"), "weighted": Decimal("70"),
         "won": zero},  # Dan: no expected close; in nouveau (10 %) as of now
    ]  # fmt: skip
    assert report.totals == {"month": "total", "deals": 3, "amount": Decimal("2200"),
                             "weighted": Decimal("970"), "won": Decimal("2000")}  # fmt: skip
    assert report.notes == ["won amounts are by month of closing"]


def test_forecast_by_owner_names_the_members_and_nobody(store):
    report = forecast(store, "owner")
    assert [(r["owner"], r["name"], r["deals"], r["amount"], r["weighted"], r["won"])
            for r in report.rows] == [
        ("marie", "Marie Dupont", 1, Decimal("1000"), Decimal("500"), Decimal("0")),
        ("paul", "Paul Martin", 2, Decimal("1200"), Decimal("470"), Decimal("0")),  # Dan 10 %
        (None, "(nobody)", 0, Decimal("0"), Decimal("0"), Decimal("2000")),
    ]  # fmt: skip


def test_funnel_counts_the_deals_that_reached_each_stage_and_their_median_stay(store):
    after_now(store)
    report = funnel(store)
    # As of now: Dan has not reached essai, nor Bob gagne; Hugo is not there yet.
    # No stage has required checklist items: no wait on them (nothing, not 0).
    no_items = {"items_median_hours": None, "items_measured": None, "items_waiting": None}
    assert report.rows == [
        {"stage": "nouveau", "name": "Nouveau", "reached": 5, "to_next": 0.4, "drop_off": 0.6,
         "from_first": 1.0, "median_days": 2.0, **no_items},  # stays of 2, 2 and 4 days
        {"stage": "essai", "name": "Essai", "reached": 2, "to_next": 0.5, "drop_off": 0.5,
         "from_first": 0.4, "median_days": 36.0, **no_items},  # Cleo's only
        {"stage": "gagne", "name": "Gagné", "reached": 1, "to_next": None, "drop_off": None,
         "from_first": 0.2, "median_days": None, **no_items},
    ]  # fmt: skip


def test_funnel_since_a_day_counts_the_deals_created_from_then(store):
    after_now(store)
    report = funnel(store, since=datetime(2026, 11, 2).date())
    # the lost deal, Bob and Dan; Dan's move and Hugo's stays are after now
    assert [(r["stage"], r["reached"], r["median_days"]) for r in report.rows] == [
        ("nouveau", 3, 2.0), ("essai", 0, None), ("gagne", 0, None),
    ]  # fmt: skip


def test_losses_group_the_lost_deals_by_stage_and_reason(store):
    assert [(r["stage"], r["reason"], r["deals"]) for r in losses(store).rows] == [
        ("nouveau", "prix", 1)
    ]
    after_now(store)  # the lost deal, reopened after now, is lost as of now; Hugo is not yet
    report = losses(store)
    # (reopening cleared its reason, which no history keeps)
    assert report.rows == [{"lost_from": "Nouveau", "stage": "nouveau", "reason": None,
                            "deals": 1, "amount": Decimal("300")}]  # fmt: skip
    assert report.totals == {"lost_from": "total", "deals": 1, "amount": Decimal("300")}


def test_stalled_lists_the_deals_past_their_stage_rot_after_as_of_now(store):
    report = stalled(store)  # not Bob (1 day of 3), nor Dan (in essai since after now)
    assert report.rows == [
        {"id": 2, "title": "Anna essai", "contact": "anna@units.example", "pipeline": "ventes",
         "stage": "essai", "stage_name": "Essai", "days_in_stage": 28, "days_overdue": 21,
         "owner": "marie", "next_step": None, "amount": Decimal("1000")},
    ]  # fmt: skip
    assert report.totals == {"title": "total: 1 deal", "amount": Decimal("1000")}
    tickets = stalled(store, kind="ticket")
    assert [(r["id"], r["subject"], r["days_in_stage"], r["days_overdue"])
            for r in tickets.rows] == [(8, "Gus a perdu sa clé", 2, 1)]  # fmt: skip
    assert "amount" not in [c.key for c in tickets.columns]  # a ticket has none (was £0.00)
    assert tickets.totals == {"subject": "total: 1 ticket"}


def test_response_times_count_only_what_happened_by_now(store):
    after_now(store)
    report = response(store)
    # Fay's cancelled email is no answer; her email and her move after now do not count yet,
    # nor does Gus's resolution (open as of now), nor Ida's ticket, opened after now.
    assert report.rows == [
        {"priority": "high", "tickets": 1, "open": 0, "first_response_hours": 2.0,
         "resolved": 1, "resolution_hours": 24.0},
        {"priority": "normal", "tickets": 1, "open": 1, "first_response_hours": None,
         "resolved": 0, "resolution_hours": None},
        {"priority": "low", "tickets": 1, "open": 1, "first_response_hours": None,
         "resolved": 0, "resolution_hours": None},
    ]  # fmt: skip
    assert report.totals == {"priority": "total", "tickets": 3, "open": 2,
                             "first_response_hours": 2.0, "resolved": 1,
                             "resolution_hours": 24.0}  # fmt: skip


def test_workload_counts_open_deals_and_tasks_overdue_as_of_now(store):
    after_now(store)
    tasks.add(at(store, "2026-12-02T09:00Z"), "Plus tard", "marie")  # created after now
    late = tasks.add(at(store, "2026-11-25T09:00Z"), "Fini demain", "paul",
                     datetime.fromisoformat("2026-11-28T09:00Z"))  # fmt: skip
    tasks.done(at(store, "2026-12-02T10:00Z"), late["id"])  # done after now: open, overdue
    report = workload(at(store, NOW))
    zero = Decimal("0")
    assert report.rows == [
        {"owner": "marie", "name": "Marie Dupont", "open_deals": 1, "amount": Decimal("1000"),
         "weighted": Decimal("500"), "open_tasks": 2, "overdue_tasks": 1},  # one due after now
        {"owner": "paul", "name": "Paul Martin", "open_deals": 2, "amount": Decimal("1200"),
         "weighted": Decimal("470"), "open_tasks": 1, "overdue_tasks": 1},  # one done by now
        {"owner": None, "name": "(nobody)", "open_deals": 0, "amount": zero, "weighted": zero,
         "open_tasks": 1, "overdue_tasks": 1},
    ]  # fmt: skip
    assert report.totals == {"owner": "total", "name": "", "open_deals": 3,
                             "amount": Decimal("2200"), "weighted": Decimal("970"),
                             "open_tasks": 4, "overdue_tasks": 3}  # fmt: skip


def test_activity_lists_failed_runs_and_messages_first_then_pages_the_rest(store, monkeypatch):
    monkeypatch.setattr(activity_module, "PAGE", 2)
    first = activity(store)
    assert [r["id"] for r in first.failed_runs] == [2]
    assert first.failed_runs[0] == {
        "id": 2, "workflow": "relance", "status": "failed", "reason": "boom", "contact_id": 1,
        "contact": "anna@units.example", "deal_id": 2, "next_step": None, "wake_at": None,
        "started_at": "2026-11-04T09:00:00+00:00", "updated_at": "2026-11-04T09:00:00+00:00",
    }  # fmt: skip
    assert [r["id"] for r in first.runs] == [3, 1]
    assert [(m["id"], m["status"], m["last_error"]) for m in first.failed_messages] == [
        (5, "failed", "550 no such user")
    ]
    assert [m["id"] for m in first.messages] == [4, 3]  # the newest first
    assert first.more  # messages #2 and #1 are on the next page
    second = activity(store, page=1)
    assert ([r["id"] for r in second.runs], [m["id"] for m in second.messages]) == ([], [2, 1])
    assert [r["id"] for r in second.failed_runs] == [2]  # failed ones on every page
    assert not second.more


def test_a_deal_has_its_runs_with_their_trace_and_its_emails(store):
    runs = deal_runs(store, 2)
    assert [(r["id"], r["status"]) for r in runs] == [(2, "failed"), (1, "done")]
    assert runs[1]["trace"] == [
        {"at": "2026-11-03T09:00:00+00:00", "step": "mail", "action": "send_email",
         "outcome": "done", "detail": "queued"}
    ]  # fmt: skip
    # its runs' emails (#5 to someone else), and the one to its contact (#4, of run #1)
    assert [m["id"] for m in deal_messages(store, 2)] == [5, 4]
    assert deal_runs(store, 4) == [] and deal_messages(store, 4) == []


def test_a_median_wait_read_while_ticks_change_is_refused_not_wrong(store):
    """The funnel reads the waits' buckets, then the ticks of the bucket holding the
    middle: ticks deleted between the two reads leave fewer than counted, and the median is
    refused (the funnel then reads every wait) rather than taken from the wrong rank."""
    from salesflow.reports.funnel import _median

    with pytest.raises(LookupError):
        _median(store, "ventes", "essai", [(0, 3)], [])  # 3 counted, none left
