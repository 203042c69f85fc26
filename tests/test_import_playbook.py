"""`salesflow import --pipeline --stage` and the stages' playbooks (#29): a row whose deal
would not meet the stage's `requires` is rejected with the refusal, like any bad row, and
the others import; the deals the import opens get the stage's entry tasks."""

from __future__ import annotations

import csv
import shutil

import pytest
from conftest import query

pytestmark = pytest.mark.engines

PROSPECTS = """email;prenom;nom;date_essai;montant
julie@example.org;Julie;Martin;2026-12-05T18:30;240
oedipe@example.org;Œdipe;Lefèvre;;240
pas-une-adresse;Chloé;Dubois;2026-12-05T18:30;240
ines@example.org;Inès;Bréval;2026-12-12T18:30;180
zoe@example.org;Zoé;Noël;;
"""
REFUSED = "a new deal cannot enter “Cours d'essai planifié”: contact.date_essai is not set"


@pytest.fixture
def prospects(sf):
    path = sf.project / "prospects.csv"
    path.write_text(PROSPECTS, encoding="utf-8")
    return path


def test_rows_whose_deal_the_stage_refuses_are_rejected_and_the_others_import(sf, prospects):
    summary = sf("import", prospects, "--pipeline", "cours-essai", "--stage", "essai-planifie",
                 "--json")  # fmt: skip
    assert (summary["rows"], summary["created"], summary["rejected"], summary["deals_created"]) \
        == (5, 2, 3, 2)  # fmt: skip
    assert summary["errors"] == [
        {"row": 3, "error": REFUSED},
        {"row": 4, "error": "'pas-une-adresse' is not an email address"},
        {"row": 6, "error": REFUSED},
    ]
    deals = query(sf.project, "SELECT c.email, d.stage FROM deals d JOIN contacts c ON c.id ="
                  " d.contact_id ORDER BY c.email")  # fmt: skip
    assert deals == [
        ("ines@example.org", "essai-planifie"),
        ("julie@example.org", "essai-planifie"),
    ]
    with prospects.with_name("prospects.rejected.csv").open(encoding="utf-8") as file:
        rejected = list(csv.reader(file, delimiter=";"))
    assert [(row[0], row[-1]) for row in rejected[1:]] == [
        ("oedipe@example.org", REFUSED),
        ("pas-une-adresse", "'pas-une-adresse' is not an email address"),
        ("zoe@example.org", REFUSED),
    ]
    text = sf("import", prospects, "--pipeline", "cours-essai", "--stage", "essai-planifie")
    assert f"prospects.csv:3: {REFUSED}" in text.output


def test_a_known_contact_is_judged_by_nothing_it_opens_no_deal(sf, prospects):
    """The import opens deals for the contacts it creates only: Œdipe, known already, is
    not refused (and gets no deal, as before playbooks)."""
    sf("contacts", "add", "oedipe@example.org")
    summary = sf("import", prospects, "--pipeline", "cours-essai", "--stage", "essai-planifie",
                 "--json")  # fmt: skip
    assert [error["row"] for error in summary["errors"]] == [4, 6]
    assert (summary["updated"], summary["deals_created"]) == (1, 2)


def test_the_deals_an_import_opens_get_the_stages_entry_tasks(sf, prospects):
    sf("import", prospects, "--pipeline", "cours-essai", "--stage", "essai-realise",
       "--no-trigger")  # fmt: skip
    tasks = query(sf.project, "SELECT t.title, t.created_by, t.due_at IS NOT NULL, d.stage FROM"
                  " tasks t JOIN deals d ON d.id = t.deal_id ORDER BY t.id")  # fmt: skip
    assert tasks == [
        ("Demander son avis à Julie après l'essai", "stage:essai-realise", 1, "essai-realise"),
        ("Demander son avis à Œdipe après l'essai", "stage:essai-realise", 1, "essai-realise"),
        ("Demander son avis à Inès après l'essai", "stage:essai-realise", 1, "essai-realise"),
        ("Demander son avis à Zoé après l'essai", "stage:essai-realise", 1, "essai-realise"),
    ]


def test_a_stage_without_requires_costs_no_query_a_row(sf, prospects, monkeypatch):
    """Without `requires` the import never asks which emails are known (the rule's query)."""
    from salesflow.store import imports

    def forbidden(*args):
        raise AssertionError("the rule's query ran for a stage without requires")

    monkeypatch.setattr(imports, "existing_emails", forbidden)
    shutil.copy(prospects, sf.project / "again.csv")
    summary = sf("import", sf.project / "again.csv", "--pipeline", "cours-essai", "--stage",
                 "nouveau", "--json")  # fmt: skip
    assert (summary["created"], summary["deals_created"]) == (4, 4)
