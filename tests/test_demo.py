"""The README's demo (scripts/demo.py, what `make demo` runs) says the same thing on
PostgreSQL as on SQLite: every command's output over the club's two weeks, and every email
and request it writes."""

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
    assert written(tmp_path / "postgresql" / "outbox") == written(tmp_path / "sqlite" / "outbox")
    assert not (tmp_path / "postgresql" / "salesflow.db").exists()
