"""The database schema, as forward-only migrations: one list for SQLite and PostgreSQL,
written with the operations of `Schema`, numbered by SQLite's `user_version` or PostgreSQL's
one-row `schema_version` table.

Never edit a migration that has shipped: add the next one. An old database opens with a newer
salesflow and is upgraded in place, one transaction per migration, keeping every row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from salesflow.errors import UserError
from salesflow.store.schema import Executor, Schema, dialect_of


def _existing_rows(sql: str) -> dict[str, str | None]:
    """A data step of a migration older than PostgreSQL support (≤ 13), filling what it adds
    from the rows already there: only an old SQLite database has any, as every PostgreSQL
    database was created at 13 or later. A later data step must run on both engines."""
    return {"sqlite": sql, "postgresql": None}


def _v1_contacts_deals_events(schema: Schema) -> None:
    # Custom fields are one JSON column: they are declared in salesflow.yaml and change with
    # it, so a new field needs no migration; json_extract() still reaches them in SQL.
    schema.create_table(
        "contacts",
        {
            "id": int, "email": str, "first_name": str, "last_name": str, "phone": str,
            "company": str, "owner": str, "source": str, "tags": str, "fields": str,
            "unsubscribed_at": str, "created_at": str, "updated_at": str,
        },
        pk="id", not_null={"email", "created_at", "updated_at"},
        defaults={"tags": "[]", "fields": "{}"},
    )  # fmt: skip
    schema.create_index("contacts", ["email"], unique=True)
    schema.create_table(
        "deals",
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
    schema.create_table(
        "stage_history",
        {"id": int, "deal_id": int, "from_stage": str, "to_stage": str, "at": str, "by": str},
        pk="id", not_null={"deal_id", "to_stage", "at"},
        foreign_keys=[("deal_id", "deals", "id")],
    )  # fmt: skip
    schema.create_table(
        "events",
        {
            "id": int, "type": str, "key": str, "subject_type": str, "subject_id": int,
            "data": str, "created_at": str, "processed_at": str,
        },
        pk="id", not_null={"type", "data", "created_at"}, defaults={"data": "{}"},
    )  # fmt: skip
    schema.create_index("events", ["key"], unique=True)
    schema.create_index("deals", ["contact_id", "pipeline", "status"])
    schema.create_index("stage_history", ["deal_id", "at"])


def _v2_tasks_and_report_indexes(schema: Schema) -> None:
    schema.create_table(
        "tasks",
        {
            "id": int, "title": str, "contact_id": int, "deal_id": int, "assignee": str,
            "due_at": str, "done_at": str, "created_at": str, "created_by": str,
        },
        pk="id", not_null={"title", "created_at"},
        foreign_keys=[("contact_id", "contacts", "id"), ("deal_id", "deals", "id")],
    )  # fmt: skip
    schema.create_index("tasks", ["assignee", "done_at", "due_at"])
    schema.create_index("deals", ["status", "pipeline", "stage", "stage_entered_at"])
    schema.create_index("deals", ["owner", "status"])
    schema.create_index("stage_history", ["to_stage", "deal_id"])
    schema.create_index("contacts", ["owner"])
    schema.create_index("events", ["processed_at", "id"])


def _v3_funnel_summaries(schema: Schema) -> None:
    """What the funnel and losses need, kept with each move so that they never re-read the
    whole history: each history row's pipeline and the length of the stay it ended; each
    deal's set of stages entered (a bit per stage, bits numbered once and for all in
    stage_bits, so reordering stages in the YAML changes nothing) and the stage it was lost
    from."""
    schema.add_column("stage_history", "pipeline", str)
    schema.add_column("stage_history", "stay_seconds", float)
    schema.add_column("deals", "stages_mask", int, default=0)
    schema.add_column("deals", "lost_from", str)
    schema.create_table(
        "stage_bits", {"pipeline": str, "stage": str, "bit": int}, pk=("pipeline", "stage")
    )
    schema.execute(
        _existing_rows(
            "UPDATE stage_history SET pipeline = (SELECT pipeline FROM deals WHERE id = deal_id)"
        )
    )
    schema.execute(
        _existing_rows(
            "WITH stays AS (SELECT id, (julianday(at) - julianday(lag(at) OVER"
            " (PARTITION BY deal_id ORDER BY at, id))) * 86400 AS seconds FROM stage_history)"
            " UPDATE stage_history SET stay_seconds = (SELECT seconds FROM stays"
            " WHERE stays.id = stage_history.id)"
        )
    )
    schema.execute(
        _existing_rows(
            "INSERT INTO stage_bits (pipeline, stage, bit) SELECT pipeline, to_stage,"
            " row_number() OVER (PARTITION BY pipeline ORDER BY min(id)) - 1"
            " FROM stage_history GROUP BY pipeline, to_stage"
        )
    )
    schema.execute(
        _existing_rows(
            "UPDATE deals SET stages_mask = coalesce((SELECT sum(DISTINCT 1 << b.bit)"
            " FROM stage_history h JOIN stage_bits b ON b.pipeline = h.pipeline"
            " AND b.stage = h.to_stage WHERE h.deal_id = deals.id), 0)"
        )
    )
    schema.execute(
        _existing_rows(
            "UPDATE deals SET lost_from = (SELECT from_stage FROM stage_history"
            " WHERE deal_id = deals.id ORDER BY at DESC, id DESC LIMIT 1) WHERE status = 'lost'"
        )
    )
    schema.create_index("stage_history", ["pipeline", "from_stage", "stay_seconds"])
    schema.create_index("deals", ["pipeline", "stage", "amount"])
    schema.create_index("deals", ["pipeline", "stage", "closed_at"])
    schema.create_index("deals", ["status", "lost_from", "lost_reason"])


def _v4_inbox_files(schema: Schema) -> None:
    """Inbox files whose content went in: recorded in the same transaction as the content,
    so a file found half-moved after a crash is finished, never processed twice."""
    schema.create_table(
        "inbox_files",
        {"sha256": str, "name": str, "outcome": str, "processed_at": str},
        pk="sha256",
    )


def _v5_runs_and_outbox(schema: Schema) -> None:
    """The workflow engine: runs with their cursor and trace, the outbox, rotation state."""
    schema.add_column("events", "depth", int, default=0)
    schema.add_column("events", "note", str)
    schema.create_table(
        "runs",
        {
            "id": int, "workflow": str, "workflow_hash": str, "subject": str,
            "contact_id": int, "deal_id": int, "event_id": int, "depth": int, "status": str,
            "reason": str, "cursor": str, "wake_at": str, "anchor": str,
            "started_at": str, "updated_at": str,
        },
        pk="id", not_null={"workflow", "status", "started_at", "updated_at"},
        defaults={"depth": 0},
    )  # fmt: skip
    schema.create_index("runs", ["status", "wake_at"])
    schema.create_index("runs", ["workflow", "contact_id"])
    schema.create_index("runs", ["workflow", "deal_id"])
    schema.create_index("runs", ["contact_id", "status"])
    schema.create_index("runs", ["deal_id", "status"])
    schema.create_table(
        "run_steps",
        {"id": int, "run_id": int, "step": str, "action": str, "outcome": str,
         "detail": str, "at": str},
        pk="id", not_null={"run_id", "outcome", "at"},
    )  # fmt: skip
    schema.create_index("run_steps", ["run_id", "id"])
    schema.create_table(
        "outbox",
        {
            "id": int, "run_id": int, "step": str, "message_id": str, "sender": str,
            "reply_to": str, "to_addr": str, "to_name": str, "subject": str, "text": str,
            "html": str, "headers": str, "attachments": str, "status": str, "attempts": int,
            "next_attempt_at": str, "last_error": str, "created_at": str, "sent_at": str,
        },
        pk="id", not_null={"message_id", "to_addr", "subject", "text", "status", "created_at"},
        defaults={"status": "queued", "attempts": 0, "headers": "{}", "attachments": "[]"},
    )  # fmt: skip
    schema.add_column("outbox", "claimed_until", str)
    schema.create_index("outbox", ["status", "next_attempt_at"])
    schema.create_index("outbox", ["message_id"], unique=True)
    schema.create_table("rotations", {"key": str, "position": int}, pk="key")
    schema.create_table(
        "schedules", {"workflow": str, "last_slot": str, "fired_at": str}, pk="workflow"
    )
    schema.add_column("deals", "stalled_for", str)  # the stage entry a deal.stalled was sent for


def _v6_failure_states(schema: Schema) -> None:
    """Failure is a state: an event that could not be handled is kept with its error (and
    skipped by later passes until retried); an outbox claim names the pass that holds it."""
    schema.add_column("events", "failed_at", str)
    schema.add_column("events", "error", str)
    schema.create_index("events", ["failed_at"])
    schema.add_column("outbox", "claimed_by", str)


def _v7_no_failed_at_index(schema: Schema) -> None:
    """The index on failed_at (NULL for nearly every event) led SQLite to read every event
    ever recorded, then sort them, for each batch of `process`: 7 ms a batch at 10,000
    events, growing with history. Without it, (processed_at, id) reads the pending ones in
    order."""
    schema.drop_index("idx_events_failed_at")


def _v8_rejects_and_secrets(schema: Schema) -> None:
    """Submissions that could not go in are kept as received (from the web, `ingest` and the
    inbox), to be listed and retried after a fix; the secret that signs links is kept here,
    never in YAML or Git, so `serve` and a cron `run` sign alike."""
    schema.create_table(
        "rejects",
        {
            "id": int, "source": str, "form": str, "received_at": str, "body": str,
            "error": str, "retried_at": str, "event_id": int,
        },
        pk="id", not_null={"source", "received_at", "body", "error"},
    )  # fmt: skip
    schema.create_table("secrets", {"name": str, "value": str, "created_at": str}, pk="name")


def _v9_web_pages(schema: Schema) -> None:
    """Team members' password hashes for the web pages (never in YAML or Git); a deal's page
    finds its emails by run and by recipient."""
    schema.create_table(
        "passwords",
        {"member": str, "hash": str, "changed_at": str},
        pk="member", not_null={"hash", "changed_at"},
    )  # fmt: skip
    schema.create_index("outbox", ["run_id"])
    schema.create_index("outbox", ["to_addr"])


def _v10_outgoing_requests(schema: Schema) -> None:
    """The outbox also carries the `http` steps' requests: one queue, one delivery pass, one
    place to see and retry what did not leave. `request` keeps the URL and headers with their
    `{{ env.NAME }}` references unresolved; `response` is what the other end answered."""
    schema.add_column("outbox", "kind", str, default="email")
    schema.add_column("outbox", "request", str)
    schema.add_column("outbox", "response", str)


def _v11_tickets(schema: Schema) -> None:
    """Tickets move through pipelines as deals do, with the same history, stalls and board:
    they are pipeline records in the same table (their pipeline's `object` says which),
    with a priority."""
    schema.add_column("deals", "priority", str)


def _v12_sessions(schema: Schema) -> None:
    """The pages' sessions, so that logout, a new password and idleness end one at once (a
    signed cookie alone stayed valid until it expired). `id` is the SHA-256 of the cookie's
    random id, never the id itself: a copy of the database opens no session."""
    schema.create_table(
        "sessions",
        {"id": str, "member": str, "created_at": str, "last_seen_at": str},
        pk="id", not_null={"member", "created_at", "last_seen_at"},
    )  # fmt: skip


def _v13_rejects_by_source(schema: Schema) -> None:
    """A file ingested again keeps its bad submissions once: they are looked up by source and
    body (an index, so a file of many bad rows stays linear)."""
    schema.create_index("rejects", ["source", "body"])


def _v14_login_attempts(schema: Schema) -> None:
    """Login attempts per client address, kept where every `serve` process reads them: a
    guesser spread over several processes (or hosts) meets one limit (store/login_sessions.py)."""
    schema.create_table(
        "login_attempts", {"id": int, "client": str, "at": float},
        pk="id", not_null={"client", "at"},
    )  # fmt: skip
    schema.create_index("login_attempts", ["client", "at"])


def _v15_deals_by_stage_entry_on_postgresql(schema: Schema) -> None:
    """The reports as of now first find the deals that moved after now (`stage_entered_at >
    now`, store/reports.py). SQLite skip-scans v2's index that ends with the column;
    PostgreSQL has no skip-scan (before 18) and read the whole table for it: 58 ms of every
    such report at 100,000 deals, 0.02 ms with an index of its own."""
    if schema.dialect == "postgresql":
        schema.create_index("deals", ["stage_entered_at"])


def _v16_stage_bits_unique(schema: Schema) -> None:
    """A bit is one stage's in its pipeline: two hosts numbering two new stages at once (on
    PostgreSQL) would otherwise give both the same, and the funnel would count them as one."""
    schema.create_index("stage_bits", ["pipeline", "bit"], unique=True)


def _v17_schedule_fires(schema: Schema) -> None:
    """A scheduled workflow fires once per slot however many hosts tick: whoever inserts the
    slot's row fires it (store/schedules.py)."""
    schema.create_table(
        "schedule_fires", {"workflow": str, "slot": str, "fired_at": str},
        pk=("workflow", "slot"), not_null={"fired_at"},
    )  # fmt: skip


