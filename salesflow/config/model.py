"""The typed project the rest of salesflow works with, built from validated files.

Only data that passed the schema reaches these constructors, so they trust its shape.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from salesflow.durations import parse_duration

CONTACT_FIELDS = (
    "id", "email", "first_name", "last_name", "full_name", "phone", "company", "owner",
    "source", "tags", "unsubscribed_at", "email_status", "created_at", "updated_at",
)  # fmt: skip
DEAL_FIELDS = (
    "id", "title", "pipeline", "stage", "status", "contact", "contact_id", "owner", "amount",
    "currency", "probability", "created_at", "expected_close", "closed_at", "next_step",
    "lost_reason", "stage_entered_at",
)  # fmt: skip
TICKET_FIELDS = (
    "id", "subject", "pipeline", "stage", "status", "priority", "contact", "contact_id",
    "owner", "created_at", "closed_at", "stage_entered_at",
)  # fmt: skip
PRIORITIES = ("low", "normal", "high", "urgent")
RECORDS = ("deal", "ticket")  # what moves through pipelines (a pipeline's `object`)
MEMBER_FIELDS = ("id", "name", "email")
# What a CSV column can be imported into (besides custom contact fields).
CONTACT_TARGETS = ("email", "first_name", "last_name", "full_name", "phone", "company",
                   "owner", "source", "tags")  # fmt: skip
DEAL_TARGETS = ("title", "amount", "expected_close")
PROJECT_FIELDS = ("name", "timezone", "locale", "currency")
WORKFLOW_FIELDS = ("id", "name", "description")
RUN_FIELDS = ("id", "workflow", "status", "started_at", "wake_at")
EVENT_FIELDS = ("id", "type", "data", "key", "received_at", "subject")


@dataclass(frozen=True)
class TeamMember:
    id: str
    name: str
    email: str
    role: str = "member"  # or "viewer": sees the web pages, changes nothing


@dataclass(frozen=True)
class FieldDef:
    """A declared custom field of contacts or deals, or a field of a form."""

    name: str
    type: str
    label: str | None = None
    options: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class Form:
    name: str
    fields: dict[str, FieldDef]
    key: str | None = None
    map: dict[str, str] = field(default_factory=dict)
    # how `serve` receives it
    redirect: str | None = None
    signature: str | None = None  # tally | typeform | hmac-sha256 | token
    secret_env: str | None = None
    signature_header: str = "X-Signature"
    honeypot: str | None = None
    allowed_origins: tuple[str, ...] = ()
    rate_limit: str | None = None  # e.g. 10/min


@dataclass(frozen=True)
class ServeSettings:
    max_body_kib: int = 1024
    trusted_proxies: tuple[str, ...] = ()
    # what one connection may hold (salesflow.web.connections), in seconds
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 5.0
    max_connections: int = 500
    session_idle: timedelta = timedelta(hours=12)  # a page session unused this long ends


@dataclass(frozen=True)
class ImportMapping:
    """How to read a recurring CSV export (salesflow.yaml `imports:`)."""

    name: str
    map: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    delimiter: str | None = None
    pipeline: str | None = None
    stage: str | None = None
    source: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int | None = None
    security: str = "starttls"
    username: str | None = None
    password_env: str | None = None
    timeout: float = 30.0
    rate_limit: int | None = None


@dataclass(frozen=True)
class ImapMailbox:
    """`email.inbound.imap`: the replies mailbox over IMAP (its password in `password_env`)."""

    host: str
    user: str
    password_env: str
    port: int | None = None
    folder: str = "INBOX"
    tls: str = "ssl"
    ca_file: Path | None = None
    timeout: float = 30.0


@dataclass(frozen=True)
class InboundSettings:
    """`email.inbound`: where replies, bounces and complaints arrive, and what they mean."""

    mailbox: ImapMailbox | Path  # an IMAP folder, or a Maildir folder on this machine
    poll: timedelta = timedelta(minutes=5)
    max_bytes: int = 10 * 1024 * 1024
    transient_count: int = 3  # temporary bounces within transient_within: undeliverable
    transient_within: timedelta = timedelta(days=30)

    @property
    def shown(self) -> str:
        """The mailbox as messages name it."""
        box = self.mailbox
        if isinstance(box, Path):
            return f"the Maildir {box}"
        return f"the mailbox of {box.user} at {box.host} ({box.folder})"


@dataclass(frozen=True)
class EmailSettings:
    sender: str | None = None
    reply_to: str | None = None
    transport: str = "outbox"
    outbox_dir: Path = Path("outbox")
    max_attempts: int = 8
    smtp: SmtpSettings | None = None
    return_path: str | None = None  # VERP: "bounces+{token}@club.example"
    inbound: InboundSettings | None = None


@dataclass(frozen=True)
class WebhookSettings:
    transport: str = "folder"
    folder: Path = Path("outbox/requests")
    timeout: float = 10.0
    max_attempts: int = 8


@dataclass(frozen=True)
class ChecklistItem:
    item: str
    required: bool = False  # a forward move out of the stage needs it ticked


@dataclass(frozen=True)
class StageTask:
    """A task made for the record's owner when it enters the stage (`title` is a template)."""

    title: str
    due_in: timedelta | None = None


