"""The state of the robot as a person on call wants it: `salesflow check` and `backup`.

`check` reads the failure states every queue keeps (failed events, runs, messages and requests,
messages stuck `sending`, inbox files in failed/, events waiting for long, cron runs skipped
because the database was locked, messages of the replies mailbox that could not be recorded)
and SQLite's own integrity check (on PostgreSQL: the server's answer, version and schema
version); each finding says what to do. Of the replies mailbox it reads what the last poll
stored — it never connects to the mailbox itself: `check` runs in monitoring jobs, often
where the mailbox's password is not set, and must stay quick when a server hangs — and the
bounces and complaints against the emails sent in the last 7 days, at the thresholds the
mailbox providers judge a sender by. `backup` copies the live database with SQLite's online
backup API: a consistent snapshot taken page by page, safe while `run` and `serve` write; a
PostgreSQL one with pg_dump, for the same reasons.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from salesflow.config.cache import CACHE_DIR
from salesflow.config.model import DatabaseUrl, Project
from salesflow.durations import format_duration
from salesflow.errors import EnvironmentFault, UserError
from salesflow.store import inbound, login_sessions, rejects
from salesflow.store.db import file_identity
from salesflow.store.migrations import schema_version
from salesflow.store.queues import FAILED_EVENTS, PENDING_EVENTS
from salesflow.store.serving import KEPT_FOR, ServeRecord, serve_records
from salesflow.store.session import Store
from salesflow.values import read_instant, stored_instant
from salesflow.wording import counted

PENDING_TOO_LONG = timedelta(hours=1)  # events waiting longer: the robot is not running
SKIPPED_TOO_LONG = timedelta(minutes=10)  # cron runs skipped for a lock that long


@dataclass(frozen=True)
class Finding:
    """One line of `check`: `problem` findings need a person (exit 1), `note`s do not."""

    level: str  # "ok", "note" or "problem"
    what: str
    detail: str

    def as_json(self) -> dict:
        return {"level": self.level, "what": self.what, "detail": self.detail}


def check(store: Store) -> list[Finding]:
    """Every health finding, problems first."""
    findings = [
        _integrity(store),
        *_failed(store),
        _stuck_messages(store),
        _oldest_pending(store),
        _inbox_failures(store.project),
        _open_rejects(store),
        _skipped_runs(store.project, store.now),
        _active_sessions(store),
        _replies_mailbox(store),
        _inbound_failures(store),
        *_sending_reputation(store),
        *_environment(store.project),
        *_serving(store.project, store.now),
    ]
    return _in_order(findings)


def check_without_database(project: Project, now: datetime, missing: Exception) -> list[Finding]:
    """What can be known when the database is missing or its server unreachable: that, and
    what serve and cron left."""
    findings = [
        Finding("problem", "database", str(missing)),
        _inbox_failures(project),
        _skipped_runs(project, now),
        *_serving(project, now),
    ]
    return _in_order(findings)


def _in_order(findings: list[Finding | None]) -> list[Finding]:
    order = {"problem": 0, "note": 1, "ok": 2}
    return sorted((f for f in findings if f), key=lambda f: order[f.level])


def _integrity(store: Store) -> Finding:
    if store.conn.dialect == "postgresql":
        return _server(store)
    rows = [row[0] for row in store.conn.execute("PRAGMA integrity_check").fetchall()]
    if rows == ["ok"]:
        return Finding("ok", "database", f"{store.project.database.name}: integrity ok")
    return Finding(
        "problem", "database",
        f"{store.project.database}: damaged ({'; '.join(rows[:3])}); restore a backup",
    )  # fmt: skip


def _server(store: Store) -> Finding:
    """PostgreSQL has no cheap integrity check (amcheck is an extension, and slow): the
    server answers, its version, and the schema version; a standby is a problem (read-only)."""
    version, standby = store.conn.execute(
        "SELECT current_setting('server_version'), pg_is_in_recovery()"
    ).fetchone()
    where = f"{store.project.database.shown}: PostgreSQL {version.split()[0]}"
    if standby:
        return Finding("problem", "database", f"{where} is a standby (read-only): point the"
                       " URL at the primary")  # fmt: skip
    return Finding("ok", "database", f"{where}, schema version {schema_version(store.conn)}")


_FAILED = (
    ("events", FAILED_EVENTS, "failed events",
     "see `salesflow events list --failed`; after a fix, `salesflow events retry --all`"),
    ("runs", "status = 'failed'", "failed runs",
     "see `salesflow runs list --status failed`; after a fix, `salesflow runs retry ID`"),
    ("outbox", "status = 'failed'", "failed messages and requests",
     "see `salesflow outbox list --status failed`; `outbox retry ID` or `outbox cancel ID`"),
)  # fmt: skip


def _failed(store: Store) -> list[Finding]:
    findings = []
    for table, where, what, advice in _FAILED:
        count = store.conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]
        level = "problem" if count else "ok"
        findings.append(Finding(level, what, f"{count}; {advice}" if count else "none"))
    return findings


def _stuck_messages(store: Store) -> Finding | None:
    """`sending` past its lease: a pass died holding it (the next pass takes it back)."""
    count = store.conn.execute(
        "SELECT count(*) FROM outbox WHERE status = 'sending' AND claimed_until <= ?",
        (stored_instant(datetime.now(UTC)),),
    ).fetchone()[0]
    if not count:
        return None
    return Finding("problem", "stuck messages", f"{count} left `sending` by a pass that stopped;"
                   " the next `salesflow run` takes them back — is cron running?")  # fmt: skip


def _environment(project: Project) -> list[Finding]:
    """The variables the `http` steps' URLs and headers name must be set here when requests
    really leave; with the folder transport nothing is resolved, but they are listed (notes)
    for the day the transport becomes http."""
    from salesflow.config.environment import needed  # Jinja: not for `run`'s quick path

    names = needed(project.workflows.values())
    if project.webhooks.transport != "http":
        return [_unresolved(name, by) for name, by in names.items()]
    return [_variable(name, by) for name, by in names.items()]


def _unresolved(name: str, workflows: list[str]) -> Finding:
    detail = (f"{name}, read by {', '.join(workflows)}: not resolved with the folder"
              " transport; set it where `salesflow run` runs before transport: http")  # fmt: skip
    return Finding("note", "environment", detail)


def _variable(name: str, workflows: list[str]) -> Finding:
    if name in os.environ:
        return Finding("ok", "environment", f"{name} is set")
    detail = (f"{name} is not set; the requests of {', '.join(workflows)} wait for it"
              " (set it where `salesflow run` runs)")  # fmt: skip
    return Finding("problem", "environment", detail)


def _open_rejects(store: Store) -> Finding:
    count = rejects.count_open(store)
    if not count:
        return Finding("ok", "rejected submissions", "none")
    return Finding("note", "rejected submissions", f"{count} kept; see `salesflow rejects"
                   " list`, and after a fix of the form, `salesflow rejects retry ID`")  # fmt: skip


def _active_sessions(store: Store) -> Finding:
    return Finding("ok", "sessions", f"{login_sessions.count_active(store)} active")


_COUNTS = {
    "events_pending": ("events", PENDING_EVENTS),
    "events_failed": ("events", FAILED_EVENTS),
    "messages_pending": ("outbox", "status IN ('queued', 'retrying', 'sending')"),
    "messages_failed": ("outbox", "status = 'failed'"),
    "rejects_open": ("rejects", rejects.OPEN),
}


def queue_counts(store: Store) -> dict[str, int]:
    """How many items wait or failed in each queue (for `serve`'s /healthz)."""
    return {
        name: store.conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]
        for name, (table, where) in _COUNTS.items()
    }


