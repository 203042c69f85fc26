"""The database schema, as forward-only migrations numbered by SQLite's `user_version`.

Never edit a migration that has shipped: add the next one. An old database opens with a newer
salesflow and is upgraded in place, one transaction per migration, keeping every row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

from salesflow.errors import UserError

if TYPE_CHECKING:
    import sqlite_utils


def _v1_contacts_deals_events(db: sqlite_utils.Database) -> None:
    # Custom fields are one JSON column: they are declared in salesflow.yaml and change with
    # it, so a new field needs no migration; json_extract() still reaches them in SQL.
    db["contacts"].create(
        {
            "id": int, "email": str, "first_name": str, "last_name": str, "phone": str,
            "company": str, "owner": str, "source": str, "tags": str, "fields": str,
            "unsubscribed_at": str, "created_at": str, "updated_at": str,
        },
        pk="id", not_null={"email", "created_at", "updated_at"},
        defaults={"tags": "[]", "fields": "{}"},
    )  # fmt: skip
    db["contacts"].create_index(["email"], unique=True)
    db["deals"].create(
        {
            "id": int, "pipeline": str, "stage": str, "status": str, "title": str,
            "contact_id": int, "owner": str, "amount": int, "currency": str,
            "probability": int, "created_at": str, "expected_close": str, "closed_at": str,
            "next_step": str, "lost_reason": str, "stage_entered_at": str, "fields": str,
        },
        pk="id",
        not_null={"pipeline", "stage", "status", "title", "created_at", "stage_entered_at"},
        defaults={"status": "open", "fields": "{}"},
        foreign_keys=[("contact_id", "contacts", "id")],
    )  # fmt: skip
    db["stage_history"].create(
        {"id": int, "deal_id": int, "from_stage": str, "to_stage": str, "at": str, "by": str},
        pk="id", not_null={"deal_id", "to_stage", "at"},
        foreign_keys=[("deal_id", "deals", "id")],
    )  # fmt: skip
    db["events"].create(
        {
            "id": int, "type": str, "key": str, "subject_type": str, "subject_id": int,
            "data": str, "created_at": str, "processed_at": str,
        },
        pk="id", not_null={"type", "data", "created_at"}, defaults={"data": "{}"},
    )  # fmt: skip
    db["events"].create_index(["key"], unique=True)
    db["deals"].create_index(["contact_id", "pipeline", "status"])
    db["stage_history"].create_index(["deal_id", "at"])


def _v2_tasks_and_report_indexes(db: sqlite_utils.Database) -> None:
    db["tasks"].create(
        {
            "id": int, "title": str, "contact_id": int, "deal_id": int, "assignee": str,
            "due_at": str, "done_at": str, "created_at": str, "created_by": str,
        },
        pk="id", not_null={"title", "created_at"},
        foreign_keys=[("contact_id", "contacts", "id"), ("deal_id", "deals", "id")],
    )  # fmt: skip
    db["tasks"].create_index(["assignee", "done_at", "due_at"])
    db["deals"].create_index(["status", "pipeline", "stage", "stage_entered_at"])
    db["deals"].create_index(["owner", "status"])
    db["stage_history"].create_index(["to_stage", "deal_id"])
    db["contacts"].create_index(["owner"])
    db["events"].create_index(["processed_at", "id"])


def _v3_funnel_summaries(db: sqlite_utils.Database) -> None:
    """What the funnel and losses need, kept with each move so that they never re-read the
    whole history: each history row's pipeline and the length of the stay it ended; each
    deal's set of stages entered (a bit per stage, bits numbered once and for all in
    stage_bits, so reordering stages in the YAML changes nothing) and the stage it was lost
    from."""
    db["stage_history"].add_column("pipeline", str)
    db["stage_history"].add_column("stay_seconds", float)
    db["deals"].add_column("stages_mask", int, not_null_default=0)
    db["deals"].add_column("lost_from", str)
    db["stage_bits"].create({"pipeline": str, "stage": str, "bit": int}, pk=("pipeline", "stage"))
    db.execute(
        "UPDATE stage_history SET pipeline = (SELECT pipeline FROM deals WHERE id = deal_id)"
    )
    db.execute(
        "WITH stays AS (SELECT id, (julianday(at) - julianday(lag(at) OVER"
        " (PARTITION BY deal_id ORDER BY at, id))) * 86400 AS seconds FROM stage_history)"
        " UPDATE stage_history SET stay_seconds = (SELECT seconds FROM stays"
        " WHERE stays.id = stage_history.id)"
    )
    db.execute(
        "INSERT INTO stage_bits (pipeline, stage, bit) SELECT pipeline, to_stage,"
        " row_number() OVER (PARTITION BY pipeline ORDER BY min(id)) - 1"
        " FROM stage_history GROUP BY pipeline, to_stage"
    )
    db.execute(
        "UPDATE deals SET stages_mask = coalesce((SELECT sum(DISTINCT 1 << b.bit)"
        " FROM stage_history h JOIN stage_bits b ON b.pipeline = h.pipeline"
        " AND b.stage = h.to_stage WHERE h.deal_id = deals.id), 0)"
    )
    db.execute(
        "UPDATE deals SET lost_from = (SELECT from_stage FROM stage_history"
        " WHERE deal_id = deals.id ORDER BY at DESC, id DESC LIMIT 1) WHERE status = 'lost'"
    )
    db["stage_history"].create_index(["pipeline", "from_stage", "stay_seconds"])
    db["deals"].create_index(["pipeline", "stage", "amount"])
    db["deals"].create_index(["pipeline", "stage", "closed_at"])
    db["deals"].create_index(["status", "lost_from", "lost_reason"])


def _v4_inbox_files(db: sqlite_utils.Database) -> None:
    """Inbox files whose content went in: recorded in the same transaction as the content,
    so a file found half-moved after a crash is finished, never processed twice."""
    db["inbox_files"].create(
        {"sha256": str, "name": str, "outcome": str, "processed_at": str}, pk="sha256"
    )


def _v5_runs_and_outbox(db: sqlite_utils.Database) -> None:
    """The workflow engine: runs with their cursor and trace, the outbox, rotation state."""
    db["events"].add_column("depth", int, not_null_default=0)
    db["events"].add_column("note", str)
    db["runs"].create(
        {
            "id": int, "workflow": str, "workflow_hash": str, "subject": str,
            "contact_id": int, "deal_id": int, "event_id": int, "depth": int, "status": str,
            "reason": str, "cursor": str, "wake_at": str, "anchor": str,
            "started_at": str, "updated_at": str,
        },
        pk="id", not_null={"workflow", "status", "started_at", "updated_at"},
        defaults={"depth": 0},
    )  # fmt: skip
    db["runs"].create_index(["status", "wake_at"])
    db["runs"].create_index(["workflow", "contact_id"])
    db["runs"].create_index(["workflow", "deal_id"])
    db["runs"].create_index(["contact_id", "status"])
    db["runs"].create_index(["deal_id", "status"])
    db["run_steps"].create(
        {"id": int, "run_id": int, "step": str, "action": str, "outcome": str,
         "detail": str, "at": str},
        pk="id", not_null={"run_id", "outcome", "at"},
    )  # fmt: skip
    db["run_steps"].create_index(["run_id", "id"])
    db["outbox"].create(
        {
            "id": int, "run_id": int, "step": str, "message_id": str, "sender": str,
            "reply_to": str, "to_addr": str, "to_name": str, "subject": str, "text": str,
            "html": str, "headers": str, "attachments": str, "status": str, "attempts": int,
            "next_attempt_at": str, "last_error": str, "created_at": str, "sent_at": str,
        },
        pk="id", not_null={"message_id", "to_addr", "subject", "text", "status", "created_at"},
        defaults={"status": "queued", "attempts": 0, "headers": "{}", "attachments": "[]"},
    )  # fmt: skip
    db["outbox"].add_column("claimed_until", str)
    db["outbox"].create_index(["status", "next_attempt_at"])
    db["outbox"].create_index(["message_id"], unique=True)
    db["rotations"].create({"key": str, "position": int}, pk="key")
    db["schedules"].create({"workflow": str, "last_slot": str, "fired_at": str}, pk="workflow")
    db["deals"].add_column("stalled_for", str)  # the stage entry a deal.stalled was sent for


def _v6_failure_states(db: sqlite_utils.Database) -> None:
    """Failure is a state: an event that could not be handled is kept with its error (and
    skipped by later passes until retried); an outbox claim names the pass that holds it."""
    db["events"].add_column("failed_at", str)
    db["events"].add_column("error", str)
    db["events"].create_index(["failed_at"])
    db["outbox"].add_column("claimed_by", str)


def _v7_no_failed_at_index(db: sqlite_utils.Database) -> None:
    """The index on failed_at (NULL for nearly every event) led SQLite to read every event
    ever recorded, then sort them, for each batch of `process`: 7 ms a batch at 10,000
    events, growing with history. Without it, (processed_at, id) reads the pending ones in
    order."""
    db.execute("DROP INDEX idx_events_failed_at")


def _v8_rejects_and_secrets(db: sqlite_utils.Database) -> None:
    """Submissions that could not go in are kept as received (from the web, `ingest` and the
    inbox), to be listed and retried after a fix; the secret that signs links is kept here,
    never in YAML or Git, so `serve` and a cron `run` sign alike."""
    db["rejects"].create(
        {
            "id": int, "source": str, "form": str, "received_at": str, "body": str,
            "error": str, "retried_at": str, "event_id": int,
        },
        pk="id", not_null={"source", "received_at", "body", "error"},
    )  # fmt: skip
    db["secrets"].create({"name": str, "value": str, "created_at": str}, pk="name")


def _v9_web_pages(db: sqlite_utils.Database) -> None:
    """Team members' password hashes for the web pages (never in YAML or Git); a deal's page
    finds its emails by run and by recipient."""
    db["passwords"].create(
        {"member": str, "hash": str, "changed_at": str},
        pk="member", not_null={"hash", "changed_at"},
    )  # fmt: skip
    db["outbox"].create_index(["run_id"])
    db["outbox"].create_index(["to_addr"])


def _v10_outgoing_requests(db: sqlite_utils.Database) -> None:
    """The outbox also carries the `http` steps' requests: one queue, one delivery pass, one
    place to see and retry what did not leave. `request` keeps the URL and headers with their
    `{{ env.NAME }}` references unresolved; `response` is what the other end answered."""
    db["outbox"].add_column("kind", str, not_null_default="email")
    db["outbox"].add_column("request", str)
    db["outbox"].add_column("response", str)


def _v11_tickets(db: sqlite_utils.Database) -> None:
    """Tickets move through pipelines as deals do, with the same history, stalls and board:
    they are pipeline records in the same table (their pipeline's `object` says which),
    with a priority."""
    db["deals"].add_column("priority", str)


def _v12_sessions(db: sqlite_utils.Database) -> None:
    """The pages' sessions, so that logout, a new password and idleness end one at once (a
    signed cookie alone stayed valid until it expired). `id` is the SHA-256 of the cookie's
    random id, never the id itself: a copy of the database opens no session."""
    db["sessions"].create(
        {"id": str, "member": str, "created_at": str, "last_seen_at": str},
        pk="id", not_null={"member", "created_at", "last_seen_at"},
    )  # fmt: skip


def _v13_rejects_by_source(db: sqlite_utils.Database) -> None:
    """A file ingested again keeps its bad submissions once: they are looked up by source and
    body (an index, so a file of many bad rows stays linear)."""
    db["rejects"].create_index(["source", "body"])


def _v14_schedule_fires(db: sqlite_utils.Database) -> None:
    """A scheduled workflow fires once per slot however many hosts tick: whoever inserts the
    slot's row fires it (store/schedules.py)."""
    db.create_table(
        "schedule_fires", {"workflow": str, "slot": str, "fired_at": str},
        pk=("workflow", "slot"), not_null={"fired_at"},
    )  # fmt: skip


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _v1_contacts_deals_events,
    _v2_tasks_and_report_indexes,
    _v3_funnel_summaries,
    _v4_inbox_files,
    _v5_runs_and_outbox,
    _v6_failure_states,
    _v7_no_failed_at_index,
    _v8_rejects_and_secrets,
    _v9_web_pages,
    _v10_outgoing_requests,
    _v11_tickets,
    _v12_sessions,
    _v13_rejects_by_source,
    _v14_schedule_fires,
]


def schema_version(connection: sqlite3.Connection) -> int:
    return connection.execute("PRAGMA user_version").fetchone()[0]


def migrate(connection: sqlite3.Connection, upto: int | None = None) -> None:
    """Apply the migrations the database has not had yet (all of them, or up to `upto`)."""
    target = len(MIGRATIONS) if upto is None else upto
    current = schema_version(connection)
    if current > len(MIGRATIONS):
        raise UserError(
            f"the database has schema version {current}, newer than this salesflow knows"
            f" ({len(MIGRATIONS)}): upgrade salesflow"
        )
    if current >= target:
        return
    import sqlite_utils  # only when there is something to migrate: it costs ~30 ms to import

    db = sqlite_utils.Database(connection)
    for version in range(current + 1, target + 1):
        connection.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(connection) < version:  # another process may have done it
                MIGRATIONS[version - 1](db)
                connection.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