@dataclass(frozen=True)
class Stage:
    """A stage, and its playbook: what it is for (`guidance`), the fields a record needs
    to enter it (`requires`, `contact.x` for its contact's), what to do in it (`checklist`)
    and the tasks made on entry (`on_enter_tasks`)."""

    id: str
    name: str
    probability: int
    outcome: str | None = None
    rot_after: timedelta | None = None
    guidance: str | None = None
    requires: tuple[str, ...] = ()
    checklist: tuple[ChecklistItem, ...] = ()
    on_enter_tasks: tuple[StageTask, ...] = ()

    @property
    def required_items(self) -> tuple[str, ...]:
        return tuple(entry.item for entry in self.checklist if entry.required)


@dataclass(frozen=True)
class Pipeline:
    id: str
    name: str
    stages: tuple[Stage, ...]
    path: Path
    description: str | None = None
    require_lost_reason: bool = False
    object: str = "deal"  # or "ticket": what moves through it

    def stage(self, stage_id: str) -> Stage | None:
        return next((stage for stage in self.stages if stage.id == stage_id), None)


@dataclass(frozen=True)
class Trigger:
    """An event type with match filters, a cron schedule, or a start by hand (`manual`:
    `workflows start` records a workflow.started event naming the workflow)."""

    event: str | None = None
    match: dict[str, tuple[str, ...]] = field(default_factory=dict)
    schedule: str | None = None
    catch_up: str = "last"
    manual: bool = False


MANUAL_EVENT = "workflow.started"


@dataclass(frozen=True)
class Step:
    id: str
    action: str
    config: Any
    condition: str | None = None


@dataclass(frozen=True)
class SendWindow:
    start: str
    end: str
    days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Workflow:
    id: str
    name: str
    trigger: Trigger
    steps: tuple[Step, ...]
    path: Path
    content_hash: str
    description: str | None = None
    enabled: bool = True
    condition: str | None = None
    reenroll: bool = False
    stop_on_reply: bool = False  # a reply to an email this run sent ends the run
    cancel_on: tuple[Trigger, ...] = ()
    send_window: SendWindow | None = None


class Workflows(MutableMapping[str, Workflow]):
    """The project's workflows by id, a dict to its users. Pickled (in the project's cache)
    as a pickle of their own, read on first use: a command that runs no workflow (import,
    the reports) starts without loading the step actions (config/actions.py, 8 ms)."""

    def __init__(self, workflows: dict[str, Workflow] | None = None, pickled: bytes = b""):
        self._workflows = workflows
        self._pickled = pickled

    def _loaded(self) -> dict[str, Workflow]:
        if self._workflows is None:
            self._workflows = pickle.loads(self._pickled)
        return self._workflows

    def __getitem__(self, workflow_id: str) -> Workflow:
        return self._loaded()[workflow_id]

    def __setitem__(self, workflow_id: str, workflow: Workflow) -> None:
        self._loaded()[workflow_id] = workflow

    def __delitem__(self, workflow_id: str) -> None:
        del self._loaded()[workflow_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())

    def __repr__(self) -> str:
        return repr(self._loaded())

    def __reduce__(self) -> tuple:
        pickled = pickle.dumps(self._loaded(), protocol=pickle.HIGHEST_PROTOCOL)
        return Workflows, (None, pickled)


@dataclass(frozen=True)
class Template:
    """An email template: `<name>.txt.j2` (subject front matter + text) and optional HTML."""

    name: str
    subject: str
    text_path: Path
    html_path: Path | None = None


