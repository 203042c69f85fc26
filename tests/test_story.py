"""The singing club's story, end to end through the CLI, time moved only with --now."""

from __future__ import annotations

import email
import json
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import REPO, query

from salesflow.phrases import say

FORMS = REPO / "examples" / "forms"


def submit(sf, tmp_path: Path, name: str = "julie", now: str = "2026-11-22T10:00", **fields):
    payload = {"submissionId": f"site-{name}", "email": f"{name}@example.org",
               "prenom": name.capitalize(), "nom": "Martin", "date_essai": "2026-12-05T18:30",
               **fields}  # fmt: skip
    path = tmp_path / f"{name}-{len(list(tmp_path.glob('*.json')))}.json"
    path.write_text(json.dumps(payload))
    sf("ingest", path, "--form", "cours-essai", now=now)
    return path


def outbox(project: Path) -> list[tuple]:
    """The messages, but the Monday digest (which the ticks of these stories also fire)."""
    return query(project, "SELECT to_addr, subject, status FROM outbox WHERE subject NOT LIKE"
                 " 'Revue du lundi%' ORDER BY id")  # fmt: skip


def runs(project: Path) -> list[tuple]:
    """The runs' workflow, status and reason (as the CLI says it)."""
    rows = query(project, "SELECT workflow, status, reason FROM runs WHERE workflow !="
                 " 'revue-hebdo' ORDER BY id")  # fmt: skip
    return [(workflow, status, say(reason)) for workflow, status, reason in rows]


def test_the_trial_lesson_form_runs_the_whole_workflow(sf, tmp_path):
    submit(sf, tmp_path)
    result = sf("process", now="2026-11-22T10:00")
    assert "handled" in result.output
    assert query(sf.project, "SELECT email, first_name, owner FROM contacts") == [
        ("julie@example.org", "Julie", "marie")
    ]
    assert query(sf.project, "SELECT title, stage, owner FROM deals") == [
        ("Essai Julie", "essai-planifie", "marie")
    ]
    assert outbox(sf.project) == [
        ("julie@example.org", "Bienvenue Julie !", "queued"),
        ("marie@club.example", "Nouveau cours d'essai : Julie Martin", "queued"),
    ]
    text = query(sf.project, "SELECT text FROM outbox WHERE id = 1")[0][0]
    assert "Votre cours d'essai aura lieu\nle samedi 5 décembre à 18:30" in text
    [run] = sf("runs", "list", "--json")
    assert (run["status"], run["next_step"]) == ("waiting", "rappel")
    assert run["wake_at"] == "2026-12-04T18:30:00+01:00"  # the lesson − 24 h


def test_the_reminder_goes_when_lesson_minus_24h_has_passed_and_not_before(sf, tmp_path):
    submit(sf, tmp_path)
    sf("tick", now="2026-11-22T10:00")
    sf("tick", now="2026-12-04T18:29")
    assert [row[1] for row in outbox(sf.project)][-1].startswith("Nouveau cours")
    sf("tick", now="2026-12-04T18:30")
    sf("tick", now="2026-12-04T18:31")
    reminders = [row for row in outbox(sf.project) if row[1].startswith("Rappel")]
    assert reminders == [
        ("julie@example.org", "Rappel : votre cours d'essai samedi à 18:30", "sent")
    ]
    assert runs(sf.project) == [("essai-formulaire", "done", None)]
    trace = sf("runs", "show", "1", "--json")["trace"]
    assert [(t["step"], t["outcome"]) for t in trace] == [
        ("contact", "done"), ("bienvenue", "done"), ("responsable", "done"), ("deal", "done"),
        ("prevenir", "done"), ("attendre", "waiting"), ("rappel", "done"),
    ]  # fmt: skip


def test_the_eml_files_are_real_messages(sf, tmp_path):
    submit(sf, tmp_path)
    sf("tick", now="2026-11-22T10:00")
    files = sorted((sf.project / "outbox").glob("*.eml"))
    assert [f.name for f in files] == ["20261122-100000-1.eml", "20261122-100000-2.eml"]
    message = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert message["Subject"] == "Bienvenue Julie !"
    assert message["To"] == "Julie Martin <julie@example.org>"
    assert message["List-Unsubscribe"] == "<mailto:bonjour@club.example?subject=unsubscribe>"
    assert message.get_content_type() == "multipart/mixed"
    body = message.get_body(("plain",)).get_content()
    assert "samedi 5 décembre à 18:30" in body and "désinscription" in body
    assert "<strong>samedi 5 décembre à 18:30</strong>" in message.get_body(("html",)).get_content()
    [invite] = [part for part in message.iter_attachments()]
    from icalendar import Calendar

    event = Calendar.from_ical(invite.get_content()).walk("VEVENT")[0]
    start = event.decoded("dtstart").astimezone(ZoneInfo("Europe/Paris"))
    assert start.isoformat() == "2026-12-05T18:30:00+01:00"
    assert str(event["location"]) == "Salle des fêtes, 12 rue des Lilas, Lyon"


