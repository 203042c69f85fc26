"""The store's side of `import`, and the other store functions ingest and the CLI call: each
on a real SQLite file of the demo project, with exact counts and rows."""

from __future__ import annotations

import json

import pytest
from conftest import open_project

from salesflow import clock
from salesflow.ingest.importer import ImportOptions, import_csv
from salesflow.store import contacts, deals, events, imports, inbox, outbox, runs
from salesflow.store.db import transaction
from salesflow.store.session import Store

pytestmark = pytest.mark.engines


@pytest.fixture
def store(demo) -> Store:
    project = open_project(demo)
    opened = Store.open(project, clock.now("2026-11-20T10:00", project.timezone))
    yield opened
    opened.conn.close()


def row(email, first=None, last=None, phone=None, tags="[]", fields="{}") -> tuple:
    """A contact row as the importer stages it (the order of imports.CONTACT_COLUMNS)."""
    return (email, first, last, phone, None, None, None, tags, fields)


def seed(store: Store) -> None:
    """Two contacts from before the import, then the import's own moment."""
    with transaction(store.conn):
        contacts.add(store, "ann@example.org", {"first_name": "Ann"})
        contacts.add(store, "bob@example.org", {"first_name": "Bob"})
    store.now = clock.now("2026-11-21T10:00", store.project.timezone)


def run_import(store: Store, batches, overwrite=False, deal_target=None) -> imports.Counts:
    with transaction(store.conn):
        staging = imports.start(store, deal_target is not None, overwrite)
        for batch, deal_values in batches:
            imports.stage(store, staging, batch, deal_values)
        imports.settle(store)
        counted = imports.counts(store, staging)
        if deal_target:
            imports.open_deals(store, staging, *deal_target, with_events=True)
        imports.record_contact_events(store, staging)
        imports.finish(store)
    return counted


def events_after(store: Store, event_id: int) -> list[tuple]:
    return [
        (r["type"], r["subject_id"], json.loads(r["data"]))
        for r in store.conn.execute("SELECT * FROM events WHERE id > ? ORDER BY id", (event_id,))
    ]


def test_an_import_counts_created_updated_unchanged_and_duplicate_rows(store):
    seed(store)
    rows = [
        row("ann@example.org", first="Ann"),  # what Ann holds: unchanged
        row("bob@example.org", phone="0102030405"),  # a blank filled: updated
        row("cid@example.org", first="Cid"),  # new: created
    ]
    again = [row("cid@example.org", last="Lee")]  # the same email, in a later batch
    counted = run_import(store, [(rows, []), (again, [])])
    assert counted == imports.Counts(created=1, updated=1, unchanged=1, duplicates=1)
    cid = contacts.get(store, "cid@example.org")
    assert (cid["first_name"], cid["last_name"]) == ("Cid", "Lee")
    assert contacts.get(store, "ann@example.org")["updated_at"].startswith("2026-11-20")
    assert events_after(store, 2) == [
        ("contact.created", cid["id"],
         {"email": "cid@example.org", "source": None, "by": "import"}),
        ("contact.updated", 2, {"email": "bob@example.org", "changed": ["phone"], "by": "import"}),
    ]  # fmt: skip


def test_rows_that_undo_each_other_leave_the_contact_unchanged_and_untouched(store):
    seed(store)
    before = contacts.get(store, "ann@example.org")
    rows = [row("ann@example.org", first="Anne"), row("ann@example.org", first="Ann")]
    counted = run_import(store, [(rows, [])], overwrite=True)
    assert counted == imports.Counts(created=0, updated=0, unchanged=1, duplicates=1)
    assert tuple(contacts.get(store, "ann@example.org")) == tuple(before)
    assert events_after(store, 2) == []


def test_an_import_opens_a_deal_for_each_new_contact_with_its_history_and_event(store):
    seed(store)
    pipeline = store.project.pipelines["cours-essai"]
    rows = [row("bob@example.org", phone="0102030405"), row("cid@example.org", first="Cid")]
    deal_values = [("bob@example.org", None, None, None), ("cid@example.org", None, 4500, None)]
    run_import(store, [(rows, deal_values)], deal_target=(pipeline, pipeline.stages[0]))
    opened = store.conn.execute("SELECT * FROM deals").fetchall()
    assert [(d["title"], d["amount"], d["stage"], d["status"]) for d in opened] == [
        ("Cid", 4500, "nouveau", "open")
    ]
    history = store.conn.execute("SELECT from_stage, to_stage, by FROM stage_history").fetchall()
    assert [tuple(h) for h in history] == [(None, "nouveau", "import")]
    assert [e for e in events_after(store, 2) if e[0] == "deal.created"] == [
        ("deal.created", opened[0]["id"],
         {"pipeline": "cours-essai", "stage": "nouveau", "by": "import"}),
    ]  # fmt: skip


