"""Stored text as data (#28): traces, run and reject reasons and a visitor's errors are kept
as a message id plus values, said in English by the CLI (as before) and in the project's
language by the pages; rows written before the change are shown as stored."""

from __future__ import annotations

import json
import string
from gettext import NullTranslations

import pytest
from conftest import Pages, prepare_team, query, signed_in
from hypothesis import given
from hypothesis import strategies as st

from salesflow.phrases import MESSAGES, phrase, say

# What the French catalog will say for a few of the templates (the lead's catalog comes with
# part A; the pages get it from `translations(locale)`, replaced here).
FRENCH = {
    MESSAGES["cancelled_by_move"]: "annulée par {event} : {from_stage} → {to_stage} ({pipeline})",
    MESSAGES["contact_created"]: "contact {email} créé",
    MESSAGES["owner_in_turn"]: "responsable {owner} (à tour de rôle parmi {among})",
    MESSAGES["refused_at"]: "{pointer} : {reason}",
    MESSAGES["not_an_email"]: "« {value} » n'est pas une adresse e-mail",
}


class French(NullTranslations):
    def gettext(self, message: str) -> str:
        return FRENCH.get(message, message)


@pytest.fixture
def french(monkeypatch):
    """Pages made from now on say the phrases in FRENCH."""
    monkeypatch.setattr(
        "salesflow.web.environment.translations", lambda locale: French(), raising=False
    )


def names(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


values = st.one_of(st.text(), st.integers(), st.none())


@given(st.sampled_from(sorted(MESSAGES)), st.data())
def test_any_phrase_is_said_as_its_template_with_its_values(msg, data):
    given_values = {name: data.draw(values) for name in names(MESSAGES[msg])}
    shown = {name: "" if value is None else value for name, value in given_values.items()}
    assert say(phrase(msg, **given_values)) == MESSAGES[msg].format(**shown)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.sampled_from(["msg", "id", "x"]), inner),
)


@given(st.one_of(st.text(), json_values.map(json.dumps)))
def test_say_never_raises_and_shows_what_is_no_phrase_of_ours_as_stored(stored):
    said = say(stored)
    assert isinstance(said, str)
    if not stored.startswith("{") or '"msg"' not in stored:
        assert said == stored


def test_rows_written_before_phrases_and_unknown_ids_are_shown_as_stored():
    for stored in (
        "created contact julie@example.org",
        'cancelled by deal.stage_changed {"pipeline": "cours-essai", "to": "inscrit"}',
        '{"msg": "no_such_message", "id": 1}',
        '{"msg": "contact_created"}',  # its value is missing
        '{"msg": ["contact_created"]}',
        "{" * 100_000,
    ):
        assert say(stored) == stored
    assert say(None) is None


@pytest.mark.parametrize(
    ("stored", "english"),
    [
        (phrase("step_failed", step="veille", reason=phrase("wait_until_empty", at="{{ x }}")),
         "step veille: wait_until: {{ x }} is empty"),
        (phrase("run_stopped", reason=phrase("stopped")), "stopped: stopped"),
        (phrase("run_stopped", reason="plus rien"), "stopped: plus rien"),
        (phrase("contact_already_in", run=3), "contact already in this workflow (run #3)"),
        (phrase("workflow_gone", workflow="old"), "workflow 'old' no longer exists"),
        (phrase("step_gone", step="a/b"), "workflow edited: its step 'a/b' no longer exists"),
        (phrase("cancelled_by_hand"), "cancelled by hand"),
        (phrase("retried_by_hand"), "retried by hand"),
        (phrase("slot_fired_missed", when="2026-11-21 08:00", missed=2),
         "slot 2026-11-21 08:00; 2 earlier slot(s) missed, fired once"),
        (phrase("wait_moved", field="contact.date_essai", until="2026-12-04 18:30"),
         "contact.date_essai changed: now waiting until 2026-12-04 18:30"),
        (phrase("task_created", id=1, title="Appeler", assignee=phrase("nobody")),
         "task #1 “Appeler” for nobody"),
        (phrase("contact_updated", email="j@x.example", changed=phrase("no_change")),
         "updated contact j@x.example: no change"),
        (phrase("refused_at", pointer="/email", reason=phrase("not_an_email", value="julie")),
         "/email: 'julie' is not an email address"),
    ],
)  # fmt: skip
def test_each_writers_phrase_says_in_english_what_was_stored_before(stored, english):
    assert say(stored) == english