def test_enrolling_moves_the_deal_and_cancels_the_pending_reminder(sf, tmp_path):
    submit(sf, tmp_path)
    sf("tick", now="2026-11-22T10:00")
    sf("deals", "move", "1", "inscrit", now="2026-11-25T12:00")
    sf("tick", now="2026-11-25T12:01")
    assert runs(sf.project) == [
        ("essai-formulaire", "cancelled",
         "cancelled by deal.stage_changed: essai-planifie → inscrit (cours-essai)"),
    ]  # fmt: skip
    sf("tick", now="2026-12-05T10:00")
    assert not [row for row in outbox(sf.project) if row[1].startswith("Rappel")]


def test_after_the_lesson_the_invitation_to_enrol(sf, tmp_path):
    submit(sf, tmp_path)
    sf("tick", now="2026-11-22T10:00")
    sf("deals", "move", "1", "essai-realise", now="2026-12-05T21:00")
    sf("tick", now="2026-12-05T21:01")
    assert ("julie@example.org", "Envie de continuer, Julie ?") in [
        m[:2] for m in outbox(sf.project)
    ]
    sf("tick", now="2026-12-08T21:01")
    tasks = sf("tasks", "list", "--json", now="2026-12-08T21:02")
    assert [(t["title"], t["assignee"]) for t in tasks] == [
        ("Demander son avis à Julie après l'essai", "marie"),  # the stage's own, on entry
        ("Appeler Julie pour l'inscription", "marie"),
    ]


def test_a_second_identical_form_changes_nothing(sf, tmp_path):
    path = submit(sf, tmp_path)
    sf("tick", now="2026-11-22T10:00")
    before = (
        outbox(sf.project),
        runs(sf.project),
        query(sf.project, "SELECT count(*) FROM events"),
    )
    sf("ingest", path, "--form", "cours-essai", now="2026-11-22T11:00")
    sf("tick", now="2026-11-22T11:00")
    after = (outbox(sf.project), runs(sf.project), query(sf.project, "SELECT count(*) FROM events"))
    assert [row[:2] for row in after[0]] == [row[:2] for row in before[0]]
    assert after[1:] == before[1:]


def test_a_new_submission_moving_the_lesson_moves_the_reminder(sf, tmp_path):
    submit(sf, tmp_path)
    sf("tick", now="2026-11-22T10:00")
    submit(sf, tmp_path, date_essai="2026-12-12T18:30", now="2026-11-23T09:00", submissionId="x2")
    sf("tick", now="2026-11-23T09:00")
    assert runs(sf.project) == [
        ("essai-formulaire", "waiting", None),
        ("essai-formulaire", "cancelled", "contact already in this workflow (run #1)"),
    ]
    assert sf("runs", "show", "1", "--json")["wake_at"] == "2026-12-11T18:30:00+01:00"
    assert len([row for row in outbox(sf.project) if row[1].startswith("Bienvenue")]) == 1


def test_round_robin_alternates_owners(sf, tmp_path):
    for name in ("ana", "bea", "cyd", "dan"):
        submit(sf, tmp_path, name)
    sf("process", now="2026-11-22T10:00")
    owners = query(sf.project, "SELECT owner FROM contacts ORDER BY id")
    assert owners == [("marie",), ("paul",), ("marie",), ("paul",)]


def test_html_escapes_script_typed_into_a_form(sf, tmp_path):
    submit(sf, tmp_path, prenom="<script>alert(1)</script>")
    sf("process", now="2026-11-22T10:00")
    html, text = query(sf.project, "SELECT html, text FROM outbox WHERE id = 1")[0]
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Bonjour <script>alert(1)</script>," in text  # plain text is not HTML


