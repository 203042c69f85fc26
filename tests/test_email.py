"""Delivery to a real SMTP server on 127.0.0.1: structure, encodings, retries, failures."""

from __future__ import annotations

import email
import email.policy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import open_project, query
from smtp_server import Recorder, SmtpServer, Trickler, free_port

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL

SCRIPT = Path(sys.executable).parent / "salesflow"


def use_smtp(project, port: int, **extra) -> None:
    settings = project / "salesflow.yaml"
    rate = f", rate_limit: {extra['rate_limit']}" if "rate_limit" in extra else ""
    text = settings.read_text().replace(
        "  transport: outbox             # .eml files in outbox/, no server needed",
        f"  transport: smtp\n  max_attempts: {extra.get('max_attempts', 8)}\n"
        f"  smtp: {{host: 127.0.0.1, port: {port}, security: none,"
        f" timeout: {extra.get('timeout', 5)}{rate}}}",
    )
    assert text != settings.read_text()
    settings.write_text(text)


def queue_three(sf, tmp_path) -> None:
    for name, full in (("ines", "Inès Bréval"), ("bob", "Bob Stone"), ("zoe", "Zoé Noël")):
        first, last = full.split()
        payload = {"submissionId": name, "email": f"{name}@example.org", "prenom": first,
                   "nom": last, "date_essai": "2026-12-05T18:30"}  # fmt: skip
        (tmp_path / f"{name}.json").write_text(json.dumps(payload))
        sf("ingest", tmp_path / f"{name}.json", "--form", "cours-essai")
    sf("process")


def statuses(project) -> dict[str, str]:
    return dict(
        query(project, "SELECT to_addr, status FROM outbox WHERE to_addr LIKE '%@example.org'")
    )


def test_messages_arrive_with_the_right_structure_and_encodings(sf, tmp_path):
    with SmtpServer(Recorder()) as server:
        use_smtp(sf.project, server.port)
        queue_three(sf, tmp_path)
        result = sf("outbox", "send", "--json")
    none = {"sent": 0, "retrying": 0, "failed": 0, "errors": []}
    assert result == {"sent": 6, "retrying": 0, "failed": 0, "errors": [], "requests": none}
    assert server.handler.connections == 1  # one connection for the whole pass
    [ines] = [m for m in server.handler.messages if "ines@example.org" in m["To"]]
    assert ines["To"].addresses[0].display_name == "Inès Bréval"
    assert "=?utf-8?" in ines.as_string().split("\n\n")[0]  # the name went encoded
    assert ines["Subject"] == "Bienvenue Inès !"
    assert ines["Date"].datetime.utcoffset().total_seconds() == 3600  # Paris time in winter
    assert (
        ines["Message-ID"] == query(sf.project, "SELECT message_id FROM outbox WHERE id = 1")[0][0]
    )
    assert ines.get_body(("plain",)).get_content().startswith("Bonjour Inès,")
    assert ines.get_body(("html",)) is not None
    assert [part.get_content_type() for part in ines.iter_attachments()] == ["text/calendar"]


def test_a_busy_server_then_accepts_delivered_once(sf, tmp_path):
    with SmtpServer(Recorder(busy=2)) as server:
        use_smtp(sf.project, server.port)
        queue_three(sf, tmp_path)
        first = sf("outbox", "send", "--json", now="2026-11-20T10:00")
        assert (first["sent"], first["retrying"]) == (4, 2)
        assert sf("outbox", "send", "--json", now="2026-11-20T10:00")["sent"] == 0  # not yet due
        second = sf("outbox", "send", "--json", now="2026-11-20T10:02")
        assert (second["sent"], second["retrying"]) == (2, 0)
    ids = [m["Message-ID"] for m in server.handler.messages]
    assert len(ids) == 6 == len(set(ids))


def test_a_refused_recipient_fails_alone(sf, tmp_path):
    with SmtpServer(Recorder(refuse=("bob@example.org",))) as server:
        use_smtp(sf.project, server.port)
        queue_three(sf, tmp_path)
        result = sf("outbox", "send", "--json")
        assert (result["sent"], result["failed"]) == (5, 1)
        assert sf("outbox", "send", "--json")["sent"] == 0  # nothing is sent twice
    assert statuses(sf.project) == {"ines@example.org": "sent", "bob@example.org": "failed",
                                    "zoe@example.org": "sent"}  # fmt: skip
    error = query(sf.project, "SELECT last_error FROM outbox WHERE to_addr = 'bob@example.org'")
    assert error[0][0].startswith("550 5.1.1 <bob@example.org>: Recipient address rejected")
    assert len(server.handler.messages) == 5


