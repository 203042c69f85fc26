"""The floor of `salesflow ingest --form cours-essai` + `salesflow process` (the demo workflow):
for every submission of a JSON array, exactly the rows the two commands leave, written into
a database salesflow created (its schema, all its indexes) with its settings (WAL,
synchronous=NORMAL, foreign keys), `executemany` in one transaction:

- 4 events, processed: form.submitted (the normalised data: email case-folded, the date in
  the project's zone), then contact.created, contact.updated (owner) and deal.created;
- a contact (owner in turn), a deal with its stage history and stage bit, the rotation;
- a run waiting before the reminder, its 6 trace rows (the same phrases);
- 2 outbox rows: the welcome (subject, text, HTML, the unsubscribe footer and header, an
  .ics invitation written as text) and the owner's notice;

and the same 7 renders from the demo's templates (the deal's title, the invitation's summary,
the welcome's subject, text and HTML, the notice's subject and text) with a sandboxed
environment set as salesflow sets its own, templates compiled once, Babel dates (formatted
once per value, as salesflow does).

    python bench/floor_engine.py SUBMISSIONS.json DATABASE PROJECT WORKFLOW_HASH

DATABASE: an empty database salesflow created (the bench copies one in before each run).
"""

import json
import re
import sqlite3
import sys
import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, dates
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

ZONE, LOCALE = ZoneInfo("Europe/Paris"), Locale.parse("fr_FR")
STAMP = "2026-11-22T09:00:00Z"
NOW = datetime(2026, 11, 22, 9, tzinfo=UTC)
SENDER, DOMAIN = "Club de chant <bonjour@club.example>", "club.example"
BY, WORKFLOW, OWNERS = "workflow:essai-formulaire", "essai-formulaire", ("marie", "paul")
TEAM = {"marie": "Marie Dupont", "paul": "Paul Martin"}
FRONT = re.compile(r"\A---\n(.*?)\n---\n", re.S)
FOOTER = (
    "Pour ne plus recevoir nos messages, écrivez à bonjour@club.example (objet : désinscription)."
)
HEADERS = json.dumps({"List-Unsubscribe": "<mailto:bonjour@club.example?subject=unsubscribe>"})
ESCAPES = str.maketrans({"\\": "\\\\", ";": "\\;", ",": "\\,", "\n": "\\n"})


class Loader(FileSystemLoader):
    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        return FRONT.sub(lambda m: "\n" * m.group(0).count("\n"), source), filename, uptodate


@lru_cache(maxsize=64)
def date_filter(value, fmt="medium"):
    moment = datetime.fromisoformat(value).astimezone(ZONE)
    return dates.format_datetime(moment, fmt, tzinfo=ZONE, locale=LOCALE)