def test_a_line_break_in_a_name_cannot_add_a_header(sf, tmp_path):
    submit(sf, tmp_path, prenom="Julie\nBcc: everyone@example.org")
    sf("tick", now="2026-11-22T10:00")
    assert query(sf.project, "SELECT first_name FROM contacts") == [
        ("Julie Bcc: everyone@example.org",)  # the line break became a space at the door
    ]
    messages = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
                for p in sorted((sf.project / "outbox").glob("*.eml"))]  # fmt: skip
    assert [m["Bcc"] for m in messages] == [None, None]
    assert [a.addr_spec for a in messages[0]["To"].addresses] == ["julie@example.org"]


def test_an_unsubscribed_contact_gets_no_email_but_the_team_is_told(sf, tmp_path):
    sf("contacts", "add", "julie@example.org")
    sf("contacts", "unsubscribe", "julie@example.org")
    submit(sf, tmp_path)
    sf("process", now="2026-11-22T10:00")
    assert [row[0] for row in outbox(sf.project)] == ["marie@club.example"]
    trace = sf("runs", "show", "1", "--json")["trace"]
    assert (trace[1]["outcome"], trace[1]["detail"]) == (
        "skipped", "not sent: julie@example.org unsubscribed",
    )  # fmt: skip


def test_a_failed_step_is_retried_after_the_fix(sf, tmp_path):
    template = sf.project / "workflows" / "templates" / "nouveau-prospect.txt.j2"
    original = template.read_text()
    template.write_text(original.replace("{{ owner.name }}", "{{ owner.name | truncate(-1) }}"))
    submit(sf, tmp_path)
    sf("process", now="2026-11-22T10:00")
    [run] = sf("runs", "list", "--json")
    assert (run["status"], run["next_step"]) == ("failed", "prevenir")
    assert run["reason"].startswith("step prevenir: template nouveau-prospect:")
    template.write_text(original)
    result = sf("runs", "retry", "1", now="2026-11-22T10:05")
    assert "run #1: waiting" in result.output
    assert len(outbox(sf.project)) == 2


def write_workflow(project: Path, name: str, text: str) -> None:
    (project / "workflows" / f"{name}.yaml").write_text(text)


def test_a_workflow_loop_is_stopped_and_reported(sf):
    """validate refuses workflows that start each other; the engine still stops a chain
    deeper than its limit, whatever slipped through (here: pong added behind validate)."""
    import yaml

    from salesflow.config.model import build_workflow
    from salesflow.config.project import load_project
    from salesflow.engine.process import Processor
    from salesflow.store.session import Store
    from salesflow.values import parse_datetime

    ping = ("id: ping\ntrigger: {event: deal.stage_changed, match: {to: essai-realise}}\n"
            "reenroll: true\nsteps:\n  - move_deal: {stage: nouveau}\n")  # fmt: skip
    pong = ("id: pong\ntrigger: {event: deal.stage_changed, match: {to: nouveau}}\n"
            "reenroll: true\nsteps:\n  - move_deal: {stage: essai-realise}\n")  # fmt: skip
    write_workflow(sf.project, "ping", ping)
    sf("contacts", "add", "a@example.org", "--field", "date_essai=2026-12-05T18:30")
    sf("deals", "add", "--title", "A", "--contact", "a@example.org", "--stage", "essai-planifie")
    sf("deals", "move", "1", "essai-realise")
    project = load_project(sf.project)
    outside = sf.project / "pong.yaml"  # not in workflows/: validate never sees it
    outside.write_text(pong)
    project.workflows["pong"] = build_workflow(yaml.safe_load(pong), outside)
    store = Store.open(project, parse_datetime("2026-11-20T10:00", "fr_FR", project.timezone))
    result = Processor(store).run()
    assert any("loop stopped" in warning for warning in result.warnings)
    assert query(sf.project, "SELECT count(*) FROM events WHERE processed_at IS NULL") == [(0,)]
    notes = query(sf.project, "SELECT note FROM events WHERE note IS NOT NULL")
    assert len(notes) == 1 and notes[0][0].startswith("loop stopped")


def test_process_dry_run_shows_the_plan_and_changes_nothing(sf, tmp_path):
    submit(sf, tmp_path)
    result = sf("process", "--dry-run", now="2026-11-22T10:00")
    assert "bienvenue (send_email) — done: email #1 to julie@example.org: “Bienvenue Julie !”" in (
        result.output
    )
    assert "waiting until 2026-12-04 18:30" in result.output
    assert "(dry run: nothing was written)" in result.output
    assert query(sf.project, "SELECT count(*) FROM runs") == [(0,)]
    assert query(sf.project, "SELECT count(*) FROM events WHERE processed_at IS NULL") == [(1,)]