def _v18_tasks_by_deal(schema: Schema) -> None:
    """Each deal's tasks by index, for "stalled means nothing planned" (store/reports.py: per
    candidate deal, its last completed task and whether an open task is due after now) and
    a member's "today" (store/today.py: the open deals without an open task) — probes, never
    a read of every task."""
    schema.create_index("tasks", ["deal_id", "done_at", "due_at"])


def _v19_stage_playbooks(schema: Schema) -> None:
    """The stages' checklists: each record's ticked items (who and when; an undo deletes the
    row) and every tick and untick in its history; and the stage changes that bypassed a
    stage's requirements (`--force`, a workflow's `force: true`), marked in their history."""
    schema.create_table(
        "checklist_ticks",
        {"deal_id": int, "stage": str, "item": str, "pipeline": str, "ticked_at": str,
         "ticked_by": str},
        pk=("deal_id", "stage", "item"), not_null={"pipeline", "ticked_at", "ticked_by"},
        foreign_keys=[("deal_id", "deals", "id")],
    )  # fmt: skip
    schema.create_table(
        "checklist_history",
        {"id": int, "deal_id": int, "stage": str, "item": str, "ticked": int, "at": str,
         "by": str},
        pk="id", not_null={"deal_id", "stage", "item", "ticked", "at", "by"},
        foreign_keys=[("deal_id", "deals", "id")],
    )  # fmt: skip
    schema.create_index("checklist_history", ["deal_id", "id"])
    schema.add_column("stage_history", "forced", int, default=0)