def test_values_that_are_no_phrase_read_as_json_and_null_as_nothing():
    unknown = '{"msg": "run_stopped", "reason": {"msg": "from_a_newer_salesflow", "n": 1}}'
    assert say(unknown) == 'stopped: {"msg": "from_a_newer_salesflow", "n": 1}'
    assert say('{"msg": "run_stopped", "reason": ["a", "é"]}') == 'stopped: ["a", "é"]'
    assert say('{"msg": "run_stopped", "reason": null}') == "stopped: "


def test_a_nested_phrase_is_said_in_the_readers_language_too():
    stored = phrase("refused_at", pointer="/email", reason=phrase("not_an_email", value="x"))
    assert json.loads(stored)["reason"] == {"msg": "not_an_email", "value": "x"}
    assert say(stored, French().gettext) == "/email : « x » n'est pas une adresse e-mail"
    broken = {MESSAGES["not_an_email"]: "« {valeur} » n'est pas une adresse"}.get
    assert say(phrase("not_an_email", value="x"), lambda t: broken(t, t)) == (
        "'x' is not an email address"  # a translation naming a wrong value: the English
    )


def test_the_trace_is_stored_as_phrases_and_runs_show_says_it_in_english(sf):
    sf("ingest", sf.project / "examples/forms/julie.json", "--form", "cours-essai")
    processed = sf("process", "--json")
    assert processed["steps"][0]["detail"] == "created contact julie.martin@example.org"
    [(detail,)] = query(sf.project, "SELECT detail FROM run_steps WHERE step = 'contact'")
    assert json.loads(detail) == {"msg": "contact_created", "email": "julie.martin@example.org"}
    shown = sf("runs", "show", "1").output
    assert "created contact julie.martin@example.org" in shown and '"msg"' not in shown
    trace = sf("runs", "show", "1", "--json")["trace"]
    assert trace[0]["detail"] == "created contact julie.martin@example.org"


def test_the_activity_page_says_a_cancel_reason_in_the_projects_language(french, sf):
    """A run cancelled by a deal's move: its reason was the event's raw JSON; it is now the
    move, said through the catalog (the CLI keeps English)."""
    prepare_team(sf)
    sf("deals", "move", "1", "inscrit")
    sf("process")
    [(reason,)] = query(sf.project, "SELECT reason FROM runs WHERE status = 'cancelled'")
    assert say(reason) == "cancelled by deal.stage_changed: essai-planifie → inscrit (cours-essai)"
    pages = Pages(sf.project)
    try:
        client = signed_in(pages)
        activity = client.get("/activity").text
        deal = client.get("/deals/1").text
    finally:
        pages.close()
    assert "annulée par deal.stage_changed : essai-planifie → inscrit (cours-essai)" in activity
    assert "&#34;msg&#34;" not in activity and "{&#34;" not in activity
    assert "responsable marie (à tour de rôle parmi marie, paul)" in deal


def test_a_french_visitors_bad_email_is_refused_in_french(french, sf):
    pages = Pages(sf.project)
    try:
        fields = {"email": "pas-un-email", "date_essai": "2027-01-09T18:30"}
        page = pages.post("/forms/cours-essai", data=fields, headers={"Accept": "text/html"})
        api = pages.post("/forms/cours-essai", json=fields)
    finally:
        pages.close()
    assert page.status_code == 422
    assert "/email : « pas-un-email » n&#39;est pas une adresse e-mail" in page.text
    assert "is not an email address" not in page.text
    assert api.json()["error"] == "/email: 'pas-un-email' is not an email address"
    [(error,)] = query(sf.project, "SELECT error FROM rejects ORDER BY id LIMIT 1")
    reason = {"msg": "not_an_email", "value": "pas-un-email"}
    assert json.loads(error) == {"msg": "refused_at", "pointer": "/email", "reason": reason}
    assert "'pas-un-email' is not an email address" in sf("rejects", "list").output


def test_a_visitor_is_never_shown_a_librarys_english_but_a_generic_refusal():
    from salesflow.ingest.forms import Rejected

    ours = Rejected("/email", phrase("not_an_email", value="x"))
    theirs = Rejected("/age", "invalid literal for int() with base 10: 'x'")
    assert str(theirs) == "/age: invalid literal for int() with base 10: 'x'"  # the CLI's
    assert say(theirs.to_visitor) == "/age: this value is not accepted"
    assert say(ours.to_visitor) == str(ours) == "/email: 'x' is not an email address"