class DatabaseUrl(str):
    """A PostgreSQL database, `postgresql://[user@]host[:port]/dbname[?options]`, as libpq
    reads it; its password comes from libpq's own places (PGPASSWORD, ~/.pgpass, a service
    file), never from salesflow.yaml."""

    SCHEMES = ("postgresql://", "postgres://")

    @classmethod
    def parse(cls, text: str) -> DatabaseUrl | None:
        return cls(text) if text.startswith(cls.SCHEMES) else None

    @property
    def shown(self) -> str:
        """The URL as messages name it: a password given in SALESFLOW_DB is masked."""
        masked = re.sub(r"^(\w+://[^:/@]*):[^@]*@", r"\1:***@", self)
        return re.sub(r"([?&]password=)[^&]*", r"\1***", masked)

    @property
    def has_password(self) -> bool:
        return self.shown != self


def shown(database: Path | DatabaseUrl) -> str:
    """The database as messages name it."""
    return database.shown if isinstance(database, DatabaseUrl) else str(database)


@dataclass(frozen=True)
class Project:
    root: Path
    name: str
    timezone: ZoneInfo
    locale: str
    currency: str
    database: Path | DatabaseUrl  # a SQLite file, or a PostgreSQL database
    email: EmailSettings
    webhooks: WebhookSettings
    team: dict[str, TeamMember]
    contact_fields: dict[str, FieldDef]
    deal_fields: dict[str, FieldDef]
    ticket_fields: dict[str, FieldDef]
    forms: dict[str, Form]
    imports: dict[str, ImportMapping]
    inbox: Path | None
    public_url: str | None
    serve: ServeSettings
    pipelines: dict[str, Pipeline]
    workflows: MutableMapping[str, Workflow]  # Workflows: from the cache, read when first used
    templates: dict[str, Template]

    def fields_of(self, record: str) -> dict[str, FieldDef]:
        """The custom fields declared for contacts, deals or tickets."""
        return {"contact": self.contact_fields, "deal": self.deal_fields,
                "ticket": self.ticket_fields}[record]  # fmt: skip

    @property
    def templates_dir(self) -> Path:
        return self.root / "workflows" / "templates"


def build_settings(data: dict, root: Path, database_override: str | None) -> dict[str, Any]:
    """The keyword arguments of Project that come from salesflow.yaml."""
    fields_ = data.get("fields", {})
    return {
        "root": root,
        "name": data["name"],
        "timezone": ZoneInfo(data["timezone"]),
        "locale": data.get("locale", "en_US"),
        "currency": data.get("currency", "EUR"),
        "database": _database(database_override or data.get("database", "salesflow.db"), root),
        "email": _email(data.get("email", {}), root),
        "webhooks": _webhooks(data.get("webhooks", {}), root),
        "team": {m["id"]: TeamMember(**m) for m in data.get("team", [])},
        "contact_fields": _field_defs(fields_.get("contact", {})),
        "deal_fields": _field_defs(fields_.get("deal", {})),
        "ticket_fields": _field_defs(fields_.get("ticket", {})),
        "forms": {name: _form(name, form) for name, form in data.get("forms", {}).items()},
        "imports": {
            name: ImportMapping(name, **{**spec, "tags": tuple(spec.get("tags", ()))})
            for name, spec in data.get("imports", {}).items()
        },
        "inbox": root / data["inbox"] if data.get("inbox") else None,
        "public_url": data.get("public_url", "").rstrip("/") or None,
        "serve": _serve(data.get("serve", {})),
    }


def _database(text: str, root: Path) -> Path | DatabaseUrl:
    return DatabaseUrl.parse(text) or root / text


def _email(data: dict, root: Path) -> EmailSettings:
    smtp = data.get("smtp")
    return EmailSettings(
        sender=data.get("from"),
        reply_to=data.get("reply_to"),
        transport=data.get("transport", "outbox"),
        outbox_dir=root / data.get("outbox_dir", "outbox"),
        max_attempts=data.get("max_attempts", 8),
        smtp=SmtpSettings(**smtp) if smtp else None,
        return_path=data.get("return_path"),
        inbound=_inbound(data["inbound"], root) if data.get("inbound") else None,
    )


def _inbound(data: dict, root: Path) -> InboundSettings:
    if "maildir" in data:
        mailbox: ImapMailbox | Path = root / data["maildir"]
    else:
        imap = dict(data["imap"])
        if imap.get("ca_file"):
            imap["ca_file"] = root / imap["ca_file"]
        mailbox = ImapMailbox(**imap)
    transient = data.get("transient_bounces", {})
    return InboundSettings(
        mailbox=mailbox,
        poll=parse_duration(data.get("poll", "5m")),
        max_bytes=data.get("max_size_mb", 10) * 1024 * 1024,
        transient_count=transient.get("count", 3),
        transient_within=parse_duration(transient.get("within", "30d")),
    )


