"""Benchmark: `salesflow validate` on a large project (300 stages, 400 steps, a 5,000-line
template) against the demo project, measured in the same run, alternating. Target: within
2× the demo. Cold = no cache of template checks (a fresh clone in CI); warm = unchanged
templates (a pre-commit hook). Two templates: an email-like one (a tag every few lines)
and a dense one (three tags on every line, 15,000 in all).

    .venv/bin/python bench/validate.py [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import SALESFLOW, demo_project


def email_like(lines: int) -> str:
    rows = []
    for n in range(lines):
        if n % 10 == 0:
            rows.append(f"<p>Bonjour {{{{ contact.first_name }}}}, ligne {n}</p>")
        elif n % 25 == 0:
            rows.append("{% if deal %}<b>{{ deal.title }}</b>{% endif %}")
        else:
            rows.append(f"<p>Texte de la ligne {n}, sans rien de dynamique.</p>")
    return "\n".join(rows)


def dense(lines: int) -> str:
    return "\n".join(
        f"Ligne {n} : {{{{ contact.first_name }}}} {{% if deal %}}{{{{ deal.title }}}}{{% endif %}}"
        for n in range(lines)
    )


def large_in(folder: Path, body: str) -> Path:
    demo_project(folder)
    stages = "\n".join(
        f"  - {{id: s{n}, name: Stage {n}, probability: {n % 100}}}" for n in range(298)
    )
    (folder / "pipelines" / "grand.yaml").write_text(
        f"id: grand\nname: Grand\nstages:\n{stages}\n"
        "  - {id: won, name: Won, outcome: won}\n  - {id: lost, name: Lost, outcome: lost}\n"
    )
    steps = "\n".join(
        f"  - id: s{n}\n    move_deal: {{pipeline: grand, stage: s{n % 298}}}"
        if n % 2
        else f"  - id: s{n}\n    notify: {{to: marie, template: gros}}"
        for n in range(400)
    )
    (folder / "workflows" / "grand.yaml").write_text(
        f"id: grand\ntrigger: {{event: deal.created, match: {{pipeline: grand}}}}\n"
        f"steps:\n{steps}\n"
    )
    (folder / "workflows" / "templates" / "gros.txt.j2").write_text(
        '---\nsubject: "Gros {{ contact.first_name }}"\n---\n' + body + "\n"
    )
    return folder


def validate(project: Path, cold: bool) -> float:
    if cold:
        shutil.rmtree(project / ".salesflow", ignore_errors=True)
    began = time.perf_counter()
    subprocess.run([SALESFLOW, "--project", project, "validate"], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        demo = demo_project(Path(scratch) / "demo")
        for name, body in (("email-like", email_like(5000)), ("dense", dense(5000))):
            large = large_in(Path(scratch) / name, body)
            for kind, cold in (("cold", True), ("warm", False)):
                validate(large, cold=False)  # warms the disk cache (and, warm, the checks')
                ratios = []
                for _ in range(args.runs):
                    floor = validate(demo, cold)
                    ratios.append(validate(large, cold) / floor)
                median = statistics.median(ratios)
                verdict = "ok" if median <= 2 else "TARGET MISSED"
                spread = f"min {min(ratios):.2f}, max {max(ratios):.2f}"
                print(f"{name} template, {kind}: large / demo, median of {args.runs} pairs:"
                      f" {median:.2f}× ({spread}; target ≤ 2×) {verdict}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
