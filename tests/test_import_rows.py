"""RowParser reads a batch of CSV records one column at a time: each record must come out
exactly as it would alone — its values, its refusal and the reason said — whatever the
other records of its batch hold (the batch's bad records fail alone)."""

from __future__ import annotations

import pytest
from conftest import REPO
from hypothesis import given, settings
from hypothesis import strategies as st

from salesflow.config.project import load_project
from salesflow.ingest.headers import resolve
from salesflow.ingest.rows import RowParser

# Two columns for the email, the phone and the trial date (the first non-empty one wins),
# an owner, tags, a full name, a choice field and a deal's amount and expected close.
HEADER = ["Email", "E-mail 2 - Value", "Name", "Phone", "Mobile", "Owner", "Tags",
          "date_essai", "date_essai", "voix", "Amount", "Expected close"]  # fmt: skip
VALUES = {  # per column: good values, blanks and bad ones
    "email": ["julie@example.org", " Paul@Example.ORG ", "", "pas-une-adresse", "a@b"],
    "name": ["Julie Martin", "Inès", "", "  "],
    "phone": ["0601020304", "", " +33 6 01 02 03 04 "],
    "owner": ["marie", "Paul Martin", "marie@club.example", "", "personne"],
    "tags": ["chorale, 2027", "", "alto;basse", "* vip"],
    "date": ["18/08/2027 18:30", "", "2027-08-18T18:30", "32/13/2027", "demain"],
    "voix": ["alto", "", "ténor", "baryton"],
    "amount": ["1 200,50 €", "", "90", "beaucoup"],
    "close": ["31/12/2027", "", "hier"],
}
KINDS = ["email", "email", "name", "phone", "phone", "owner", "tags", "date", "date", "voix",
         "amount", "close"]  # fmt: skip


@pytest.fixture(scope="module")
def parser() -> RowParser:
    project = load_project(REPO)
    columns = resolve(HEADER, {"Name": "full_name"}, project, with_deals=True)
    return RowParser(columns, project, "salon", ["import"])


def alone(parser: RowParser, record: list[str]) -> tuple:
    contacts, deals, refused = parser.parse([record])
    return contacts[0], deals[0], refused.get(0)


records = st.lists(
    st.tuples(*(st.sampled_from(VALUES[kind]) for kind in KINDS)).map(list)
    | st.lists(st.sampled_from(VALUES["email"]), max_size=3),  # a short record
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(batch=records)
def test_a_record_parses_in_a_batch_as_it_does_alone(parser, batch):
    contacts, deals, refused = parser.parse(batch)
    assert len(contacts) == len(deals) == len(batch)
    for position, record in enumerate(batch):
        contact, deal, why = alone(parser, record)
        assert refused.get(position) == why
        if why is None:
            assert (contacts[position], deals[position]) == (contact, deal)


def test_values_land_in_their_slots_the_first_non_empty_column_winning(parser):
    record = ["", " Julie@Example.ORG", "Julie Martin", "", "0601020304", "Paul Martin",
              "chorale; vip", "", "18/08/2027 18:30", "alto", "1 200,50 €",
              "31/12/2027"]  # fmt: skip
    contact, deal, why = alone(parser, record)
    assert why is None
    assert contact == (
        "julie@example.org", "Julie", "Martin", "0601020304", None, "paul", "salon",
        '["chorale", "import", "vip"]',
        '{"date_essai": "2027-08-18T18:30:00+02:00", "voix": "alto"}',
    )  # fmt: skip
    assert deal == ("julie@example.org", None, 120050, "2027-12-31")


def test_of_two_bad_values_the_first_columns_error_is_said(parser):
    record = ["julie@example.org", "", "", "", "", "personne", "", "demain", "", "baryton",
              "", ""]  # fmt: skip
    assert "'personne' is not a team member" in alone(parser, record)[2]
    record[5] = ""
    assert "Date du cours d'essai" in alone(parser, record)[2]


def test_a_bad_value_in_a_later_column_for_a_filled_field_is_not_read(parser):
    record = ["julie@example.org", "pas-une-adresse", "", "", "", "", "", "18/08/2027 18:30",
              "demain", "", "", ""]  # fmt: skip
    contact, _, why = alone(parser, record)
    assert why is None
    assert contact[0] == "julie@example.org"


def test_a_record_without_an_email_is_refused_as_such(parser):
    assert alone(parser, ["", "", "Julie Martin"])[2] == "no email address"
