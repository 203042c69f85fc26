"""Contacts: one per email address (case-insensitive), with custom fields as JSON."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from salesflow.errors import NotFound, UserError, did_you_mean
from salesflow.store.db import LARGEST_ID, inserted_id, row_dict
from salesflow.store.session import Store
from salesflow.values import clean_line, coerce_field, local_iso, normalise_email

TEXT_FIELDS = ("first_name", "last_name", "phone", "company", "owner", "source")


def find(store: Store, reference: str | int) -> sqlite3.Row | None:
    """A contact by id or by email (any case)."""
    text = str(reference).strip()
    if text.isdigit() and len(text) <= 19 and int(text) <= LARGEST_ID:  # an id
        return store.conn.execute("SELECT * FROM contacts WHERE id = ?", (int(text),)).fetchone()
    email = text.lower()
    return store.conn.execute("SELECT * FROM contacts WHERE email = ?", (email,)).fetchone()


def get(store: Store, reference: str | int) -> sqlite3.Row:
    contact = find(store, reference)
    if contact is None:
        raise NotFound(f"no contact '{reference}' (see `salesflow contacts list`)")
    return contact


def check_owner(store: Store, owner: str | None) -> None:
    team = store.project.team
    if owner and owner not in team:
        raise UserError(f"'{owner}' is not a team member{did_you_mean(owner, list(team))}")


def clean_fields(store: Store, fields: dict[str, Any], kind: str = "contact") -> dict[str, Any]:
    """Declared custom fields, each checked and converted to its type."""
    project = store.project
    declared = project.fields_of(kind)
    cleaned = {}
    for name, value in fields.items():
        spec = declared.get(name)
        if spec is None:
            hint = did_you_mean(name, list(declared))
            raise UserError(f"'{name}' is not a custom {kind} field in salesflow.yaml{hint}")
        try:
            cleaned[name] = coerce_field(
                spec.type, spec.options, value, project.locale, project.timezone
            )
        except ValueError as error:
            raise UserError(f"{kind} field {name}: {error}") from None
    return cleaned


def add(
    store: Store,
    email: str,
    values: dict[str, str | None],
    tags: list[str] = (),
    fields: dict[str, Any] | None = None,
    by: str = "cli",
) -> sqlite3.Row:
    """Create a contact; an existing email is an error (use update)."""
    try:
        email = normalise_email(email)
    except ValueError as error:
        raise UserError(str(error)) from None
    if find(store, email):
        raise UserError(f"a contact with email {email} exists; use `salesflow contacts update`")
    contact, _, _ = upsert(store, email, values, tags, fields or {}, by)
    return contact


def upsert(
    store: Store,
    email: str,
    values: dict[str, str | None],
    tags: list[str] | tuple[str, ...] = (),
    fields: dict[str, Any] | None = None,
    by: str = "cli",
) -> tuple[sqlite3.Row, bool, list[str]]:
    """Create the contact, or fill in the non-empty values given: an empty value never erases.

    Returns (contact, created, changed field names) and records contact.created/updated.
    """
    check_owner(store, values.get("owner"))
    fields = clean_fields(store, fields or {})
    existing = find(store, email)
    if existing is None:
        created = _insert(store, email, values, list(tags), fields, by)
        if created is not None:
            return created, True, []
        existing = get(store, email)
    changed = update(store, existing, values, tags, fields, by)
    return get(store, existing["id"]), False, changed


def _insert(store: Store, email: str, values: dict, tags: list, fields: dict, by: str):
    """The new contact; None when another worker created this email since we looked (on
    PostgreSQL the insert waits for that worker's transaction, then finds the email taken):
    the caller updates it instead, and neither worker fails."""
    row = {name: _text(values.get(name)) for name in TEXT_FIELDS}
    inserted = inserted_id(
        store.conn,
        "INSERT INTO contacts (email, first_name, last_name, phone, company, owner, source,"
        " tags, fields, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (email) DO NOTHING",
        (
            email, *row.values(), json.dumps(sorted(set(tags)), ensure_ascii=False),
            json.dumps(_present(fields), ensure_ascii=False), store.stamp, store.stamp,
        ),
    )  # fmt: skip
    if inserted is None:
        return None
    data = {"email": email, "source": row["source"], "by": by}
    store.record_event("contact.created", "contact", inserted, data)
    return get(store, inserted)


def update(
    store: Store,
    contact: sqlite3.Row,
    values: dict[str, str | None],
    tags: list[str] | tuple[str, ...] = (),
    fields: dict[str, Any] | None = None,
    by: str = "cli",
) -> list[str]:
    """Set the non-empty values that differ; add tags. Returns what changed (and records
    contact.updated with it)."""
    return updated(store, contact, values, tags, fields, by)[0]


def updated(
    store: Store,
    contact: Mapping[str, Any],
    values: dict[str, str | None],
    tags: list[str] | tuple[str, ...] = (),
    fields: dict[str, Any] | None = None,
    by: str = "cli",
) -> tuple[list[str], Mapping[str, Any]]:
    """`update`, and the contact's row as it now stands (`contact` itself when nothing
    changed): a workflow run goes on with it instead of reading it again."""
    check_owner(store, values.get("owner"))
    changes = {
        name: _text(value)
        for name, value in values.items()
        if _text(value) is not None and _text(value) != contact[name]
    }
    old_tags = json.loads(contact["tags"])
    new_tags = sorted(set(old_tags) | set(tags))
    old_fields = json.loads(contact["fields"])
    merged = {**old_fields, **_present(clean_fields(store, fields or {}))}
    custom = sorted(name for name in merged if merged[name] != old_fields.get(name))
    changed = sorted(changes) + (["tags"] if new_tags != old_tags else []) + custom
    if not changed:
        return [], contact
    written = {
        **changes, "tags": json.dumps(new_tags, ensure_ascii=False),
        "fields": json.dumps(merged, ensure_ascii=False), "updated_at": store.stamp,
    }  # fmt: skip
    assignments = ", ".join(f"{name} = ?" for name in written)
    store.conn.execute(
        f"UPDATE contacts SET {assignments} WHERE id = ?", (*written.values(), contact["id"])
    )
    old = {name: contact[name] for name in changes} | {n: old_fields.get(n) for n in custom}
    new = dict(changes) | {name: merged[name] for name in custom}
    if "tags" in changed:
        old["tags"], new["tags"] = old_tags, new_tags
    data = {"email": contact["email"], "changed": changed, "old": old, "new": new, "by": by}
    store.record_event("contact.updated", "contact", contact["id"], data)
    return changed, {**row_dict(contact), **written}


def unsubscribe(
    store: Store, reference: str | int, by: str = "cli", inbound: int | None = None
) -> sqlite3.Row:
    """Mark the contact as unsubscribed: workflows send them no more email. `inbound`: the
    message that asked for it (a complaint, an emailed "unsubscribe"), named in the event."""
    contact = get(store, reference)
    if contact["unsubscribed_at"] is None:
        store.conn.execute(
            "UPDATE contacts SET unsubscribed_at = ?, updated_at = ? WHERE id = ?",
            (store.stamp, store.stamp, contact["id"]),
        )
        data = {"email": contact["email"], "changed": ["unsubscribed_at"], "by": by,
                **_from_message(inbound)}  # fmt: skip
        store.record_event("contact.updated", "contact", contact["id"], data)
    return get(store, contact["id"])


def _from_message(inbound: int | None) -> dict:
    return {} if inbound is None else {"inbound": inbound}


EMAIL_STATUSES = ("ok", "undeliverable")


def set_email_status(
    store: Store,
    reference: str | int,
    status: str,
    reason: str | None = None,
    by: str = "cli",
    inbound: int | None = None,
) -> sqlite3.Row:
    """Mark the contact's address deliverable (`ok`) or not (`undeliverable`: a permanent
    bounce; workflows skip their emails to it). Records contact.updated when it changes,
    naming the `inbound` message (a bounce) that changed it."""
    if status not in EMAIL_STATUSES:
        raise UserError(f"'{status}' is not an email status: write ok or undeliverable")
    contact = get(store, reference)
    if contact["email_status"] != status:
        store.conn.execute(
            "UPDATE contacts SET email_status = ?, email_status_at = ?, updated_at = ?"
            " WHERE id = ?",
            (status, store.stamp, store.stamp, contact["id"]),
        )
        data = {"email": contact["email"], "changed": ["email_status"],
                "old": {"email_status": contact["email_status"]},
                "new": {"email_status": status}, "reason": reason, "by": by,
                **_from_message(inbound)}  # fmt: skip
        store.record_event("contact.updated", "contact", contact["id"], data)
    return get(store, contact["id"])


def search(
    store: Store,
    owner: str | None = None,
    tag: str | None = None,
    text: str | None = None,
    limit: int | None = None,
) -> list[sqlite3.Row]:
    """Contacts, newest first, filtered by owner, tag and a text found in email/names/company."""
    clauses, params = [], []
    if owner:
        clauses.append("owner = ?")
        params.append(owner)
    if tag:
        clauses.append(_HAS_TAG[store.conn.dialect])
        params.append(tag)
    if text:
        found = [f"lower({n}) LIKE ?" for n in ("email", "first_name", "last_name", "company")]
        clauses.append(f"({' OR '.join(found)})")
        params += [f"%{text.lower()}%"] * 4  # lower(): PostgreSQL's LIKE minds the case
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    limit_sql = f" LIMIT {int(limit)}" if limit else ""
    return store.conn.execute(
        f"SELECT * FROM contacts{where} ORDER BY id DESC{limit_sql}", params
    ).fetchall()


_HAS_TAG = {  # tags are a JSON list in text
    "sqlite": "EXISTS (SELECT 1 FROM json_each(contacts.tags) WHERE value = ?)",
    "postgresql": "EXISTS (SELECT 1 FROM jsonb_array_elements_text(contacts.tags::jsonb) AS t"
    " (value) WHERE value = ?)",
}


def public(contact: sqlite3.Row, store: Store) -> dict[str, Any]:
    """The contact as commands print it and templates see it: custom fields flattened in."""
    zone = store.project.timezone
    data = {
        "id": contact["id"],
        "email": contact["email"],
        **{name: contact[name] for name in TEXT_FIELDS},
        "tags": json.loads(contact["tags"]),
        "unsubscribed_at": local_iso(contact["unsubscribed_at"], zone),
        "email_status": contact["email_status"],
        "created_at": local_iso(contact["created_at"], zone),
        "updated_at": local_iso(contact["updated_at"], zone),
    }
    fields = json.loads(contact["fields"])
    data.update({name: fields.get(name) for name in store.project.contact_fields})
    return data


def _text(value) -> str | None:
    """A single-line field as stored: trimmed, without control characters, None if empty."""
    if value is None:
        return None
    text = clean_line(str(value))[0].strip()
    return text or None


def _present(fields: dict) -> dict:
    return {name: value for name, value in fields.items() if value is not None}
