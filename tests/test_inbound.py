"""What each inbound message is, on a corpus written to the shapes real servers send
(tests/fixtures/inbound/, expected.json beside the messages), then bad input: too big,
unknown charsets, random bytes. No database: the outbox is the `Known` below.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesflow.mail.inbound import Inbound, Verp, classify
from salesflow.mail.quotes import own_words

CORPUS = Path(__file__).parent / "fixtures" / "inbound"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
VERP = Verp(EXPECTED["verp"])
FIELDS = ("kind", "outbox_id", "matched_by", "recipient", "status", "severity",
          "feedback_type", "text", "reason")  # fmt: skip
KINDS = {"reply", "auto_reply", "bounce", "complaint", "unmatched", "unreadable"}


class Outbox:
    """The corpus's outbox, as the store will answer `classify`'s questions."""

    def __init__(self, message_ids: dict, latest_sent_to: dict, verp_tokens: dict):
        self.message_ids, self.latest, self.tokens = message_ids, latest_sent_to, verp_tokens
        self.asked: list[str] = []

    def by_message_id(self, message_id: str) -> int | None:
        self.asked.append(message_id)
        return self.message_ids.get(message_id)

    def latest_sent_to(self, address: str) -> int | None:
        return self.latest.get(address)

    def by_verp_token(self, token: str) -> int | None:
        return self.tokens.get(token)


def known() -> Outbox:
    return Outbox(**EXPECTED["outbox"])


def read(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def test_every_message_of_the_corpus_has_its_expectation():
    files = {path.name for path in CORPUS.glob("*.eml")}
    assert files == set(EXPECTED["messages"])
    assert len(files) >= 20


@pytest.mark.parametrize("name", sorted(EXPECTED["messages"]))
def test_corpus(name):
    found = asdict(classify(read(name), known(), verp=VERP))
    expected = EXPECTED["messages"][name]
    assert {field: found[field] for field in FIELDS} == {f: expected.get(f) for f in FIELDS}


def test_a_reply_says_who_when_and_what():
    reply = classify(read("gmail-reply-fr.eml"), known(), verp=VERP)
    assert reply.message_id == "<CAGx7QkP3r9z1=uJt4mWq8F2vN0xYbZcD5eL6hT@mail.gmail.com>"
    assert reply.sender == "julie.martin@gmail.com"
    assert reply.subject == "Re: Envie de continuer, Julie ?"
    assert reply.received == datetime.fromisoformat("2026-12-07T10:31:07+01:00")


def test_an_automatic_answer_is_never_a_reply_even_when_it_answers_our_message():
    answer = classify(read("gmail-vacation-fr.eml"), known())
    assert (answer.kind, answer.outbox_id, answer.text) == ("auto_reply", 101, None)


def test_an_automatic_answer_from_a_stranger_is_recorded_unmatched_to_any_message():
    raw = read("outlook-ooo-en.eml").replace(b"Sophie.Bernard@agence", b"someone@else")
    answer = classify(raw, known())
    assert (answer.kind, answer.outbox_id, answer.matched_by) == ("auto_reply", None, None)


def test_auto_submitted_no_is_a_person_writing():
    raw = read("reply-by-sender.eml").replace(b"MIME-Version", b"Auto-Submitted: no\nMIME-Version")
    assert classify(raw, known()).kind == "reply"


def test_without_a_verp_shape_a_bounce_is_matched_by_the_headers_it_encloses():
    bounce = classify(read("postfix-bounce.eml"), known())
    assert (bounce.outbox_id, bounce.matched_by) == (103, "enclosed-headers")


def test_a_success_notice_names_no_failure_and_is_kept_unmatched():
    raw = read("postfix-bounce.eml").replace(b"Action: failed", b"Action: delivered")
    raw = raw.replace(b"Status: 5.1.1", b"Status: 2.0.0")
    notice = classify(raw, known(), verp=VERP)
    assert (notice.kind, notice.reason) == (
        "unmatched",
        "a delivery report with no failed recipient",
    )


def test_a_message_over_the_size_limit_is_not_read():
    raw = read("gmail-reply-fr.eml")
    found = classify(raw, known(), max_bytes=1000)
    assert found == Inbound("unreadable", reason=f"{len(raw)} bytes, over the limit of 1000")


def test_a_huge_message_under_the_default_limit_goes_over_it():
    raw = read("gmail-reply-fr.eml") + b"x" * (11 * 1024 * 1024)
    assert classify(raw, known()).kind == "unreadable"


def test_an_unknown_charset_is_read_as_utf8_with_replacements():
    raw = read("unknown-charset.eml").replace(b"mardi", b"mardi \xe9")
    reply = classify(raw, known())
    assert (reply.kind, reply.text) == ("reply", "Oui, je viens mardi \ufffd.")


class LostDatabase(Exception):
    pass


class Unreachable:
    """An outbox whose database is gone."""

    def by_message_id(self, message_id: str) -> int | None:
        raise LostDatabase("salesflow.db: disk I/O error")

    latest_sent_to = by_verp_token = by_message_id


@pytest.mark.parametrize("name", ["gmail-reply-fr.eml", "postfix-bounce.eml", "arf-complaint.eml"])
def test_an_error_of_the_store_is_the_callers_never_the_messages_fate(name):
    with pytest.raises(LostDatabase):
        classify(read(name), Unreachable(), verp=VERP)


def test_verp_token():
    assert VERP.token("<Bounces+42@Club.Example>") == "42"
    assert VERP.token("bounces+Ab3-x_Z@club.example") == "Ab3-x_Z"
    assert VERP.token("bounces+@club.example") is None
    assert VERP.token("bonjour@club.example") is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Yes.\n\nOn Mon, 7 Dec 2026, 09:00 Club <a@b.example> wrote:\n> Hi", "Yes."),
        ("Oui.\nLe 7 déc. 2026 à 09:00, Club <a@b.example> a écrit\u00a0:\n> Salut", "Oui."),
        ("Oui.\n\n-----Message d'origine-----\nDe : Club", "Oui."),
        ("Oui.\nDe : Club <a@b.example>\nEnvoyé : lundi\nÀ : Julie\n\nBonjour", "Oui."),
        ("Yes.\n-- \nJulie\n+33 6", "Yes."),
        ("De : moi, une question sur Noël ?\nMerci", "De : moi, une question sur Noël ?\nMerci"),
        ("Le professeur a écrit :\n« chantez »", "Le professeur a écrit :\n« chantez »"),
    ],
)
def test_own_words(text, words):
    assert own_words(text) == words


@given(st.binary(max_size=4096))
def test_random_bytes_get_a_fate(raw):
    assert classify(raw, known(), verp=VERP).kind in KINDS


HEADS = st.sampled_from(
    [
        b"From: a@b.example\nContent-Type: multipart/report; report-type=delivery-status; "
        b'boundary="b"\n\n--b\nContent-Type: message/delivery-status\n\n',
        b"From: a@b.example\nContent-Type: multipart/report; report-type=feedback-report; "
        b'boundary="b"\n\n--b\nContent-Type: message/feedback-report\n\n',
        b"From: MAILER-DAEMON@b.example\nX-Failed-Recipients: \n\n",
        b"From: a@b.example\nIn-Reply-To: <a1f0c3e2b4d5@club.example>\n"
        b"Content-Type: text/html; charset=",
    ]
)


@given(HEADS, st.binary(max_size=2048))
def test_random_bytes_in_reports_and_replies_get_a_fate(head, tail):
    assert classify(head + tail, known(), verp=VERP).kind in KINDS