def test_server_down_nothing_lost_then_delivered(sf, tmp_path):
    port = free_port()
    use_smtp(sf.project, port)
    queue_three(sf, tmp_path)
    down = sf("outbox", "send", "--json", now="2026-11-20T10:00")
    assert (down["sent"], down["retrying"]) == (0, 6)
    assert "cannot reach 127.0.0.1" in down["errors"][0]
    with SmtpServer(Recorder(), port=port) as server:
        assert sf("outbox", "send", "--json", now="2026-11-20T10:02")["sent"] == 6
    assert len(server.handler.messages) == 6


def test_after_max_attempts_a_message_fails(sf, tmp_path):
    use_smtp(sf.project, free_port(), max_attempts=2)
    queue_three(sf, tmp_path)
    sf("outbox", "send", now="2026-11-20T10:00")
    sf("outbox", "send", now="2026-11-20T11:00")
    assert set(statuses(sf.project).values()) == {"failed"}
    listed = sf("outbox", "list", "--status", "failed", "--json")
    assert all(m["attempts"] == 2 for m in listed)


def test_retry_and_cancel_by_hand(sf, tmp_path):
    port = free_port()
    use_smtp(sf.project, port, max_attempts=1)
    queue_three(sf, tmp_path)
    sf("outbox", "send")
    sf("outbox", "cancel", "2")
    with SmtpServer(Recorder(), port=port):
        sf("outbox", "retry", "1")
        assert sf("outbox", "send", "--json")["sent"] == 1
    assert sf("outbox", "cancel", "1", code=1).output.startswith("error: message #1 is sent")


@pytest.mark.parametrize("html", [False, True])
def test_render_prints_the_message_with_real_data(sf, tmp_path, html):
    queue_three(sf, tmp_path)
    args = ["render", "bienvenue", "--contact", "ines@example.org", *(["--html"] if html else [])]
    output = sf(*args).output
    assert output.startswith("Subject: Bienvenue Inès !")
    assert (
        "<strong>samedi 5 décembre à 18:30</strong>" if html else "le samedi 5 décembre"
    ) in output


def test_a_missing_smtp_password_is_one_clear_error_and_loses_nothing(sf, tmp_path):
    with SmtpServer(Recorder()) as server:
        use_smtp(sf.project, server.port)
        settings = sf.project / "salesflow.yaml"
        login = "security: none, username: club, password_env: CLUB_SMTP,"
        settings.write_text(settings.read_text().replace("security: none,", login))
        queue_three(sf, tmp_path)
        result = sf("outbox", "send", code=1)
    assert result.output == "error: set the SMTP password in the environment variable CLUB_SMTP\n"
    assert set(query(sf.project, "SELECT status FROM outbox")) == {("queued",)}


def test_a_server_that_trickles_its_greeting_cannot_hold_a_pass(sf, tmp_path):
    """smtplib's timeout is per read; a line every 0.3 s would hold it forever."""
    with Trickler(every=0.3) as trickler:
        use_smtp(sf.project, trickler.port, timeout=1)
        queue_three(sf, tmp_path)
        began = time.monotonic()
        result = sf("outbox", "send", "--json")
        took = time.monotonic() - began
    assert took < 4
    assert (result["sent"], result["retrying"]) == (0, 6)
    assert "connecting to 127.0.0.1" in result["errors"][0]
    assert "took longer than 1 s" in result["errors"][0]


