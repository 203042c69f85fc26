"""`validate` on the stages' playbooks (#29): a workflow moving a deal onto a stage whose
`requires` it never sets is warned about (not refused: the deal may have them already),
unless the step says `force: true`; what the earlier steps set counts. The errors have their
examples in tests/examples/invalid/playbook-*."""

from __future__ import annotations

import json

from conftest import EXAMPLES, build_example

PIPELINE = """id: ventes
name: Ventes
stages:
  - {id: nouveau, name: Nouveau}
  - {id: essai, name: Essai, requires: [owner, amount, contact.date_essai]}
  - {id: gagne, name: Gagné, outcome: won}
  - {id: perdu, name: Perdu, outcome: lost}
"""
WORKFLOW = """id: relance
trigger: {{event: deal.created}}
steps:
{steps}
"""


def project_with(tmp_path, monkeypatch, steps: str) -> None:
    """The base example with the pipeline and the workflow; the current folder."""
    project = build_example(EXAMPLES / "valid" / "minimal", tmp_path / "project")
    (project / "pipelines" / "ventes.yaml").write_text(PIPELINE)
    (project / "workflows" / "relance.yaml").write_text(WORKFLOW.format(steps=steps))
    monkeypatch.chdir(project)


def test_a_move_onto_a_stage_the_workflow_never_meets_is_a_warning(tmp_path, cli, monkeypatch):
    project_with(tmp_path, monkeypatch, "  - assign_owner: {among: [marie]}\n"
                                     "  - move_deal: {stage: essai}\n")  # fmt: skip
    result = cli("validate")
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == (
        "workflows/relance.yaml:5:24: warning: stage 'essai' requires amount,"
        " contact.date_essai, which this workflow never sets: a run whose deal lacks amount or"
        " whose contact lacks date_essai fails here; set them in an earlier step, or add force:"
        " true [steps[1].move_deal.stage]"
    )
    assert result.output.splitlines()[1] == (
        "ok: 1 pipeline, 2 workflows, 1 template checked, no errors, 1 warning"
    )
    found = json.loads(cli("validate", "--json").output)
    assert [(p["line"], p["column"], p["key"], p.get("warning")) for p in found] == [
        (5, 24, "steps[1].move_deal.stage", True)
    ]
    strict = cli("validate", "--strict")
    assert strict.exit_code == 1
    assert strict.output.splitlines()[1] == (
        "1 error in 1 file (1 warning counted as an error by --strict; 1 pipeline, 2 workflows,"
        " 1 template checked)"
    )


def test_what_earlier_steps_set_or_force_silences_the_warning(tmp_path, cli, monkeypatch):
    steps = (
        "  - update_contact: {fields: {date_essai: '2026-12-05T18:30'}}\n"
        "  - update_deal: {amount: 240, owner: paul}\n"
        "  - move_deal: {stage: essai}\n"
        "  - move_deal: {stage: nouveau}\n"
        "  - move_deal: {stage: essai, force: true}\n"
    )
    project_with(tmp_path, monkeypatch, steps)
    result = cli("validate")
    assert result.exit_code == 0 and "warning" not in result.output, result.output