def _oldest_pending(store: Store) -> Finding:
    row = store.conn.execute(
        f"SELECT min(created_at), count(*) FROM events WHERE {PENDING_EVENTS}"
    ).fetchone()
    if not row[1]:
        return Finding("ok", "pending events", "none")
    oldest = read_instant(row[0], store.project.timezone)
    age = store.now - oldest
    level = "problem" if age > PENDING_TOO_LONG else "note"
    detail = f"{row[1]}, the oldest since {oldest:%Y-%m-%d %H:%M}"
    if level == "problem":
        detail += "; is `salesflow run` in cron? (run it by hand to see why not)"
    return Finding(level, "pending events", detail)


def _inbox_failures(project: Project) -> Finding | None:
    if project.inbox is None:
        return None
    failed = [p for p in (project.inbox / "failed").rglob("*") if p.suffix != ".txt"]
    files = [p for p in failed if p.is_file()]
    if not files:
        return Finding("ok", "inbox", "no failed files")
    return Finding("problem", "inbox", f"{len(files)} file(s) in inbox/failed/ with the reason"
                   " beside each (.error.txt); fix and move them back to inbox/")  # fmt: skip


# -- the replies mailbox: its last poll, what could not be recorded, bounces and complaints

STALE_POLLS = 3  # a mailbox not read for 3 poll intervals: `run` and serve do not read it
RATE_WINDOW = timedelta(days=7)
# What the mailbox providers tolerate of the emails sent: Gmail and Yahoo's sender rules ask
# for spam complaints under 0.1 % (and refuse mail at 0.3 %); sending services suspend a
# sender past a few percent of bounces, 2 % being the usual line.
BOUNCE_LIMIT = 0.02
COMPLAINT_LIMIT = 0.001
# Below this many emails sent in the window, one bounce is several percent: a rate says
# nothing, so the counts are reported as a note instead (1 complaint of 100 is already 1 %).
RATE_MINIMUM_SENT = 100