def test_lookup_gives_a_batchs_contacts_as_they_stand_and_whether_the_import_met_them(store):
    seed(store)
    bob = ("bob@example.org", "Bob", None, None, None, None, None, "[]", "{}", 2)
    with transaction(store.conn, dry_run=True):
        staging = imports.start(store, False, False)
        first = imports.lookup(store, staging, ["bob@example.org", "nobody@example.org"])
        imports.stage(store, staging, [row("bob@example.org"), row("cid@example.org")], [])
        again = imports.lookup(store, staging, ["bob@example.org", "cid@example.org"])
    assert first == {"bob@example.org": (*bob, None)}  # None: not met yet
    assert again["bob@example.org"] == (*bob, 0)  # met, and there before
    assert again["cid@example.org"][-1] == 1  # created by the import


def test_a_small_csv_lands_with_exact_counts_and_events(store, tmp_path):
    seed(store)
    csv = tmp_path / "prospects.csv"
    csv.write_text(
        "email,first_name,phone\n"
        "ann@example.org,Ann,\n"
        "bob@example.org,,0102030405\n"
        "cid@example.org,Cid,\n"
        "CID@example.org,,0600000000\n"
        "not-an-email,Zed,\n",
        encoding="utf-8",
    )
    result = import_csv(store, csv, ImportOptions())
    assert (result.rows, result.created, result.updated, result.unchanged) == (5, 1, 1, 1)
    assert (result.duplicates, result.rejected) == (1, 1)
    assert [(kind, data["email"]) for kind, _, data in events_after(store, 2)] == [
        ("contact.created", "cid@example.org"),
        ("contact.updated", "bob@example.org"),
    ]


def test_the_inbox_remembers_a_file_by_its_digest_once(store):
    assert not inbox.seen(store, "ab" * 32)
    with transaction(store.conn):
        inbox.record_done(store, "ab" * 32, "leads/first.csv")
        inbox.record_done(store, "ab" * 32, "leads/again.csv")  # the same bytes: kept once
    assert inbox.seen(store, "ab" * 32)
    names = store.conn.execute("SELECT name, outcome FROM inbox_files").fetchall()
    assert [tuple(n) for n in names] == [("leads/first.csv", "done")]


def test_an_event_is_found_by_its_key_and_all_are_marked_processed(store):
    with transaction(store.conn):
        store.record_event("form.submitted", None, None, {"n": 1}, key="k1")
        second = store.record_event("form.submitted", None, None, {"n": 2}, key="k2")
        assert events.id_by_key(store, "k2") == second
        assert events.mark_all_processed(store) == 2
    assert events.listing(store, "pending") == []


def test_a_contacts_latest_deal_is_its_newest_open_one_else_its_newest(store):
    with transaction(store.conn):
        ann = contacts.add(store, "ann@example.org", {"first_name": "Ann"})
        assert deals.latest_of_contact(store, ann["id"]) is None
        first = deals.add(store, "Essai", ann["id"], "cours-essai", None)
        second = deals.add(store, "Essai 2", ann["id"], "cours-essai", None)
        assert deals.latest_of_contact(store, ann["id"]) == second["id"]
        deals.close(store, second, "lost", "trop loin")
        assert deals.latest_of_contact(store, ann["id"]) == first["id"]


def test_the_outbox_listing_filters_by_status_and_kind_newest_first(store):
    with transaction(store.conn):
        for message, status, kind in ((1, "sent", "email"), (2, "failed", "http"),
                                      (3, "failed", "email"), (4, "failed", "http")):  # fmt: skip
            store.conn.execute(
                "INSERT INTO outbox (message_id, to_addr, subject, text, status, kind, created_at)"
                " VALUES (?, 'ann@example.org', 'Hello', '', ?, ?, ?)",
                (f"<{message}@example.org>", status, kind, store.stamp),
            )
    assert [r["id"] for r in outbox.listing(store)] == [4, 3, 2, 1]
    assert [r["id"] for r in outbox.listing(store, status="failed")] == [4, 3, 2]
    assert [r["id"] for r in outbox.listing(store, status="failed", kind="http")] == [4, 2]