def _v20_checklist_waits(schema: Schema) -> None:
    """What each tick keeps for the funnel, as each move keeps its stay (migration 3): the
    pipeline, and on the tick that first leaves a stage's required items all ticked, the
    seconds since the record first entered the stage (`waited_seconds`); indexed so that
    the funnel reads a stage's waits in order. The ticks recorded before this migration
    (only since migration 19, of the same release) keep no wait. A record's first entry
    into a stage (the start of its wait) is read off the index of entries by stage and
    record, which now holds the instant too."""
    schema.add_column("checklist_history", "pipeline", str)
    schema.add_column("checklist_history", "waited_seconds", float)
    schema.execute(
        "UPDATE checklist_history SET pipeline = (SELECT pipeline FROM deals WHERE id = deal_id)"
    )
    schema.create_index("checklist_history", ["pipeline", "stage", "waited_seconds", "at"])
    schema.drop_index("idx_stage_history_to_stage_deal_id")
    schema.create_index("stage_history", ["to_stage", "deal_id", "at"])


def _v21_inbound_mail(schema: Schema) -> None:
    """What comes back: each message read from the replies mailbox, once (by its identity in
    the mailbox), with what it is, the sent message it answers and its raw bytes (for
    `inbound show` and `reprocess`); how far each mailbox was read and when; each contact's
    deliverability (a permanent bounce makes it `undeliverable`); the sent messages by the
    instant they left, for the bounce and complaint rates of `check`."""
    schema.create_table(
        "inbound",
        {
            "id": int, "identity": str, "message_id": str, "kind": str, "sender": str,
            "subject": str, "received_at": str, "recorded_at": str, "outbox_id": int,
            "matched_by": str, "contact_id": int, "text": str, "recipient": str, "status": str,
            "severity": str, "feedback_type": str, "reason": str, "size": int, "raw": bytes,
        },
        pk="id", not_null={"identity", "kind", "recorded_at", "size"},
    )  # fmt: skip
    schema.create_index("inbound", ["identity"], unique=True)
    schema.create_index("inbound", ["message_id"])
    schema.create_index("inbound", ["contact_id", "id"])
    schema.create_index("inbound", ["outbox_id"])
    schema.create_index("inbound", ["kind", "recorded_at"])
    schema.create_table(
        "mailbox_reads",
        {"mailbox": str, "uidvalidity": int, "last_uid": int, "polled_at": str, "error": str},
        pk="mailbox", defaults={"uidvalidity": 0, "last_uid": 0},
    )  # fmt: skip
    schema.add_column("contacts", "email_status", str, default="ok")
    schema.add_column("contacts", "email_status_at", str)  # when it was last set
    schema.create_index("outbox", ["sent_at"])


