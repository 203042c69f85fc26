"""The README's demo (scripts/demo.py, what `make demo` runs) says the same thing on
PostgreSQL as on SQLite: every command's output over the club's two weeks, and every email
and request it writes; it shows the stages' playbooks at work: a refused move, a tick, the
move then going through, and Marie's day; and the robot hearing back: Julie's answer stops
her after-lesson workflow and Marie is told, Œdipe's bounce stops the emails to him, an
out-of-office changes nothing."""

import email
import os
import re
import sqlite3
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
    assert "16 emails in DEMO/outbox/" in on_sqlite
    assert_the_playbook_is_shown(on_sqlite)
    assert written(tmp_path / "postgresql" / "outbox") == written(tmp_path / "sqlite" / "outbox")
    assert not (tmp_path / "postgresql" / "salesflow.db").exists()
    assert_the_replies_are_heard(on_sqlite, tmp_path / "sqlite")


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


def assert_the_replies_are_heard(said: str, folder: Path) -> None:
    """Julie's answer to the invitation to enrol ends her after-lesson run (its call task is
    never created) and Marie gets its text; Œdipe's invitation bounces and the next email to
    him is skipped with the reason; Julie's out-of-office, read the day before her answer, is
    kept and changes nothing."""
    assert (
        "$ salesflow --now 2026-12-07T18:30 inbound poll\n"
        "1 message read from the replies mailbox (1 auto reply)\n"
    ) in said
    stopped = "stopped: julie.martin@example.org replied to “Envie de continuer, Julie ?”"
    julie = said.split("$ salesflow runs show 9\n")[1].split("\n\n")[0].splitlines()
    assert julie[0] == f"run #9 of apres-essai: cancelled ({stopped})"
    assert re.fullmatch(rf"  2026-12-08 18:31  —\s+cancelled  {re.escape(stopped)}", julie[-1])
    oedipe = said.split("$ salesflow runs show 5\n")[1].split("\n\n")[0]
    assert re.search(r"second-mail \(send_email\)\s+skipped\s+not sent: oedipe.lefevre@example"
                     r".org is undeliverable \(it bounced\)\n", oedipe)  # fmt: skip

    outbox = written(folder / "outbox")
    told = [text.replace("\r\n", "\n") for text in outbox.values()
            if "Subject: Réponse de Julie Martin" in text]  # fmt: skip
    assert len(told) == 1  # her answer, not her out-of-office
    assert "To: Marie Dupont <marie@club.example>" in told[0]
    assert "    Oui, je m'inscris ! Je passe ce soir au club régler l'inscription.\n" in told[0]
    assert "Merci d'être venu" not in told[0]  # the quoted invitation is left out
    assert sum("To: Œdipe" in text for text in outbox.values()) == 1  # the first invitation

    # The day the call task was due: the tick creates none.
    tick = subprocess.run(
        [Path(sys.executable).parent / "salesflow", "--now", "2026-12-09T18:31", "tick"],
        cwd=folder, env={k: v for k, v in os.environ.items() if k != "SALESFLOW_DB"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "Appeler Julie" not in tick.stdout
    with sqlite3.connect(folder / "salesflow.db") as database:
        assert database.execute("SELECT count(*) FROM tasks WHERE title LIKE 'Appeler Julie%'"
                                ).fetchone() == (0,)  # fmt: skip
        assert database.execute(
            "SELECT kind, sender, outbox_id FROM inbound ORDER BY id"
        ).fetchall() == [
            ("bounce", "mailer-daemon@mx.club.example", 9),
            ("auto_reply", "julie.martin@example.org", 15),
            ("reply", "julie.martin@example.org", 15),
        ]
        assert database.execute(
            "SELECT email, email_status, unsubscribed_at FROM contacts ORDER BY id"
        ).fetchall() == [
            ("julie.martin@example.org", "ok", None),
            ("ines.breval@example.org", "ok", None),
            ("oedipe.lefevre@example.org", "undeliverable", None),
        ]
