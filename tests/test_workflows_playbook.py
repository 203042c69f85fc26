"""The stages' rule in the demo's workflows, through the real CLI and the activity page
(#29): a run whose move the stage refuses fails alone, its reason said in English by
`runs show` and in French on the page; `force: true` moves the deal, marked in its history."""

from __future__ import annotations

import pytest
from conftest import query, signed_in

pytestmark = pytest.mark.engines

PLAN = """id: {id}
trigger: {{manual: true}}
steps:
  - id: planifier
    move_deal: {{stage: essai-planifie{force}}}
"""


def test_a_workflow_moving_a_deal_the_stage_refuses_fails_that_run_alone(pages, sf):
    """Inès (deal 2) has her trial date, Œdipe (deal 3) none: planning both moves Inès's
    deal, and fails Œdipe's run alone; the forcing workflow moves it, marked forced."""
    (sf.project / "workflows" / "planifier.yaml").write_text(PLAN.format(id="planifier", force=""))
    sf("workflows", "start", "planifier", "--deal", "2", "--deal", "3")
    runs = query(sf.project, "SELECT id, deal_id, status FROM runs WHERE workflow = 'planifier'"
                 " ORDER BY id")  # fmt: skip
    assert [(deal, status) for _, deal, status in runs] == [(2, "done"), (3, "failed")]
    assert query(sf.project, "SELECT id, stage FROM deals WHERE id IN (2, 3) ORDER BY id") == [
        (2, "essai-planifie"), (3, "nouveau"),
    ]  # fmt: skip
    refused = "deal #3 cannot enter “Cours d'essai planifié”: contact.date_essai is not set"
    failed = runs[1][0]
    assert f"step planifier: {refused}" in sf("runs", "show", failed).output
    page = signed_in(pages).get("/activity").text
    shown = page.split("Automatisations en échec")[1].split("<h2>")[0]
    assert (
        "étape planifier : l’affaire n° 3 ne peut pas entrer dans « Cours d'essai planifié » :"
        " contact.date_essai n’est pas renseigné"
    ) in shown.replace("&#39;", "'")

    (sf.project / "workflows" / "forcer.yaml").write_text(
        PLAN.format(id="forcer", force=", force: true")
    )
    sf("workflows", "start", "forcer", "--deal", "3")
    deal = sf("deals", "show", "3", "--json")
    assert deal["stage"] == "essai-planifie"
    last = deal["history"][-1]
    assert (last["from"], last["to"], last["by"], last["forced"]) == (
        "nouveau", "essai-planifie", "workflow:forcer", True,
    )  # fmt: skip