def _v22_runs_by_file_version(schema: Schema) -> None:
    """Each tick (and each quick `run`) asks, per workflow, whether a waiting run started
    under another version of its file (engine/tick.follow_changed_workflows): by index, one
    probe on each side of the current version. Without it, 1,000,000 waiting runs cost 350 ms
    a tick (every waiting run of the workflow read); with it, 5 µs per workflow."""
    schema.create_index("runs", ["workflow", "status", "workflow_hash"])


# Migration 23's summaries: each a table of sums by key, kept by triggers on the table it
# sums. Its key and sums are SQL of the row `{row}` (NEW or OLD, or the table's own rows when
# built); `counted` says which rows it sums (None: every row).
@dataclass(frozen=True)
class _Summary:
    table: str
    key: dict[str, str]
    sums: dict[str, str]
    counted: str | None = None

    def added(self, row: str) -> str:
        """The statement adding `row`'s share (its key's row made if missing)."""
        values = ", ".join(
            value.format(row=row) for value in [*self.key.values(), *self.sums.values()]
        )
        added = ", ".join(f"{name} = {self.table}.{name} + excluded.{name}" for name in self.sums)
        return (
            f"INSERT INTO {self.table} ({', '.join([*self.key, *self.sums])}) SELECT {values}"
            f" WHERE {self._counts(row)} ON CONFLICT ({', '.join(self.key)}) DO UPDATE SET {added}"
        )

    def removed(self, row: str) -> list[str]:
        """The statements taking `row`'s share out: a key's row left with nothing counted is
        deleted, so that the table holds what a GROUP BY gives, and nothing else."""
        where = " AND ".join(
            [f"{name} = {value.format(row=row)}" for name, value in self.key.items()]
            + [self._counts(row)]
        )
        taken = ", ".join(
            f"{name} = {name} - {value.format(row=row)}" for name, value in self.sums.items()
        )
        return [
            f"UPDATE {self.table} SET {taken} WHERE {where}",
            f"DELETE FROM {self.table} WHERE {where} AND count = 0",
        ]

    def rebuilt(self, source: str) -> str:
        """The statement filling the table from the rows already there."""
        group = ", ".join(value.format(row=source) for value in self.key.values())
        totals = ", ".join(f"sum({value.format(row=source)})" for value in self.sums.values())
        return (
            f"INSERT INTO {self.table} ({', '.join([*self.key, *self.sums])}) SELECT {group},"
            f" {totals} FROM {source} WHERE {self._counts(source)} GROUP BY {group}"
        )

    def _counts(self, row: str) -> str:
        return self.counted.format(row=row) if self.counted else "true"