def main(source: str, database: str, project: str, workflow_hash: str) -> None:
    folder = Path(project) / "workflows" / "templates"
    env = SandboxedEnvironment(
        loader=Loader(str(folder)), undefined=StrictUndefined, keep_trailing_newline=True,
        autoescape=lambda name: bool(name) and name.endswith((".html.j2", ".html")),
        auto_reload=False, finalize=lambda value: "" if value is None else value,
    )  # fmt: skip
    env.filters["date"] = date_filter
    subjects = {name: env.from_string(json.loads(
                    FRONT.match((folder / f"{name}.txt.j2").read_text()).group(1)
                    .partition(":")[2].strip()))
                for name in ("bienvenue", "nouveau-prospect")}  # fmt: skip
    welcome_text, welcome_html = (
        env.get_template("bienvenue.txt.j2"),
        env.get_template("bienvenue.html.j2"),
    )
    notice_text = env.get_template("nouveau-prospect.txt.j2")
    title, summary = (
        env.from_string("Essai {{ contact.first_name }}"),
        env.from_string("Cours d'essai — {{ project.name }}"),
    )
    with open(source, encoding="utf-8") as file:
        submissions = json.load(file)
    count = len(submissions)
    project_view = {"name": "Club de chant", "timezone": "Europe/Paris", "locale": "fr_FR",
                    "currency": "EUR"}  # fmt: skip
    forms, later, contacts, deals, history, runs, steps, outbox = ([] for _ in range(8))
    for number, item in enumerate(submissions, start=1):
        email = item["email"].strip().lower()
        at = datetime.fromisoformat(item["date_essai"]).replace(tzinfo=ZONE)
        data = {"form": "cours-essai", "email": email, "prenom": item["prenom"],
                "nom": item["nom"], "telephone": item["telephone"],
                "date_essai": at.isoformat()}  # fmt: skip
        forms.append(("form.submitted", f"form:cours-essai:{item['submissionId']}", None, None,
                      json.dumps(data, ensure_ascii=False), STAMP, STAMP, 0))  # fmt: skip
        owner = OWNERS[(number - 1) % 2]
        later += [
            ("contact.created", None, "contact", number, json.dumps(
                {"email": email, "source": "formulaire", "by": BY}), STAMP, STAMP, 1),
            ("contact.updated", None, "contact", number, json.dumps(
                {"email": email, "changed": ["owner"], "old": {"owner": None},
                 "new": {"owner": owner}, "by": BY}), STAMP, STAMP, 1),
            ("deal.created", None, "deal", number, json.dumps(
                {"pipeline": "cours-essai", "stage": "essai-planifie", "by": BY}), STAMP, STAMP, 1),
        ]  # fmt: skip
        fields = json.dumps({"date_essai": data["date_essai"]})
        contacts.append((number, email, item["prenom"], item["nom"], item["telephone"], owner,
                         "formulaire", "[]", fields, STAMP, STAMP))  # fmt: skip
        full = f"{item['prenom']} {item['nom']}"
        contact = {"id": number, "email": email, "first_name": item["prenom"],
                   "last_name": item["nom"], "phone": item["telephone"], "full_name": full,
                   "date_essai": data["date_essai"],
                   "owner": {"id": owner, "name": TEAM[owner]}}  # fmt: skip
        member = {"id": owner, "name": TEAM[owner], "email": f"{owner}@{DOMAIN}"}
        context = {"contact": contact, "project": project_view, "owner": member}
        deal_title = title.render(context)
        deals.append((number, "cours-essai", "essai-planifie", "open", deal_title, number, owner,
                      "EUR", STAMP, STAMP, "{}", 1))  # fmt: skip
        history.append((number, "cours-essai", None, "essai-planifie", STAMP, BY, None, 0))
        anchor = json.dumps({"field": "contact.date_essai", "step": ["attendre"]})
        wake = (at - timedelta(hours=24)).astimezone(UTC)
        runs.append((number, WORKFLOW, workflow_hash, "contact", number, number, number, 0,
                     "waiting", '["rappel"]', wake.strftime("%Y-%m-%dT%H:%M:%SZ"), anchor,
                     STAMP, STAMP))  # fmt: skip
        welcome_subject = " ".join(subjects["bienvenue"].render(context).split())
        text = welcome_text.render(context).strip() + f"\n\n-- \n{FOOTER}\n"
        html = welcome_html.render(context).replace(
            "</body>", f'<p style="font-size:small">{FOOTER}</p></body>'
        )
        start = at.astimezone(UTC)
        invitation = "".join(f"{line}\r\n" for line in (
            "BEGIN:VCALENDAR", "PRODID:-//salesflow//EN", "VERSION:2.0", "METHOD:PUBLISH",
            "BEGIN:VEVENT", f"UID:{uuid.uuid4().hex}@{DOMAIN}", "DTSTAMP:20261122T090000Z",
            f"DTSTART:{start:%Y%m%dT%H%M%SZ}",
            f"DTEND:{start + timedelta(minutes=90):%Y%m%dT%H%M%SZ}",
            f"SUMMARY:{summary.render(context).translate(ESCAPES)}",
            "LOCATION:Salle des fêtes\\, 12 rue des Lilas\\, Lyon",
            f"ORGANIZER:mailto:bonjour@{DOMAIN}", f"ATTENDEE:mailto:{email}",
            "END:VEVENT", "END:VCALENDAR"))  # fmt: skip
        attachments = json.dumps([{"filename": "invitation.ics", "content_type":
                                   "text/calendar; method=PUBLISH; charset=utf-8",
                                   "content": invitation}])  # fmt: skip
        notice_subject = " ".join(subjects["nouveau-prospect"].render(context).split())
        notice = notice_text.render(context).strip() + "\n"
        welcome_id, notice_id = 2 * number - 1, 2 * number
        outbox += [
            (welcome_id, number, "bienvenue", f"<{uuid.uuid4().hex}@{DOMAIN}>", SENDER, email,
             full, welcome_subject, text, html, HEADERS, attachments, STAMP, STAMP),
            (notice_id, number, "prevenir", f"<{uuid.uuid4().hex}@{DOMAIN}>", SENDER,
             member["email"], member["name"], notice_subject, notice, None, "{}", "[]", STAMP,
             STAMP),
        ]  # fmt: skip
        trace = (
            ("contact", "upsert_contact", "done", {"msg": "contact_created", "email": email}),
            ("bienvenue", "send_email", "done", {"msg": "email_queued_invitation",
             "id": welcome_id, "to": email, "subject": welcome_subject}),
            ("responsable", "assign_owner", "done", {"msg": "owner_in_turn", "owner": owner,
             "among": "marie, paul"}),
            ("deal", "create_deal", "done", {"msg": "deal_created", "id": number,
             "title": deal_title, "stage": "essai-planifie"}),
            ("prevenir", "notify", "done", {"msg": "notified", "who": owner,
             "ids": str(notice_id), "subject": notice_subject}),
            ("attendre", "wait_until", "waiting", {"msg": "waiting_until",
             "until": f"{wake.astimezone(ZONE):%Y-%m-%d %H:%M}"}),
        )  # fmt: skip
        steps += [(number, step, action, outcome, json.dumps(detail, ensure_ascii=False), STAMP)
                  for step, action, outcome, detail in trace]  # fmt: skip
    connection = sqlite3.connect(database, isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON",
                   "temp_store = MEMORY"):  # fmt: skip
        connection.execute(f"PRAGMA {pragma}")
    event = ("INSERT INTO events (type, key, subject_type, subject_id, data, created_at,"
             " processed_at, depth) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")  # fmt: skip
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany(event, forms)
    connection.executemany(
        "INSERT INTO contacts (id, email, first_name, last_name, phone, owner, source, tags,"
        " fields, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        contacts,
    )
    connection.execute("INSERT INTO stage_bits (pipeline, stage, bit) VALUES (?, ?, 0)",
                       ("cours-essai", "essai-planifie"))  # fmt: skip
    connection.executemany(
        "INSERT INTO deals (id, pipeline, stage, status, title, contact_id, owner, currency,"
        " created_at, stage_entered_at, fields, stages_mask)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        deals,
    )
    connection.executemany(
        "INSERT INTO stage_history (deal_id, pipeline, from_stage, to_stage, at, by,"
        " stay_seconds, forced) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        history,
    )
    connection.executemany(
        "INSERT INTO runs (id, workflow, workflow_hash, subject, contact_id, deal_id, event_id,"
        " depth, status, cursor, wake_at, anchor, started_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        runs,
    )
    connection.executemany(
        "INSERT INTO run_steps (run_id, step, action, outcome, detail, at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        steps,
    )
    connection.executemany(
        "INSERT INTO outbox (id, run_id, step, message_id, sender, to_addr, to_name, subject,"
        " text, html, headers, attachments, status, created_at, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
        outbox,
    )
    connection.executemany(event, later)
    connection.execute("INSERT INTO rotations (key, position) VALUES (?, ?)",
                       (f"{WORKFLOW}/responsable", count))  # fmt: skip
    connection.execute("COMMIT")
    connection.close()


if __name__ == "__main__":
    main(*sys.argv[1:5])
