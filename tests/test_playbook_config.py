"""The stages' playbooks in the project's files (#29): a workflow can start on a tick, a
checklist item written wrong is told precisely, `requires` names only what can be missing,
and validate warns about a rule that would block closing a deal."""

from __future__ import annotations

from conftest import Pages, prepare_team, query, signed_in

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


def test_a_checklist_item_written_wrong_is_told_what_is_wrong(sf):
    """A misspelt key gets its did-you-mean, an empty item and a quoted true their own
    message; a number is still no checklist item at all."""
    path = sf.project / "pipelines" / "cours-essai.yaml"
    wrong = '      - {item: Devis, requierd: true}\n      - {item: ""}\n'
    wrong += '      - {item: Avis, required: "true"}\n      - 3\n'
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("      - Avis recueilli\n", wrong), encoding="utf-8")
    lines = sf("validate", code=1).output.splitlines()
    where = f"{path}:" + "{}: {} [stages[2].checklist[{}]"
    assert lines[:4] == [
        where.format("36:23", "unknown key 'requierd' (did you mean 'required'?)", "0].requierd"),
        where.format("37:16", "must not be empty", "1].item"),
        where.format("38:32", "'true' is not true or false: write required: true, without quotes",
                     "2].required"),
        where.format("39:9", "3 is not a checklist item: write it as text, or as"
                     " {item: …, required: true}", "3]"),
    ]  # fmt: skip


def test_requiring_a_deal_s_probability_is_refused_with_the_reason(sf):
    """A deal always has its stage's probability: `requires: [probability]` would require
    nothing (creation used to refuse it, moves never did)."""
    path = sf.project / "pipelines" / "cours-essai.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("[contact.date_essai]", "[contact.date_essai, probability]")
    path.write_text(text, encoding="utf-8")
    output = sf("validate", code=1).output
    assert (
        "'probability' is always set (a deal has its stage's): requiring it would require"
        " nothing; remove it [stages[1].requires[1]]"
    ) in output


def test_a_playbook_that_blocks_losing_or_asks_nothing_on_a_closed_stage_is_warned(sf):
    """`requires` on the lost stage refuses `deals lost` to a deal lacking it; a required
    item of the won stage is never needed (a closed deal only reopens)."""
    path = sf.project / "pipelines" / "cours-essai.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "  - {id: perdu, name: Perdu, outcome: lost}",
        "  - {id: perdu, name: Perdu, outcome: lost, requires: [next_step]}",
    ).replace(
        "  - {id: inscrit, name: Inscription confirmée, outcome: won}",
        "  - {id: inscrit, name: Inscription confirmée, outcome: won,\n"
        "     checklist: [{item: Carte remise, required: true}]}",
    )  # fmt: skip
    path.write_text(text, encoding="utf-8")
    output = sf("validate").output
    assert (
        "warning: a closed deal never leaves stage 'inscrit' (won) forward: “Carte remise” is"
        " never required here; make it required in the stage before"
    ) in output
    assert (
        "warning: stage 'perdu' is where deals are lost: requiring next_step here refuses to"
        " lose a deal lacking it (but with --force); require it in an earlier stage, or not at"
        " all [stages[4].requires]"
    ) in output
    assert "no errors, 2 warnings" in output


def test_the_funnel_says_its_measured_deals_include_those_still_waiting(sf):
    """The wait's count of deals measured holds the deals still waiting: its heading says so,
    at the command line and on the page; the wait is in hours, a number right-aligned."""
    prepare_team(sf)
    sf("contacts", "add", JULIE, "--first-name", "Julie", now="2026-11-20T10:00")
    sf("deals", "add", "--title", "Essai Julie", "--contact", JULIE, "--stage", "essai-realise",
       now="2026-11-20T10:00")  # fmt: skip
    table = sf("pipeline", "funnel", "--format", "markdown", now="2026-11-21T10:00").output
    header, alignment = table.splitlines()[2:4]
    headings = [cell.strip() for cell in header.strip("|").split("|")]
    aligned = dict(zip(headings, alignment.strip("|").split("|"), strict=True))
    assert aligned["required items (h)"] == "---:"
    assert "measured, waiting included" in aligned
    pages = Pages(sf.project, now="2026-11-21T10:00")
    try:
        page = signed_in(pages).get("/funnel?pipeline=cours-essai").text
    finally:
        pages.close()
    assert "mesurées, en attente comprises" in page
