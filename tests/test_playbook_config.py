"""The stages' playbooks in the project's files (#29): a workflow can start on a tick, a
checklist item written wrong is told precisely, `requires` names only what can be missing,
and validate warns about a rule that would block closing a deal."""

from __future__ import annotations

from conftest import query

JULIE = "julie@example.org"

ON_PAYMENT = """id: paye
trigger:
  event: deal.checklist_ticked
  match: {pipeline: cours-essai, item: Paiement reçu, ticked: true, by: marie}
steps:
  - id: inscrire
    move_deal: {stage: inscrit}
"""


def test_a_workflow_triggered_by_a_tick_runs(sf):
    """Marie ticks Julie's payment: the workflow waiting for it enrols her."""
    (sf.project / "workflows" / "paye.yaml").write_text(ON_PAYMENT, encoding="utf-8")
    assert "no errors" in sf("validate").output
    sf("contacts", "add", JULIE, "--first-name", "Julie", "--owner", "marie",
       "--field", "date_essai=2026-11-28T18:30")  # fmt: skip
    sf("deals", "add", "--title", "Essai Julie", "--contact", JULIE, "--stage", "essai-realise")
    sf("deals", "check", "1", "Paiement reçu", "--by", "marie")
    sf("process")
    runs = query(sf.project, "SELECT status FROM runs WHERE workflow = 'paye'")
    assert runs == [("done",)]
    assert sf("deals", "show", "1", "--json")["stage"] == "inscrit"