_DEAL_SUMMARIES = (
    _Summary(
        "deal_totals",  # the month: the expected close of an open deal, else of closing
        {
            "pipeline": "{row}.pipeline",
            "stage": "{row}.stage",
            "status": "{row}.status",
            "owner": "coalesce({row}.owner, '')",
            "month": "coalesce(substr(CASE WHEN {row}.status = 'open' THEN {row}.expected_close"
            " ELSE {row}.closed_at END, 1, 7), '')",
        },
        {
            "count": "1",
            "amount": "coalesce({row}.amount, 0)",
            "own": "coalesce({row}.amount * {row}.probability, 0)",
            "rest": "CASE WHEN {row}.probability IS NULL THEN coalesce({row}.amount, 0) ELSE 0 END",
        },
    ),
    _Summary(
        "deal_masks",
        {"pipeline": "{row}.pipeline", "stages_mask": "{row}.stages_mask"},
        {"count": "1"},
    ),
)
STAY_BUCKET = 4096  # seconds (a power of two: stay / 4096 is exact, so are the bounds)
BUCKET_OF = {  # floor(stay_seconds / STAY_BUCKET), the same on both engines
    "sqlite": "(CAST({x} AS INTEGER) - ({x} < CAST({x} AS INTEGER)))",
    "postgresql": "CAST(floor({x}) AS bigint)",
}


def _stay_summary(dialect: str) -> _Summary:
    share = BUCKET_OF[dialect].format(x=f"({{row}}.stay_seconds / {STAY_BUCKET}.0)")
    return _Summary(
        "stay_buckets",
        {"pipeline": "{row}.pipeline", "stage": "{row}.from_stage", "bucket": share},
        {"count": "1"},
        "{row}.pipeline IS NOT NULL AND {row}.from_stage IS NOT NULL"
        " AND {row}.stay_seconds IS NOT NULL",
    )


# Tables whose rows the database's triggers write from other tables' rows: a copy writes the
# others, the target's triggers fill these, and the copy compares them with the source's.
KEPT_BY_TRIGGERS = frozenset(
    ["deal_totals", "deal_masks", "stay_buckets", "deal_losses", "wait_buckets", "stage_waits"]
)


def _kept_by_triggers(
    schema: Schema,
    source: str,
    summaries: tuple[_Summary, ...],
    watched: tuple[str, ...],
    name: str = "",
) -> None:
    """Fill `summaries` from `source`'s rows, and keep them by triggers on it (named after
    `name`, by default `<source>_summaries`): on insert, on delete, on an update of a
    `watched` column that changes it."""
    name = name or f"{source}_summaries"
    for summary in summaries:
        schema.execute(summary.rebuilt(source))
    added = [summary.added("NEW") for summary in summaries]
    removed = [sql for summary in summaries for sql in summary.removed("OLD")]
    changed = " OR ".join(f"OLD.{column} IS NOT NEW.{column}" for column in watched)
    columns = ", ".join(watched)
    if schema.dialect == "sqlite":
        for event, body in (("INSERT", added), ("DELETE", removed)):
            schema.execute(
                f"CREATE TRIGGER {name}_{event.lower()} AFTER {event} ON {source}"
                f" BEGIN {'; '.join(body)}; END"
            )
        schema.execute(
            f"CREATE TRIGGER {name}_update AFTER UPDATE OF {columns} ON {source} WHEN {changed}"
            f" BEGIN {'; '.join(removed + added)}; END"
        )
        return
    schema.execute(
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN"
        f" IF TG_OP <> 'INSERT' THEN {'; '.join(removed)}; END IF;"
        f" IF TG_OP <> 'DELETE' THEN {'; '.join(added)}; END IF;"
        " RETURN NULL; END $body$"
    )
    schema.execute(
        f"CREATE TRIGGER {name} AFTER INSERT OR DELETE ON {source}"
        f" FOR EACH ROW EXECUTE FUNCTION {name}()"
    )
    schema.execute(
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {columns} ON {source} FOR EACH ROW"
        f" WHEN ({changed.replace(' IS NOT ', ' IS DISTINCT FROM ')}) EXECUTE FUNCTION {name}()"
    )