def _webhooks(data: dict, root: Path) -> WebhookSettings:
    return WebhookSettings(
        transport=data.get("transport", "folder"),
        folder=root / data.get("folder", "outbox/requests"),
        timeout=parse_duration(data.get("timeout", "10s")).total_seconds(),
        max_attempts=data.get("max_attempts", 8),
    )


def _serve(data: dict) -> ServeSettings:
    timeouts = ("header_timeout", "body_timeout", "idle_timeout")
    return ServeSettings(
        **{
            **data,
            "trusted_proxies": tuple(data.get("trusted_proxies", ())),
            **{key: parse_duration(data[key]).total_seconds() for key in timeouts if key in data},
            "session_idle": parse_duration(data.get("session_idle", "12h")),
        }
    )


def _field_defs(data: dict) -> dict[str, FieldDef]:
    return {
        name: FieldDef(
            name,
            spec["type"],
            spec.get("label"),
            tuple(spec.get("options", ())),
            spec.get("required", False),
        )
        for name, spec in data.items()
    }


def _form(name: str, data: dict) -> Form:
    receiving = {k: v for k, v in data.items() if k not in ("fields", "key", "map")}
    receiving["allowed_origins"] = tuple(data.get("allowed_origins", ()))
    return Form(name, _field_defs(data["fields"]), data.get("key"), dict(data.get("map", {})),
                **receiving)  # fmt: skip


def build_pipeline(data: dict, path: Path) -> Pipeline:
    stages = tuple(
        Stage(
            id=stage["id"],
            name=stage["name"],
            probability=stage.get("probability", 100 if stage.get("outcome") == "won" else 0),
            outcome=stage.get("outcome"),
            rot_after=parse_duration(stage["rot_after"]) if "rot_after" in stage else None,
            guidance=stage.get("guidance"),
            requires=tuple(stage.get("requires", ())),
            checklist=tuple(_checklist_item(entry) for entry in stage.get("checklist", ())),
            on_enter_tasks=tuple(
                StageTask(
                    task["title"], parse_duration(task["due_in"]) if "due_in" in task else None
                )
                for task in stage.get("on_enter_tasks", ())
            ),
        )
        for stage in data["stages"]
    )
    return Pipeline(
        data["id"],
        data["name"],
        stages,
        path,
        data.get("description"),
        data.get("require_lost_reason", False),
        data.get("object", "deal"),
    )


def _checklist_item(entry: str | dict) -> ChecklistItem:
    if isinstance(entry, str):
        return ChecklistItem(entry.strip())
    return ChecklistItem(entry["item"].strip(), entry.get("required", False))


def build_workflow(data: dict, path: Path) -> Workflow:
    import hashlib  # validation only: a cached project's start-up does without OpenSSL

    window = data.get("send_window")
    return Workflow(
        id=data["id"],
        name=data.get("name", data["id"]),
        trigger=_trigger(data["trigger"], data["id"]),
        steps=build_steps(data["steps"]),
        path=path,
        content_hash=hashlib.sha256(path.read_bytes()).hexdigest()[:16],
        description=data.get("description"),
        enabled=data.get("enabled", True),
        condition=data.get("if"),
        reenroll=data.get("reenroll", False),
        stop_on_reply=data.get("stop_on_reply", False),
        cancel_on=tuple(_trigger(item) for item in data.get("cancel_on", [])),
        send_window=SendWindow(
            window["from"], window["to"], tuple(window.get("days", SendWindow.days))
        )
        if window
        else None,
    )


def _trigger(data: dict, workflow_id: str | None = None) -> Trigger:
    if data.get("manual"):
        return Trigger(MANUAL_EVENT, {"workflow": (workflow_id,)}, manual=True)
    match = {
        key: tuple(value) if isinstance(value, list) else (value,)
        for key, value in data.get("match", {}).items()
    }
    return Trigger(data.get("event"), match, data.get("schedule"), data.get("catch_up", "last"))


def build_steps(items: list[dict]) -> tuple[Step, ...]:
    """Typed steps; a step without an id gets one from its action (`send_email-2` if repeated)."""
    from salesflow.config.actions import build_action  # validation only: see Workflows

    steps = []
    seen: dict[str, int] = {}
    for item in items:
        action = step_action(item)
        seen[action] = seen.get(action, 0) + 1
        default_id = action if seen[action] == 1 else f"{action}-{seen[action]}"
        config = build_action(action, item[action], build_steps)
        steps.append(Step(item.get("id", default_id), action, config, item.get("if")))
    return tuple(steps)


def step_action(item: dict) -> str:
    """The one action key of a validated step mapping."""
    return next(key for key in item if key not in ("id", "if"))