def _replies_mailbox(store: Store) -> Finding | None:
    """The last poll's error (a problem), or a poll long overdue (a note)."""
    settings = store.project.email.inbound
    if settings is None:
        return None
    read = inbound.last_read(store, inbound.mailbox_key(settings))
    every = format_duration(settings.poll)
    now = "`salesflow inbound poll` reads it now"
    if read.polled_at is None:
        detail = f"never read yet; `salesflow run` reads it every {every}, {now}"
        return Finding("note", "replies mailbox", f"{settings.shown}: {detail}")
    polled = f"{read.polled_at:%Y-%m-%d %H:%M}"
    if read.error:
        detail = f"could not be read at {polled}: {read.error}; once fixed, {now}"
        return Finding("problem", "replies mailbox", f"{settings.shown} {detail}")
    if store.now - read.polled_at > STALE_POLLS * settings.poll:
        detail = (
            f"last read {polled}, over {STALE_POLLS} × its poll interval ({every}) ago:"
            f" `salesflow run` (cron) and `serve` read it when due; is either running? {now}"
        )
        return Finding("note", "replies mailbox", f"{settings.shown}: {detail}")
    return Finding("ok", "replies mailbox", f"{settings.shown}: read {polled}")


def _inbound_failures(store: Store) -> Finding | None:
    count = inbound.count_failed(store)
    if not count:
        return Finding("ok", "inbound messages", "none failed") if _reads_mail(store) else None
    detail = (
        f"{count} could not be recorded (kept as failed, with the error): see `salesflow"
        " inbound list --kind failed`; after a fix, `salesflow inbound reprocess --failed`"
    )
    return Finding("problem", "inbound messages", detail)


def _sending_reputation(store: Store) -> list[Finding]:
    """Permanent bounces and complaints against the emails sent in the last 7 days.
    Temporary bounces (a full mailbox, a server down) are the receiving side's, retried by
    the sending server: they are named but not counted in the rate."""
    if not _reads_mail(store):
        return []
    since = store.now - RATE_WINDOW
    sent = _sent_since(store, since)
    kinds = inbound.kinds_since(store, since)
    bounced, transient = kinds["bounce:permanent"], kinds["bounce:transient"]
    complaints = kinds["complaint"]
    of_sent = f"of {counted(sent, 'email')} sent in the last 7 days"
    bounces = f"{counted(bounced, 'permanent bounce')} ({transient} temporary)"
    complained = f"{counted(complaints, 'complaint')} (marked as spam)"
    if sent >= RATE_MINIMUM_SENT:
        return [
            _rate("bounce rate", bounced, sent, BOUNCE_LIMIT, f"{bounces} {of_sent}", "bounce"),
            _rate("complaint rate", complaints, sent, COMPLAINT_LIMIT, f"{complained} {of_sent}",
                  "complaint"),
        ]  # fmt: skip
    if not (bounced or transient or complaints):
        return [Finding("ok", "bounces and complaints", f"none; {sent} sent in the last 7 days")]
    detail = (
        f"{bounces} and {complained} {of_sent}: too few sent for a rate (under"
        f" {RATE_MINIMUM_SENT}); see `salesflow inbound list --kind bounce` (or complaint)"
    )
    return [Finding("note", "bounces and complaints", detail)]


_RATE_ADVICE = {
    "bounce": "correct or remove those addresses (bounced ones are skipped already) and check"
    " where new addresses come from",
    "complaint": "those people are unsubscribed; write only to people who asked, and keep"
    " unsubscribing one click away",
}


def _rate(what: str, count: int, sent: int, limit: float, said: str, kind: str) -> Finding:
    rate = f"{count / sent:.2%}"
    if count / sent <= limit:
        return Finding("ok", what, f"{rate}: {said} (providers' limit: {limit:.1%})")
    detail = (
        f"{rate}, over the {limit:.1%} mailbox providers tolerate: {said}; see `salesflow"
        f" inbound list --kind {kind}`; {_RATE_ADVICE[kind]}"
    )
    return Finding("problem", what, detail)


def _reads_mail(store: Store) -> bool:
    return store.project.email.inbound is not None


def _sent_since(store: Store, since: datetime) -> int:
    return store.conn.execute(
        "SELECT count(*) FROM outbox WHERE kind = 'email' AND sent_at >= ?",
        (stored_instant(since),),
    ).fetchone()[0]


# -- cron runs skipped because another command held the database


def _marks(project: Project) -> Path:
    return project.root / CACHE_DIR / "skipped-runs.json"


