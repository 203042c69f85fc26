"""`salesflow ingest`: web-form submissions (JSON object, array, or JSON Lines) become
`form.submitted` events — once each, whatever the number of times they are received.

A submission is flattened by its form's `map` (Jinja expressions over `payload`, from the
project's files: the payload itself is only ever data), checked against the form's fields,
and recorded with an idempotency key: the form's `key` expression, else a hash of the payload.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from jinja2 import Undefined, UndefinedError

from salesflow.config.model import Form, Project
from salesflow.errors import UserError, did_you_mean
from salesflow.ingest.jsonread import submissions
from salesflow.phrases import Phrase, phrase, reason_of, say
from salesflow.store import events, rejects
from salesflow.store.db import describe, transaction
from salesflow.store.session import Store
from salesflow.templating import is_attribute
from salesflow.values import clean_line, coerce_field, normalise_email, parse_datetime

_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.S)
# `payload.a.b`, maybe `| default('text')`: the usual key and map, read without Jinja.
_PLAIN_PATH = re.compile(
    r"^\s*payload((?:\.[A-Za-z_]\w*)+)\s*(?:\|\s*default\(\s*(?:'([^'\\]*)'|\"([^\"\\]*)\")\s*\))?\s*$"
)
BATCH = 1000  # events recorded per statement


@dataclass
class IngestResult:
    source: str
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    control_characters: int = 0  # removed from single-line fields
    rejected_file: Path | None = None
    errors: list[tuple[int, str]] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "source": self.source, "received": self.received, "accepted": self.accepted,
            "duplicates": self.duplicates, "rejected": self.rejected,
            "control_characters_removed": self.control_characters,
            "rejected_file": str(self.rejected_file) if self.rejected_file else None,
            "errors": [{"index": index, "error": error} for index, error in self.errors],
        }  # fmt: skip


class Rejected(ValueError):
    """A submission that cannot go in: where (a JSON pointer) and why (a phrase, or a
    library's English). str() is the CLI's line, `/email: 'x' is not an email address`;
    `phrase` is what a reject keeps; `to_visitor` what a form's visitor is told, in the page's
    language: a library's English is never shown there, but a generic "not accepted"."""

    def __init__(self, pointer: str, reason: str):
        self.pointer = pointer
        self.phrase = phrase("refused_at", pointer=pointer, reason=reason)
        shown = reason if isinstance(reason, Phrase) else phrase("not_accepted")
        whole = pointer in ("", "/")  # the submission as a whole: no place to name
        self.to_visitor = shown if whole else phrase("refused_at", pointer=pointer, reason=shown)
        super().__init__(f"{pointer}: {say(reason)}")


def unreadable(error: str) -> Rejected:
    """A submission that could not be read, at the pointer its reason names (a number out of
    range) or else at the root; `error`: a phrase (a web body's), or the JSON reader's
    English."""
    if isinstance(error, Phrase) or not error.startswith("/"):
        return Rejected("/", error)
    pointer, _, why = error.partition(": ")
    return Rejected(pointer, why)


class FormReader:
    """Turns payloads into (key, event data) for the project's forms."""

    def __init__(self, project: Project, form_name: str | None):
        from salesflow.templating import make_environment

        self.project = project
        self.forced = self._form(form_name) if form_name else None
        self.env = make_environment(None, project.locale, project.timezone, project.currency)
        self.cleaned = 0  # control characters removed so far
        self.compiled: dict[str, Callable[[dict], Any]] = {}  # expression → its function
        self.checks: dict[str, list[_Check]] = {}  # form → how its fields are checked

    def _form(self, name: str) -> Form:
        forms = self.project.forms
        if name not in forms:
            raise UserError(f"no form '{name}' in salesflow.yaml{did_you_mean(name, list(forms))}")
        return forms[name]

    def read(self, payload: Any) -> tuple[str, dict]:
        if not isinstance(payload, dict):
            raise Rejected("/", phrase("not_an_object"))
        form = self.forced or self._payload_form(payload)
        flat = {name: self._mapped(expression, payload) for name, expression in form.map.items()}
        data: dict[str, Any] = {"form": form.name}
        for check in self.checks.get(form.name) or self._checks(form):
            raw = flat[check.name] if check.mapped else payload.get(check.name)
            data[check.name] = self._checked(check, raw)
        key = self._key(form, payload)
        return f"form:{form.name}:{key}", data

    def _checks(self, form: Form) -> list[_Check]:
        """How each field of `form` is checked, worked out once per form (per submission,
        it was a third of an ingest)."""
        project = self.project
        checks = [
            _Check(name, name in form.map, spec.required, spec.type == "text",
                   _coercer({"phone": "string"}.get(spec.type, spec.type), spec.options,
                            project.locale, project.timezone))
            for name, spec in form.fields.items()
        ]  # fmt: skip
        self.checks[form.name] = checks
        return checks

    def _payload_form(self, payload: dict) -> Form:
        name = payload.get("form")
        if not isinstance(name, str):
            raise Rejected("/form", phrase("which_form"))
        if name not in self.project.forms:
            hint = did_you_mean(name, list(self.project.forms))
            raise Rejected("/form", phrase("no_form_named", form=name, hint=hint))
        return self.project.forms[name]

    def _mapped(self, expression: str, payload: dict) -> Any:
        """A map entry's value: a lone `{{ expr }}` keeps its type; missing data is None."""
        try:
            function = self.compiled.get(expression) or self._compile(expression)
            value = function(payload)
        except UndefinedError:
            return None
        except Exception as error:  # a template error, or `1 / payload.n` with n = 0: this
            # submission's failure, kept as its reject; never the whole file's or request's
            raise Rejected("/", phrase("map_failed", error=describe(error))) from None
        return None if value is None or _undefined(value) else value

    def _compile(self, expression: str) -> Callable[[dict], Any]:
        """Compiled once per form and expression (compiling was 85 % of an ingest); a plain
        path is read directly (a Jinja context per submission was half of the rest)."""
        single = _SINGLE_EXPRESSION.match(expression)
        path = single and _PLAIN_PATH.match(single.group(1))
        names = path.group(1).split(".")[1:] if path else []
        if path and not any(is_attribute(name) for name in names):
            quoted = path.group(2) if path.group(2) is not None else path.group(3)
            function = _path_reader(names, quoted)
        elif single:
            evaluate = self.env.compile_expression(single.group(1), undefined_to_none=True)
            function = lambda payload: evaluate(payload=payload)  # noqa: E731
        else:
            template = self.env.from_string(expression)
            function = lambda payload: template.render(payload=payload)  # noqa: E731
        self.compiled[expression] = function
        return function

    def _checked(self, check: _Check, raw: Any) -> Any:
        if isinstance(raw, str) and raw.strip():  # the usual case first
            raw, removed = clean_line(raw, check.multiline)
            if removed:
                self.cleaned += removed
                if not raw:  # nothing but control characters
                    return None
        elif raw is None or isinstance(raw, str):  # missing, or blank
            if check.required:
                raise Rejected(f"/{check.name}", phrase("required"))
            return None
        elif isinstance(raw, dict | list):
            raise Rejected(f"/{check.name}", phrase("not_a_single_value", kind=type(raw).__name__))
        try:
            return check.coerce(raw)
        except ValueError as error:
            raise Rejected(f"/{check.name}", reason_of(error)) from None

    def _key(self, form: Form, payload: dict) -> str:
        if form.key:
            key = self._mapped(form.key, payload)
            if key not in (None, ""):
                return str(key)
        canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class _Check:
    """One field of a form: where its value comes from, and how it is checked."""

    name: str
    mapped: bool  # from the form's `map`, else from the payload's own key
    required: bool
    multiline: bool
    coerce: Callable[[Any], Any]  # the value as stored; ValueError when it is not one


def _coercer(kind: str, options: tuple[str, ...], locale: str, zone) -> Callable[[Any], Any]:
    """`coerce_field` for one kind of field, chosen once: the forms' usual kinds go straight
    to what coerce_field would call for them."""
    if kind == "string":
        return lambda value: str(value).strip()
    if kind == "email":
        return lambda value: normalise_email(str(value).strip())
    if kind == "datetime":
        return lambda value: parse_datetime(str(value).strip(), locale, zone).isoformat()
    if kind == "number":
        return lambda value: float(coerce_field(kind, options, value, locale, zone))
    return lambda value: coerce_field(kind, options, value, locale, zone)


def _undefined(value: Any) -> bool:
    return isinstance(value, Undefined)


def _path_reader(names: list[str], default: str | None) -> Callable[[dict], Any]:
    """`payload.a.b | default(…)` as Jinja reads it: the value; else the default when only
    the last name is missing, None when an earlier one is (Jinja fails on it)."""
    last = len(names) - 1

    def read(payload: dict) -> Any:
        value: Any = payload
        for step, name in enumerate(names):
            if not isinstance(value, dict) or name not in value:
                return default if step == last else None
            value = value[name]
        return value

    return read


def ingest_stream(
    store: Store,
    stream: TextIO,
    source: str,
    form: str | None,
    rejected_file: Path | None,
    dry_run: bool = False,
    also: Callable[[], None] | None = None,
) -> IngestResult:
    """Record the submissions read from `stream` as events, in one transaction; bad ones are
    kept in the database (`salesflow rejects`) and in `rejected_file` (JSON Lines: the error
    and the submission as received)."""
    reader = FormReader(store.project, form)
    result = IngestResult(source)
    kept: list[tuple[str, str]] = []  # (body, why: a phrase) of each reject
    batch: list[tuple[str, dict]] = []

    def record() -> None:
        new = store.record_events("form.submitted", batch)
        result.accepted += new
        result.duplicates += len(batch) - new
        batch.clear()

    with transaction(store.conn, dry_run):
        for index, payload, error in submissions(stream, source):
            result.received += 1
            try:
                if error:
                    raise unreadable(error)
                key, data = reader.read(payload)
            except Rejected as rejected:
                result.rejected += 1
                result.errors.append((index, str(rejected)))
                kept.append((as_body(payload), rejected.phrase))
                continue
            batch.append((key, data))
            if len(batch) >= BATCH:
                record()
        record()
        _refuse_if_unusable(result, store.project.forms)
        if kept:
            rejects.add_many(store, source, form, kept)
        if also:
            also()
    result.control_characters = reader.cleaned
    if kept and rejected_file and not dry_run:  # the file a person reads: in English
        lines = [
            json.dumps({"error": error, "index": index, "submission": json.loads(body)},
                       ensure_ascii=False)
            for (body, _), (index, error) in zip(kept, result.errors, strict=True)
        ]  # fmt: skip
        rejected_file.parent.mkdir(parents=True, exist_ok=True)
        rejected_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        result.rejected_file = rejected_file
    return result


def as_body(payload: Any) -> str:
    """A submission as a reject keeps it: its JSON (a broken one's text, as JSON too)."""
    return json.dumps(payload, ensure_ascii=False)


@dataclass
class Received:
    """One submission taken in: its event (or the earlier one it repeats), or its reject
    (`refused`: where and why)."""

    event_id: int | None = None
    duplicate: bool = False
    reject_id: int | None = None
    refused: Rejected | None = None

    @property
    def error(self) -> str | None:
        """Why it was refused, in English (`/email: required`)."""
        return str(self.refused) if self.refused else None

    def as_json(self) -> dict:
        return {"event_id": self.event_id, "duplicate": self.duplicate,
                "reject_id": self.reject_id, "error": self.error}  # fmt: skip


def receive(
    store: Store, reader: FormReader, payload: Any, source: str, error: str | None = None
) -> Received:
    """Take in one submission (from the web) in a transaction of its own: a form.submitted
    event, none for a repeat of one already received (same key), or a kept reject when it
    is unusable (`error` says why it could not even be read)."""
    with transaction(store.conn):
        return _received(store, reader, payload, source, error)


def retry_reject(store: Store, reject_id: int) -> Received:
    """Take in a kept reject again (after a fix of the form): marked retried when it goes in;
    still open, with today's reason, when it does not."""
    with transaction(store.conn):
        row = rejects.get(store, reject_id)
        if row["retried_at"]:
            raise UserError(f"reject #{reject_id} was retried already (event #{row['event_id']})")
        reader = FormReader(store.project, row["form"])
        payload = json.loads(row["body"])
        try:
            key, data = reader.read(payload)
        except Rejected as rejected:
            return Received(reject_id=reject_id, refused=rejected)
        received = _recorded(store, key, data)
        rejects.mark_retried(store, reject_id, received.event_id)
        return received


def _received(store: Store, reader: FormReader, payload: Any, source: str, error: str | None):
    try:
        if error:
            raise unreadable(error)
        key, data = reader.read(payload)
    except Rejected as rejected:
        form = reader.forced.name if reader.forced else None
        kept = rejects.add(store, source, form, as_body(payload), rejected.phrase)
        return Received(reject_id=kept, refused=rejected)
    return _recorded(store, key, data)


def _recorded(store: Store, key: str, data: dict) -> Received:
    event_id = store.record_event("form.submitted", None, None, data, key)
    if event_id is not None:
        return Received(event_id)
    return Received(events.id_by_key(store, key), duplicate=True)


NO_FORM = "/form: which form?"
NOT_AN_OBJECT = "/: a submission is a JSON object"


def _refuse_if_unusable(result: IngestResult, forms) -> None:
    """Input where nothing went in, all for the same reason that concerns the input as a
    whole (no form named anywhere, or no object at all), is a usage mistake: exit 1."""
    if result.accepted or result.duplicates or not result.errors:
        return
    reasons = {error for _, error in result.errors}
    if all(reason.startswith(NO_FORM) for reason in reasons):
        raise UserError(
            f"{result.source}: no submission says which form it is for: pass --form NAME"
            f" ({', '.join(forms)}; in the inbox: drop the file in inbox/NAME/), or put"
            ' "form" in each one'
        )
    if reasons == {NOT_AN_OBJECT}:
        raise UserError(
            f"{result.source}: expected a JSON object, an array of objects or JSON Lines"
        )


def rejects_for(path: Path | None, project_root: Path, now: datetime) -> Path:
    """`FILE.rejected.jsonl` beside a file; `rejected/stdin-<time>.jsonl` for stdin."""
    if path is None:
        return project_root / "rejected" / f"stdin-{now.strftime('%Y%m%d-%H%M%S')}.jsonl"
    return path.with_name(f"{path.stem}.rejected.jsonl")