def _v23_deal_summaries(schema: Schema) -> None:
    """What the board, the forecast and the funnel read instead of every deal: per
    pipeline, stage, status, owner and month (the expected close of an open deal, the
    closing of the others), the deals' count, amount, amount × own probability (`own`) and
    the amount of those without one (`rest`: × the stage's probability when read); per
    pipeline and set of stages entered, the deals' count; per pipeline, stage left and
    4096-second bucket of the stay, the stays ended (the funnel's median reads one bucket,
    not every stay). Kept by triggers, in the transaction that writes the deal or its
    history, whoever writes it (salesflow, an import, a direct UPDATE): exact after a crash
    as the deals are. At 100,000 deals the board read every deal twice, 70 ms a page."""
    schema.create_table(
        "deal_totals",
        {"pipeline": str, "stage": str, "status": str, "owner": str, "month": str,
         "count": int, "amount": int, "own": int, "rest": int},
        pk=("pipeline", "stage", "status", "owner", "month"),
    )  # fmt: skip
    schema.create_table(
        "deal_masks", {"pipeline": str, "stages_mask": int, "count": int},
        pk=("pipeline", "stages_mask"),
    )  # fmt: skip
    schema.create_table(
        "stay_buckets", {"pipeline": str, "stage": str, "bucket": int, "count": int},
        pk=("pipeline", "stage", "bucket"),
    )  # fmt: skip
    _kept_by_triggers(
        schema, "deals", _DEAL_SUMMARIES,
        ("pipeline", "stage", "status", "owner", "expected_close", "closed_at", "amount",
         "probability", "stages_mask"),
    )  # fmt: skip
    _kept_by_triggers(
        schema, "stage_history", (_stay_summary(schema.dialect),),
        ("pipeline", "from_stage", "stay_seconds"),
    )  # fmt: skip


def _v24_loss_and_wait_summaries(schema: Schema) -> None:
    """What the losses and the funnel's wait on required items read instead of every deal
    and every tick, kept by triggers as migration 23's summaries are: per pipeline, stage
    lost from and reason, the lost deals' count and amount (those with a stage entry, as
    the losses report counts them); per pipeline, stage and 4096-second bucket of the wait,
    the ticks that left a stage's required items all ticked (the median reads one bucket).
    Ticks are indexed by instant, so that the funnel takes the few dated after its clock
    (a clock set back) out of the summary. The index the stalled deals are found by
    holds their amount too: the stalled list's total is read off the index alone."""
    schema.create_table(
        "deal_losses",
        {"pipeline": str, "lost_from": str, "reason": str, "count": int, "amount": int},
        pk=("pipeline", "lost_from", "reason"),
    )  # fmt: skip
    schema.create_table(
        "wait_buckets", {"pipeline": str, "stage": str, "bucket": int, "count": int},
        pk=("pipeline", "stage", "bucket"),
    )  # fmt: skip
    _kept_by_triggers(
        schema, "deals", (_LOSS_SUMMARY,),
        ("pipeline", "stage", "status", "lost_from", "lost_reason", "amount",
         "stage_entered_at"), "deals_losses",
    )  # fmt: skip
    _kept_by_triggers(
        schema, "checklist_history", (_wait_summary(schema.dialect),),
        ("pipeline", "stage", "waited_seconds"),
    )  # fmt: skip
    schema.create_index("checklist_history", ["at"])
    schema.drop_index("idx_deals_status_pipeline_stage_stage_entered_at")
    schema.create_index("deals", ["status", "pipeline", "stage", "stage_entered_at", "amount"])


_LOSS_SUMMARY = _Summary(
    "deal_losses",  # keyed as the losses report groups them
    {
        "pipeline": "{row}.pipeline",
        "lost_from": "coalesce({row}.lost_from, {row}.stage)",
        "reason": "coalesce({row}.lost_reason, '')",
    },
    {"count": "1", "amount": "coalesce({row}.amount, 0)"},
    "{row}.status = 'lost' AND {row}.stage_entered_at IS NOT NULL",
)


def _wait_summary(dialect: str) -> _Summary:
    share = BUCKET_OF[dialect].format(x=f"({{row}}.waited_seconds / {STAY_BUCKET}.0)")
    return _Summary(
        "wait_buckets",
        {"pipeline": "{row}.pipeline", "stage": "{row}.stage", "bucket": share},
        {"count": "1"},
        "{row}.pipeline IS NOT NULL AND {row}.waited_seconds IS NOT NULL",
    )