def note_skipped_run(project: Project, now: datetime) -> None:
    """Remember that a `run` found the database locked and skipped its turn."""
    path = _marks(project)
    try:
        marks = json.loads(path.read_text())
    except (OSError, ValueError):
        marks = {"since": stored_instant(now), "count": 0}
    marks["count"] += 1
    marks["last"] = stored_instant(now)
    try:
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(marks))
    except OSError:
        pass  # a project folder we cannot write to: the skip goes unremembered


def skipped_runs_marked(project: Project) -> bool:
    return _marks(project).exists()


def clear_skipped_runs(project: Project) -> None:
    _marks(project).unlink(missing_ok=True)


def _skipped_runs(project: Project, now: datetime) -> Finding | None:
    try:
        marks = json.loads(_marks(project).read_text())
    except (OSError, ValueError):
        return None
    since = read_instant(marks["since"], project.timezone)
    level = "problem" if now - since > SKIPPED_TOO_LONG else "note"
    return Finding(level, "skipped runs", f"{marks['count']} cron run(s) skipped since"
                   f" {since:%Y-%m-%d %H:%M}: another command held the database (a long"
                   " import?)")  # fmt: skip


# -- what a running serve left: the database file it opened, the 503s it answered


def _serving(project: Project, now: datetime) -> list[Finding]:
    findings: list[Finding] = []
    on_file = isinstance(project.database, Path)  # a PostgreSQL database has no file to lose
    for record in serve_records(project):
        if record.running and on_file and record.database == str(project.database):
            findings.append(_serve_file(record, project.database))
        seen = record.unavailable
        if seen and now - seen.last <= KEPT_FOR:
            recent = record.running and now - seen.last <= SKIPPED_TOO_LONG
            detail = (f"{seen.count} answered by serve (pid {record.pid}) from"
                      f" {seen.first:%Y-%m-%d %H:%M} to {seen.last:%Y-%m-%d %H:%M}:"
                      f" {seen.reason}")  # fmt: skip
            findings.append(Finding("problem" if recent else "note", "503s", detail))
    return findings


def _serve_file(record: ServeRecord, database: Path) -> Finding:
    """Whether the database at the path is the file a running serve has open."""
    serve = f"serve (pid {record.pid}, since {record.started:%Y-%m-%d %H:%M})"
    now = file_identity(database)
    if now == record.identity:
        return Finding("ok", "serve", f"{serve} uses this database file")
    if now is None:
        detail = (f"{serve} has {database} open, but that file was deleted: it answers 503;"
                  " restore a backup to that path, then restart serve")  # fmt: skip
    else:
        detail = (f"{serve} opened another file than the {database} there now (replaced since:"
                  " a restored backup?): it answers 503 until it is restarted")  # fmt: skip
    return Finding("problem", "serve", detail)


def backup(store: Store, target: Path) -> int:
    """A consistent copy of the live database at `target`; its size in bytes."""
    if target.exists():
        raise UserError(f"{target} exists already: choose a new file name")
    if not target.parent.is_dir():
        raise UserError(f"{target.parent}: no such folder")
    partial = target.with_name(f".{target.name}.partial")
    if store.conn.dialect == "postgresql":
        _pg_dump(store.project.database, partial, target)
        return target.stat().st_size
    try:
        copy = sqlite3.connect(partial)
        try:
            store.conn.backup(copy)  # one step: a snapshot; writers go on meanwhile (WAL)
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        finally:
            copy.close()
        partial.replace(target)
    except (sqlite3.Error, OSError) as error:  # the copy's side: name the copy, not the base
        if partial.is_file():
            partial.unlink()
        raise EnvironmentFault(f"{target}: cannot write the copy ({error})") from None
    return target.stat().st_size


def _pg_dump(url: DatabaseUrl, partial: Path, target: Path) -> None:
    """PostgreSQL's own backup, run rather than reimplemented: pg_dump reads one consistent
    snapshot while `run` and `serve` write, and its custom format is what pg_restore (and
    every provider's tooling) restores, table by table if need be. Where it is not
    installed, say the command to run where it is."""
    program = shutil.which("pg_dump")
    if program is None:
        raise UserError(
            f"{url.shown}: a PostgreSQL database is backed up with pg_dump, not found here:"
            " install the PostgreSQL client (apt-get install postgresql-client), or run"
            f" `pg_dump -Fc -f {target} {url.shown}` where it is"
        )
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    settings = conninfo_to_dict(url)
    password = settings.pop("password", None)  # by the environment: not seen in `ps`
    environment = {**os.environ, "PGPASSWORD": password} if password else None
    done = subprocess.run(
        [program, "--format=custom", f"--file={partial}", f"--dbname={make_conninfo(**settings)}"],
        capture_output=True, text=True, check=False, env=environment,
    )  # fmt: skip
    if done.returncode:
        partial.unlink(missing_ok=True)
        said = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
        raise EnvironmentFault(f"{url.shown}: pg_dump failed: {said[-1]}")
    partial.replace(target)