def test_a_pass_slower_than_its_claim_is_never_doubled_by_the_next_one(sf, tmp_path):
    """Pass 1 (business clock at 10:00) is slow; pass 2 starts with the clock 11 minutes
    later, past the claim. Leases follow the real clock and pass 1 is alive: pass 2 takes
    nothing it holds, and every message arrives once."""
    with SmtpServer(Recorder(delay=0.25)) as server:
        use_smtp(sf.project, server.port)
        queue_three(sf, tmp_path)
        env = {**os.environ, "SALESFLOW_NOW": "2026-11-20T10:00"}
        first = subprocess.Popen([SCRIPT, "--project", sf.project, "outbox", "send", "--json"],
                                 env=env, stdout=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.monotonic() + 20
        while len(server.handler.messages) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        second = sf("outbox", "send", "--json", now="2026-11-20T10:11")
        output, _ = first.communicate(timeout=30)
    none = {"sent": 0, "retrying": 0, "failed": 0, "errors": []}
    assert second == {**none, "requests": none}
    assert json.loads(output)["sent"] == 6
    ids = [message["Message-ID"] for message in server.handler.messages]
    assert len(ids) == len(set(ids)) == 6


def test_a_rate_limited_pass_claims_only_what_it_can_send_within_its_claim(sf):
    from salesflow.mail.compose import queue
    from salesflow.outbox.claims import claim
    from salesflow.outbox.delivery import slice_size
    from salesflow.store.db import transaction
    from salesflow.store.session import Store
    from salesflow.values import parse_datetime

    use_smtp(sf.project, free_port(), rate_limit=6)  # 6 a minute: 30 in half a 10-min claim
    project = open_project(sf.project)
    store = Store.open(project, parse_datetime("2026-11-20T10:00", "fr_FR", project.timezone))
    with transaction(store.conn):
        for n in range(40):
            queue(store, None, None, (None, f"p{n}@example.org"), "Bonjour", "Texte", None)
    assert slice_size(project.email) == 30
    assert len(claim(store, "here:1:a", slice_size(project.email))) == 30
    assert len(claim(store, "here:2:b", slice_size(project.email))) == 10  # the rest, not more


def test_an_internationalised_address_goes_where_the_server_takes_smtputf8(sf, tmp_path):
    payload = {"submissionId": "chloe", "email": "chloé@example.org", "prenom": "Chloé",
               "date_essai": "2026-12-05T18:30"}  # fmt: skip
    (tmp_path / "chloe.json").write_text(json.dumps(payload))
    sf("ingest", tmp_path / "chloe.json", "--form", "cours-essai")
    sf("process")
    port = free_port()
    use_smtp(sf.project, port)
    with SmtpServer(Recorder(), port=port):  # aiosmtpd without SMTPUTF8
        result = sf("outbox", "send", "--json")
    assert (result["sent"], result["failed"]) == (1, 1)
    assert "does not take internationalised addresses (no SMTPUTF8)" in result["errors"][0]
    sf("outbox", "retry", "1")
    with SmtpServer(Recorder(), port=port, smtputf8=True) as server:
        assert sf("outbox", "send", "--json")["sent"] == 1
    [message] = server.handler.messages
    assert message["To"].addresses[0].addr_spec == "chloé@example.org"


def test_outbox_show_reads_like_a_mail_client(sf, tmp_path):
    queue_three(sf, tmp_path)
    shown = sf("outbox", "show", "1").output
    assert "To: Inès Bréval <ines@example.org>" in shown
    assert "(text + HTML; attached: invitation.ics)" in shown
    assert "\nBonjour Inès," in shown and "=C3" not in shown  # decoded, not quoted-printable
    assert "Content-Transfer-Encoding" in sf("outbox", "show", "1", "--raw").output


def test_a_name_or_body_of_100_000_characters_arrives_whole_within_line_limits(sf, tmp_path):
    """A server refuses a line over 998 characters (`500 Line too long`): the long word in
    the To: name and in the greeting goes encoded, and decodes to what was typed."""
    names = {"long": ("A" * 100_000, "Stone"),
             "trap": ("Zoé", "<victim@evil.example>, " + "é" * 5_000)}  # fmt: skip
    for key, (first, last) in names.items():
        payload = {"submissionId": key, "email": f"{key}@example.org", "prenom": first,
                   "nom": last, "date_essai": "2026-12-05T18:30"}  # fmt: skip
        (tmp_path / f"{key}.json").write_text(json.dumps(payload))
        sf("ingest", tmp_path / f"{key}.json", "--form", "cours-essai")
    sf("process")
    with SmtpServer(Recorder()) as server:
        use_smtp(sf.project, server.port)
        result = sf("outbox", "send", "--json")
    assert (result["sent"], result["failed"], result["errors"]) == (4, 0, [])
    received = {  # the To: line as an RFC 2047 reader decodes it (Python's own parser keeps
        # the folding space between two encoded words of a name, which RFC 2047 drops)
        decoded(read(raw, email.policy.compat32)["To"]): raw
        for raw in server.handler.raw
    }
    assert all(len(line) <= 78 for raw in received.values() for line in raw.split(b"\r\n"))
    for key, (first, last) in names.items():
        welcome = read(received.pop(f"{first} {last} <{key}@example.org>"))
        assert f"Bonjour {first}," in welcome.get_body(("plain",)).get_content()
    assert [a.addr_spec for a in welcome["To"].addresses] == ["trap@example.org"]  # no victim
    subjects = [decoded(read(raw, email.policy.compat32)["Subject"]) for raw in received.values()]
    assert sorted(subjects) == sorted(
        f"Nouveau cours d'essai : {first} {last}" for first, last in names.values()
    )  # the owners' notices


def read(raw: bytes, policy=email.policy.default) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=policy)


def decoded(header: str) -> str:
    from email.header import decode_header, make_header

    return str(make_header(decode_header(header)))