# A record's row of stage_waits (migration 25) made again from what it is now: its stage if
# open and without the tick that left the stage's required items all ticked, its first entry
# into the stage (`since`), its current one (`entered`) and how many items of the stage it
# has ticked (`ticked`: with fewer than the required items, it cannot have them all).
_STAGE_WAIT_AGAIN = (
    "DELETE FROM stage_waits WHERE deal_id = {deal}",
    "INSERT INTO stage_waits (deal_id, pipeline, stage, since, entered, ticked)"
    " SELECT d.id, d.pipeline, d.stage, (SELECT min(h.at) FROM stage_history h"
    "   WHERE h.deal_id = d.id AND h.to_stage = d.stage), d.stage_entered_at,"
    " (SELECT count(*) FROM checklist_ticks k WHERE k.deal_id = d.id AND k.stage = d.stage)"
    " FROM deals d WHERE d.id = {deal} AND d.status = 'open' AND NOT EXISTS (SELECT 1"
    "   FROM checklist_history c WHERE c.deal_id = d.id AND c.stage = d.stage"
    "   AND c.waited_seconds IS NOT NULL)",
)
_STAGE_WAITS_WATCH = {  # table: the column naming the record, the columns its row reads
    "deals": ("id", ("pipeline", "stage", "status", "stage_entered_at")),
    "stage_history": ("deal_id", ("deal_id", "to_stage", "at")),
    "checklist_history": ("deal_id", ("deal_id", "stage", "waited_seconds")),
    "checklist_ticks": ("deal_id", ("deal_id", "stage")),
}
_STAGE_WAIT_ENTERED = (  # a move recorded: the row made again in one step, not read again
    "UPDATE stage_waits SET since = NEW.at WHERE deal_id = NEW.deal_id AND stage = NEW.to_stage"
    " AND (since IS NULL OR since > NEW.at)"
)


def _v25_stage_waits(schema: Schema) -> None:
    """What the funnel's wait on required items reads of the records still waiting, instead
    of probing each open record of the stage (its entries, its ticks, its history): a row
    per open record without the tick that completed its stage's required items, found by
    pipeline, stage and first entry (the waits in order, off the index alone). Which items
    are required is the YAML's: `ticked` counts the stage's ticked items, so that only a
    record with as many as the required ones is probed. Kept by triggers on the four
    tables it is made of (a write makes its record's row again), in their transaction."""
    schema.create_table(
        "stage_waits",
        {"deal_id": int, "pipeline": str, "stage": str, "since": str, "entered": str,
         "ticked": int},
        pk="deal_id", not_null=("pipeline", "stage", "entered", "ticked"),
    )  # fmt: skip
    schema.execute(_STAGE_WAIT_AGAIN[1].replace("d.id = {deal} AND ", ""))
    schema.create_index("stage_waits", ["pipeline", "stage", "since", "entered", "ticked"])
    if schema.dialect == "postgresql":
        again = "; ".join(sql.format(deal="$1") for sql in _STAGE_WAIT_AGAIN)
        schema.execute(
            "CREATE FUNCTION stage_wait_again(bigint) RETURNS void LANGUAGE sql AS $body$"
            f" {again} $body$"
        )
    for table, (record, watched) in _STAGE_WAITS_WATCH.items():
        _stage_waits_kept(schema, table, record, watched)


def _stage_waits_kept(schema: Schema, table: str, record: str, watched: tuple[str, ...]) -> None:
    """Triggers on `table` making stage_waits' row of the record a write touches again (both
    records' when an update moves a row from one record to another); a move recorded in
    the history only moves the record's first entry earlier (each new deal records one)."""
    name = f"{table}_stage_waits"
    changed = " OR ".join(f"OLD.{column} IS NOT NEW.{column}" for column in watched)
    if schema.dialect == "sqlite":
        for suffix, event, row, when in (
            ("insert", "INSERT", "NEW", ""), ("delete", "DELETE", "OLD", ""),
            ("update", f"UPDATE OF {', '.join(watched)}", "NEW", f" WHEN {changed}"),
            ("moved", f"UPDATE OF {record}", "OLD", f" WHEN OLD.{record} IS NOT NEW.{record}"),
        ):  # fmt: skip
            body = "; ".join(sql.format(deal=f"{row}.{record}") for sql in _STAGE_WAIT_AGAIN)
            if table == "stage_history" and event == "INSERT":
                body = _STAGE_WAIT_ENTERED
            schema.execute(
                f"CREATE TRIGGER {name}_{suffix} AFTER {event} ON {table}{when} BEGIN {body}; END"
            )
        return
    inserted = (
        _STAGE_WAIT_ENTERED
        if table == "stage_history"
        else f"PERFORM stage_wait_again(NEW.{record})"
    )
    schema.execute(
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN"
        f" IF TG_OP <> 'INSERT' THEN PERFORM stage_wait_again(OLD.{record}); END IF;"
        f" IF TG_OP = 'INSERT' THEN {inserted}; END IF;"
        f" IF TG_OP = 'UPDATE' AND NEW.{record} IS DISTINCT FROM OLD.{record}"
        f" THEN PERFORM stage_wait_again(NEW.{record}); END IF;"
        " RETURN NULL; END $body$"
    )
    schema.execute(
        f"CREATE TRIGGER {name} AFTER INSERT OR DELETE ON {table}"
        f" FOR EACH ROW EXECUTE FUNCTION {name}()"
    )
    schema.execute(
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {', '.join(watched)} ON {table}"
        f" FOR EACH ROW WHEN ({changed.replace(' IS NOT ', ' IS DISTINCT FROM ')})"
        f" EXECUTE FUNCTION {name}()"
    )


