"""The README's demo (scripts/demo.py, what `make demo` runs) says the same thing on
PostgreSQL as on SQLite: every command's output over the club's two weeks, and every email
and request it writes; and it shows the stages' playbooks at work: a refused move, a tick,
the move then going through, and Marie's day."""

import email
import os
import re
import subprocess
import sys
from email import policy
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_demo(folder: Path, database: str | None) -> str:
    environment = {key: value for key, value in os.environ.items() if key != "SALESFLOW_DB"}
    if database:
        environment["SALESFLOW_DB"] = database
    result = subprocess.run(
        [sys.executable, REPO / "scripts" / "demo.py", folder],
        env=environment, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout.replace(str(folder), "DEMO")


def written(outbox: Path) -> dict[str, str]:
    """Each file of the outbox, emails decoded, their random parts (ids, boundaries) masked."""
    files = {}
    for path in sorted(outbox.rglob("*.*")):
        if path.suffix == ".eml":
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            parts = [f"{name}: {value}" for name, value in message.items()]
            parts += [
                part.get_payload(decode=True).decode()
                for part in message.walk()
                if not part.is_multipart()
            ]
            text = "\n".join(parts)
        else:
            text = path.read_text()
        text = re.sub(r"[0-9a-f]{32}", "<hex>", text)
        files[str(path.relative_to(outbox))] = re.sub(r"={15}\d+==", "=<boundary>==", text)
    return files


def test_the_demo_says_the_same_on_postgresql_as_on_sqlite(tmp_path, postgres_url):
    on_sqlite = run_demo(tmp_path / "sqlite", None)
    on_postgresql = run_demo(tmp_path / "postgresql", postgres_url)
    assert on_postgresql.splitlines() == on_sqlite.splitlines()
    assert "15 emails in DEMO/outbox/" in on_sqlite
    assert_the_playbook_is_shown(on_sqlite)
    assert written(tmp_path / "postgresql" / "outbox") == written(tmp_path / "sqlite" / "outbox")
    assert not (tmp_path / "postgresql" / "salesflow.db").exists()


def assert_the_playbook_is_shown(said: str) -> None:
    """Julie's enrolment is refused until Marie ticks the payment, then goes through."""
    refused = said.split("$ salesflow --now 2026-12-08T19:00 deals won 1\n")[1]
    assert refused.startswith(
        "error: deal #1 cannot enter “Inscription confirmée”: “Paiement reçu” is not ticked in"
        " “Cours d'essai réalisé”\n"
        '  tick it: salesflow deals check 1 "Paiement reçu" --by MEMBER\n'
        "  or force it: add --force --by MEMBER\n"
    )
    ticked, won = refused.split("$ salesflow --now 2026-12-08T19:06 deals won 1 --by marie\n")
    assert (
        "$ salesflow --now 2026-12-08T19:05 deals check 1 'Paiement reçu' --by marie\n"
        "ticked “Paiement reçu” in “Cours d'essai réalisé” of deal #1 Julie Martin (by marie)\n"
    ) in ticked
    assert won.startswith("won #1 Julie Martin → Inscription confirmée (won)\n")
    marie = ticked.split("$ salesflow --now 2026-12-08T19:02 today --member marie\n")[1]
    assert marie.startswith("Today 2026-12-08 — Marie Dupont")
    assert "to tick in Cours d'essai réalisé: Paiement reçu" in marie
