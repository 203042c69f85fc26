"""A return path per message (VERP, `email.return_path: "bounces+{token}@club.example"`):
each email leaves from its own address, so the bounce that comes back to that address names
the email, even when the bounce encloses nothing of it."""

from __future__ import annotations

import email
from email import policy

import pytest
from conftest import query
from mail_project import SETTINGS, bounce, deliver, project
from smtp_server import Recorder, SmtpServer

SENT = "2026-12-01T09:00"


class Envelopes(Recorder):
    """Accepts everything, keeping each message's envelope sender (MAIL FROM)."""

    def __init__(self):
        super().__init__()
        self.senders: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.senders.append(envelope.mail_from)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def sf(cli, tmp_path):
    def run(*args: str, now: str = SENT):
        result = cli("--project", run.root, "--now", now, *args)
        assert result.exit_code == 0, result.output
        return result

    run.root = tmp_path / "club"
    return run


def smtp(port: int, settings: str = SETTINGS) -> str:
    return settings.replace(
        '  from: "Club de chant <bonjour@club.example>"\n',
        '  from: "Club de chant <bonjour@club.example>"\n  transport: smtp\n'
        f"  smtp: {{host: 127.0.0.1, port: {port}, security: none, timeout: 5}}\n",
    )


def token_of(message_id: str) -> str:
    return message_id.strip("<>").partition("@")[0]


def test_over_smtp_each_email_leaves_from_its_own_address_without_a_return_path_header(sf):
    with SmtpServer(Envelopes()) as server:
        project(sf.root, smtp(server.port))
        sf("contacts", "add", "julie@example.org", "--tag", "relance")
        sf("contacts", "add", "paul@example.org", "--tag", "relance")
        sf("run")
    ids = dict(query(sf.root, "SELECT to_addr, message_id FROM outbox"))
    assert server.handler.senders == [
        f"bounces+{token_of(ids[address])}@club.example"
        for address in ("julie@example.org", "paul@example.org")
    ]
    for raw in server.handler.raw:
        message = email.message_from_bytes(raw, policy=policy.default)
        assert message["Return-Path"] is None  # the receiving server writes it
        assert message["From"] == "Club de chant <bonjour@club.example>"


def test_without_a_return_path_emails_leave_from_the_senders_address(sf):
    with SmtpServer(Envelopes()) as server:
        settings = SETTINGS.replace('  return_path: "bounces+{token}@club.example"\n', "")
        project(sf.root, smtp(server.port, settings))
        sf("contacts", "add", "julie@example.org", "--tag", "relance")
        sf("run")
    assert server.handler.senders == ["bonjour@club.example"]


def test_the_eml_file_carries_the_return_path(sf):
    project(sf.root)
    sf("contacts", "add", "julie@example.org", "--tag", "relance")
    sf("run")
    [(message_id,)] = query(sf.root, "SELECT message_id FROM outbox")
    [path] = (sf.root / "outbox").glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["Return-Path"] == f"<bounces+{token_of(message_id)}@club.example>"


def test_a_bounce_to_the_per_message_address_names_the_email_with_nothing_enclosed(sf):
    """Sent over SMTP; the bounce comes back to the envelope sender (Delivered-To), and says
    only which address failed — a recipient that matches no email of ours by itself."""
    with SmtpServer(Envelopes()) as server:
        project(sf.root, smtp(server.port))
        sf("contacts", "add", "julie@example.org", "--tag", "relance")
        sf("run")
    [envelope] = server.handler.senders
    deliver(sf.root, bounce("julie.old@example.org", "5.1.1", delivered_to=envelope))
    sf("run", now="2026-12-02T10:00")
    [(kind, matched_by, outbox_id)] = query(
        sf.root, "SELECT kind, matched_by, outbox_id FROM inbound"
    )
    assert (kind, matched_by, outbox_id) == ("bounce", "verp", 1)
    assert query(sf.root, "SELECT email_status FROM contacts") == [("undeliverable",)]