def test_runs_are_listed_with_their_contacts_email_and_counted_while_under_way(store):
    with transaction(store.conn):
        ann = contacts.add(store, "ann@example.org", {"first_name": "Ann"})
        for workflow, status, contact, wake in (
            ("relance", "waiting", ann["id"], "2026-11-25T10:00:00Z"),
            ("relance", "done", None, None),
            ("bienvenue", "waiting", ann["id"], "2026-11-21T10:00:00Z"),
            ("bienvenue", "running", None, None),
        ):
            store.conn.execute(
                "INSERT INTO runs (workflow, status, contact_id, wake_at, started_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (workflow, status, contact, wake, store.stamp, store.stamp),
            )
    assert [r["id"] for r in runs.listing(store)] == [4, 3, 2, 1]
    waiting = runs.listing(store, status="waiting", soonest_first=True)
    assert [(r["id"], r["contact_email"]) for r in waiting] == [
        (3, "ann@example.org"), (1, "ann@example.org")
    ]  # fmt: skip
    assert [r["id"] for r in runs.listing(store, workflow="relance", contact_id=ann["id"])] == [1]
    assert runs.with_contact(store, 3)["contact_email"] == "ann@example.org"
    assert runs.with_contact(store, 99) is None
    assert runs.active_by_workflow(store) == {"relance": 1, "bienvenue": 2}


def test_rows_that_change_nothing_are_not_written_at_all(store):
    """Only SQLite can show the statements a connection runs: no upsert is sent when every
    row holds what its contact holds (the rows are compared first)."""
    if store.conn.dialect != "sqlite":
        pytest.skip("the statements a connection runs are shown by SQLite only")
    seed(store)
    statements = []
    store.conn.set_trace_callback(statements.append)
    counted = run_import(
        store, [([row("ann@example.org", first="Ann"), row("bob@example.org")], [])]
    )
    store.conn.set_trace_callback(None)
    assert counted == imports.Counts(created=0, updated=0, unchanged=2, duplicates=0)
    assert not [sql for sql in statements if sql.startswith("INSERT INTO contacts")]


def test_rows_of_later_batches_that_undo_a_change_leave_the_contact_unchanged(store):
    seed(store)
    before = contacts.get(store, "ann@example.org")
    batches = [
        ([row("ann@example.org", first="Anne")], []),
        ([row("ann@example.org", first="Ann")], []),
    ]
    counted = run_import(store, batches, overwrite=True)
    assert counted == imports.Counts(created=0, updated=0, unchanged=1, duplicates=1)
    assert tuple(contacts.get(store, "ann@example.org")) == tuple(before)
    assert events_after(store, 2) == []


def test_tags_a_contact_has_already_change_nothing_and_a_new_one_is_an_update(store):
    seed(store)
    run_import(store, [([row("ann@example.org", tags='["chorale", "salon"]')], [])])
    store.now = clock.now("2026-11-22T10:00", store.project.timezone)
    held = run_import(store, [([row("ann@example.org", tags='["salon"]')], [])])
    assert (held.updated, held.unchanged) == (0, 1)
    added = run_import(store, [([row("ann@example.org", tags='["jazz"]')], [])])
    assert (added.updated, added.unchanged) == (1, 0)
    tags = json.loads(contacts.get(store, "ann@example.org")["tags"])
    assert tags == ["chorale", "jazz", "salon"]


def test_after_an_import_the_connection_keeps_its_temporary_storage_in_memory(store, tmp_path):
    """The import's scratch tables go to a file (a million rows' notes would stay in memory);
    savepoints' journals after it stay in memory, as the connection was opened."""
    if store.conn.dialect != "sqlite":
        pytest.skip("PostgreSQL keeps temporary tables on the server")
    csv = tmp_path / "one.csv"
    csv.write_text("email\nana@example.org\n", encoding="utf-8")
    import_csv(store, csv, ImportOptions())
    assert store.conn.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY
