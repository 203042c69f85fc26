"""`salesflow contacts`: adding, changing, listing, unsubscribing — checked in the database."""

from __future__ import annotations

import csv
import io
import json

import pytest
from conftest import query

pytestmark = pytest.mark.engines


def test_add_prints_what_it_created_and_records_the_event(sf):
    contact = sf(
        "contacts", "add", "  Julie.Martin@Example.ORG ", "--first-name", "Julie",
        "--last-name", "Martin", "--phone", "0612345678", "--field", "date_essai=05/12/2026 18:30",
        "--field", "voix=soprano", "--tag", "essai", "--json",
    )  # fmt: skip
    assert contact["id"] == 1
    assert contact["email"] == "julie.martin@example.org"
    assert (contact["first_name"], contact["last_name"]) == ("Julie", "Martin")
    assert contact["phone"] == "0612345678"
    assert contact["date_essai"] == "2026-12-05T18:30:00+01:00"
    assert contact["tags"] == ["essai"]
    assert contact["created_at"] == "2026-11-20T10:00:00+01:00"
    assert query(sf.project, "SELECT type, subject_id FROM events") == [("contact.created", 1)]


def test_the_same_email_in_another_case_is_the_same_contact(sf):
    sf("contacts", "add", "julie@example.org")
    result = sf("contacts", "add", "JULIE@example.org", code=1)
    assert "a contact with email julie@example.org exists" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_bad_values_are_one_line_errors(sf):
    assert "is not an email address" in sf("contacts", "add", "julie", code=1).output
    result = sf("contacts", "add", "j@example.org", "--field", "voix=baryton", code=1)
    assert (
        "contact field voix: 'baryton' is not one of: soprano, alto, ténor, basse" in result.output
    )
    result = sf("contacts", "add", "j@example.org", "--owner", "mari", code=1)
    assert "'mari' is not a team member (did you mean 'marie'?)" in result.output
    result = sf("contacts", "add", "j@example.org", "--field", "voice=alto", code=1)
    assert "'voice' is not a custom contact field" in result.output
    assert query(sf.project, "SELECT count(*) FROM contacts") == [(0,)]


def test_update_changes_only_what_is_given_and_records_what_changed(sf):
    sf("contacts", "add", "julie@example.org", "--first-name", "Julie", "--phone", "0612")
    updated = sf("contacts", "update", "julie@example.org", "--company", "Chorale", "--json")
    assert (updated["first_name"], updated["phone"], updated["company"]) == (
        "Julie", "0612", "Chorale",
    )  # fmt: skip
    kind, data = query(sf.project, "SELECT type, data FROM events ORDER BY id")[-1]
    assert (kind, json.loads(data)["changed"]) == ("contact.updated", ["company"])
    sf("contacts", "update", "julie@example.org", "--company", "Chorale")
    assert len(query(sf.project, "SELECT * FROM events")) == 2  # no change, no event


def test_dry_run_shows_the_contact_and_writes_nothing(sf):
    result = sf("contacts", "add", "julie@example.org", "--dry-run")
    assert result.output.startswith("would create #1 julie@example.org (dry run: nothing written)")
    assert query(sf.project, "SELECT count(*) FROM contacts") == [(0,)]
    assert query(sf.project, "SELECT count(*) FROM events") == [(0,)]


def test_list_filters_by_owner_tag_and_text(sf):
    sf("contacts", "add", "julie@example.org", "--first-name", "Julie", "--owner", "marie")
    sf("contacts", "add", "ines@example.org", "--first-name", "Inès", "--tag", "alto")
    sf("contacts", "add", "paul@example.org", "--company", "Chorale de Lyon", "--owner", "paul")
    emails = lambda *args: [c["email"] for c in sf("contacts", "list", *args, "--json")]  # noqa: E731
    assert emails() == ["paul@example.org", "ines@example.org", "julie@example.org"]
    assert emails("--owner", "marie") == ["julie@example.org"]
    assert emails("--tag", "alto") == ["ines@example.org"]
    assert emails("--search", "lyon") == ["paul@example.org"]
    assert emails("--search", "inès") == ["ines@example.org"]


def test_show_lists_the_contacts_deals(sf):
    sf("contacts", "add", "julie@example.org")
    sf("deals", "add", "--title", "Essai Julie", "--contact", "julie@example.org")
    shown = sf("contacts", "show", "julie@example.org", "--json")
    assert [deal["title"] for deal in shown["deals"]] == ["Essai Julie"]
    assert "deal #1 Essai Julie — Nouveau prospect (open)" in sf("contacts", "show", "1").output


def test_unsubscribe_is_kept(sf):
    sf("contacts", "add", "julie@example.org")
    contact = sf("contacts", "unsubscribe", "julie@example.org", "--json", now="2026-11-21T08:00")
    assert contact["unsubscribed_at"] == "2026-11-21T08:00:00+01:00"


def test_unknown_contact(sf):
    result = sf("contacts", "show", "nobody@example.org", code=1)
    assert "no contact 'nobody@example.org'" in result.output


def test_a_csv_export_carries_the_custom_fields(sf):
    sf("contacts", "add", "julie@example.org", "--field", "date_essai=05/12/2026 18:30",
       "--field", "voix=alto")  # fmt: skip
    text = sf("contacts", "list", "--format", "csv").output.lstrip("\ufeff")
    header, row = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert header[-2:] == ["Date du cours d'essai", "Voix"]
    assert row[-2:] == ["2026-12-05T18:30:00+01:00", "alto"]


def test_an_internationalised_address_is_one_person_however_typed(sf):
    sf("contacts", "add", "Chlo\u00e9@Gamma.example", "--first-name", "Chloé")
    result = sf("contacts", "add", "chloe\u0301@gamma.example", code=1)  # decomposed é
    assert "a contact with email chloé@gamma.example exists" in result.output
    sf("contacts", "add", "zoé@bücher.example")
    assert query(sf.project, "SELECT email FROM contacts ORDER BY id") == [
        ("chloé@gamma.example",), ("zoé@xn--bcher-kva.example",),
    ]  # fmt: skip