def test_workflows_test_tries_a_workflow_on_a_throw_away_copy(sf, tmp_path):
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "type": "form.submitted",
                "form": "cours-essai",
                "data": {
                    "email": "zoe@example.org",
                    "prenom": "Zoé",
                    "date_essai": "2026-12-05T18:30:00+01:00",
                },
            }
        )
    )
    result = sf("workflows", "test", "essai-formulaire", "--event", event)
    assert "created contact zoe@example.org" in result.output
    assert "throw-away copy" in result.output
    assert query(sf.project, "SELECT count(*) FROM contacts") == [(0,)]


def test_workflows_list(sf, tmp_path):
    submit(sf, tmp_path)
    sf("process", now="2026-11-22T10:00")
    rows = {w["id"]: w for w in sf("workflows", "list", "--json")}
    assert rows["essai-formulaire"]["active_runs"] == 1
    assert rows["revue-hebdo"]["trigger"] == "cron 0 8 * * 1"


def test_events_list(sf, tmp_path):
    submit(sf, tmp_path)
    sf("process", now="2026-11-22T10:00")
    events = sf("events", "list", "--json")
    assert events[-1]["type"] == "form.submitted"
    assert all(event["processed_at"] for event in events)


def test_handlers_and_actions_are_one_registry():
    from salesflow.config.actions import ACTIONS
    from salesflow.engine.actions import HANDLERS

    assert list(HANDLERS) == list(ACTIONS)


@pytest.mark.parametrize("now", ["2026-11-22T10:00"])
def test_outbox_list_json(sf, tmp_path, now):
    submit(sf, tmp_path)
    sf("process", now=now)
    messages = sf("outbox", "list", "--json")
    assert [(m["id"], m["to"], m["status"]) for m in messages] == [
        (2, "marie@club.example", "queued"), (1, "julie@example.org", "queued"),
    ]  # fmt: skip


def test_deal_workflows_enrol_each_deal_of_a_contact(sf):
    sf("contacts", "add", "a@example.org", "--owner", "marie", "--field",
       "date_essai=2026-12-05T18:30")  # fmt: skip
    for title in ("Essai 1", "Essai 2"):
        sf("deals", "add", "--title", title, "--contact", "a@example.org", "--stage",
           "essai-planifie")  # fmt: skip
    sf("deals", "move", "1", "essai-realise")
    sf("deals", "move", "2", "essai-realise")
    sf("process")
    assert query(sf.project, "SELECT workflow, deal_id, status FROM runs ORDER BY id") == [
        ("apres-essai", 1, "waiting"), ("apres-essai", 2, "waiting"),
    ]  # fmt: skip


def test_what_a_run_did_reads_once(sf, tmp_path):
    submit(sf, tmp_path)
    sf("process", now="2026-11-22T10:00")
    sf("deals", "move", "1", "inscrit", now="2026-11-23T10:00")
    output = sf("process", now="2026-11-23T10:00").output
    assert "run #1 essai-formulaire: cancelled by deal.stage_changed" in output
    assert "cancelled: cancelled" not in output and "cancelled — cancelled" not in output


@pytest.mark.parametrize(
    ("file", "extra"),
    [("julie.json", []), ("tally-ines.json", ["--form", "cours-essai-tally"])],
)
def test_workflows_test_takes_what_ingest_takes(sf, file, extra):
    example = sf.project / "examples" / "forms" / file
    result = sf("workflows", "test", "essai-formulaire", "--event", example, *extra)
    assert "contact (upsert_contact) — done: created contact" in result.output
    assert query(sf.project, "SELECT count(*) FROM contacts") == [(0,)]


def test_a_skipped_step_says_skipped_once(sf, tmp_path):
    workflow = sf.project / "workflows" / "essai-formulaire.yaml"
    text = workflow.read_text().replace(
        "  - id: bienvenue\n", "  - id: bienvenue\n    if: contact.first_name == 'Personne'\n"
    )
    workflow.write_text(text)
    submit(sf, tmp_path)
    output = sf("process", now="2026-11-22T10:00").output
    assert "bienvenue (send_email) — skipped: contact.first_name == 'Personne' is false" in output
    assert "skipped: skipped" not in output
    assert "handled 4 events, 1 run started" in output