def _v26_stalled_deals_by_owner(schema: Schema) -> None:
    """The index the stalled deals are found by holds their owner too: a list bounded per
    member (the HTML report's "today") counts each member's stalled deals off the index
    alone, without reading every deal's row. Tasks by instant done then due: the stalled
    deals' total subtracts the few deals a recent task (open and due later, or done since
    the threshold) keeps from stalling, instead of asking every deal about its tasks."""
    schema.drop_index("idx_deals_status_pipeline_stage_stage_entered_at_amount")
    schema.create_index(
        "deals", ["status", "pipeline", "stage", "stage_entered_at", "amount", "owner"]
    )
    schema.create_index("tasks", ["done_at", "due_at"])


def _v27_open_deals_as_listed(schema: Schema) -> None:
    """The open deals with what the stalled report lists of them (title, next step, contact),
    after the columns they are found by: listing 10,000 stalled deals reads this index
    alone, not 10,000 rows scattered through the deals' table. Only the open deals (status
    stays in it: SQLite reads an index alone only when it holds every column named)."""
    schema.execute(
        "CREATE INDEX idx_deals_open_listed ON deals (status, pipeline, stage,"
        " stage_entered_at, amount, owner, title, next_step, contact_id) WHERE status = 'open'"
    )


MIGRATIONS: list[Callable[[Schema], None]] = [
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
    _v14_login_attempts,
    _v15_deals_by_stage_entry_on_postgresql,
    _v16_stage_bits_unique,
    _v17_schedule_fires,
    _v18_tasks_by_deal,
    _v19_stage_playbooks,
    _v20_checklist_waits,
    _v21_inbound_mail,
    _v22_runs_by_file_version,
    _v23_deal_summaries,
    _v24_loss_and_wait_summaries,
    _v25_stage_waits,
    _v26_stalled_deals_by_owner,
    _v27_open_deals_as_listed,
]

# Serialises migrators on one PostgreSQL database, as BEGIN IMMEDIATE does on SQLite: a key
# of salesflow's own among the database's advisory locks ("sfmigrat" read as a number).
MIGRATION_LOCK = int.from_bytes(b"sfmigrat", "big")
_BEGIN = {"sqlite": "BEGIN IMMEDIATE", "postgresql": "BEGIN"}
_LOCK = {"sqlite": None, "postgresql": f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"}
# pg_tables, read as any table is (to_regclass() may answer from a cache that has not yet seen
# the table another migrator just committed)
_HAS_VERSION_TABLE = (
    "SELECT count(*) FROM pg_tables"
    " WHERE schemaname = current_schema() AND tablename = 'schema_version'"
)
_SET_VERSION = {
    "sqlite": ["PRAGMA user_version = {version}"],
    "postgresql": [
        "CREATE TABLE IF NOT EXISTS schema_version"
        " (id integer PRIMARY KEY CHECK (id = 1), version bigint NOT NULL)",
        "INSERT INTO schema_version (id, version) VALUES (1, {version})"
        " ON CONFLICT (id) DO UPDATE SET version = excluded.version",
    ],
}


def schema_version(connection: Executor) -> int:
    """How many migrations the database has had: SQLite's `user_version`, or the one row of
    `schema_version` on PostgreSQL (0 for a database with no tables yet)."""
    if dialect_of(connection) == "sqlite":
        return connection.execute("PRAGMA user_version").fetchone()[0]
    if not connection.execute(_HAS_VERSION_TABLE).fetchone()[0]:
        return 0
    return connection.execute("SELECT version FROM schema_version").fetchone()[0]


def migrate(connection: Executor, upto: int | None = None) -> None:
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
    schema = Schema(connection)
    for version in range(current + 1, target + 1):
        connection.execute(_BEGIN[schema.dialect])
        try:
            schema.execute(_LOCK)
            if schema_version(connection) < version:  # another process may have done it
                MIGRATIONS[version - 1](schema)
                for statement in _SET_VERSION[schema.dialect]:
                    connection.execute(statement.format(version=int(version)))
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
