"""The helpers of the `http` step on their own, called directly: `{{ env.NAME }}` references
(kept apart, shown, resolved), redaction of secrets in every form an answer may quote them,
and URL templates (data percent-encoded, scheme and host written out). A failure here points
at salesflow/templating/references.py or urls.py, not at a server or the CLI."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest
from jinja2 import Environment

from salesflow.templating.references import (
    MissingVariable,
    References,
    named,
    redact,
    referenced,
    resolve,
    shown,
)
from salesflow.templating.urls import start_problem, template_before_host, url_value

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL

SECRET = 'p/a ss+wörd&"x"'


def pieces(template: str, **data) -> list[str]:
    """A URL template rendered as the step renders it: data encoded, references kept apart."""
    references = References()
    rendered = Environment(finalize=url_value).from_string(template)
    return references.pieces(rendered.render(**data, env=references))


def test_references_are_kept_apart_shown_as_written_and_resolved_on_leaving():
    url = pieces("https://hooks.example/{{ env.HOOK_PATH }}?t={{ env.TOKEN }}")
    assert url == ["https://hooks.example/", "HOOK_PATH", "?t=", "TOKEN", ""]
    assert named(url) == ["HOOK_PATH", "TOKEN"]
    assert shown(url) == "https://hooks.example/{{ env.HOOK_PATH }}?t={{ env.TOKEN }}"
    environ = {"HOOK_PATH": "T0/B0", "TOKEN": "abc"}
    assert resolve(url, environ) == "https://hooks.example/T0/B0?t=abc"
    with pytest.raises(MissingVariable, match="TOKEN"):
        resolve(url, {"HOOK_PATH": "T0/B0"})


def test_data_that_looks_like_a_marker_stays_data():
    forged = References()  # another render's markers: a form cannot know this one's nonce
    text = forged["HOOK_PATH"]
    assert named(pieces("https://hooks.example/{{ name }}", name=text)) == []


@pytest.mark.parametrize(
    "written",
    [
        SECRET,
        quote(SECRET),
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET)[1:-1].replace("/", "\\/"),
        json.dumps(SECRET, ensure_ascii=False)[1:-1],
    ],
    ids=["as-is", "path", "component", "form", "json", "json-slashes", "json-unicode"],
)
def test_a_secret_is_redacted_in_every_form_it_may_be_quoted(written):
    assert redact(f"you sent {written}, refused", [SECRET]) == "you sent ***, refused"


def test_a_secret_over_several_lines_is_redacted_as_one_line_would_show_it():
    assert redact("token: a b c", ["a\n b\tc"]) == "token: ***"


def test_a_secret_within_another_goes_with_it():
    assert redact("key=abcdef and abc", ["abc", "abcdef"]) == "key=*** and ***"


def test_the_beginning_of_a_secret_cut_at_the_end_is_redacted():
    assert redact("echo: /hook/s3cr", ["s3cr3t-t0ken"]) == "echo: /hook/***"
    assert redact("echo: /hook/s3", ["s3cr3t-t0ken"]) == "echo: /hook/s3"  # 2 chars: no proof


def test_data_in_a_url_is_percent_encoded_to_stay_one_value():
    url = pieces(
        "https://hooks.example/people/{{ name }}?who={{ who }}&mail={{ mail | urlencode }}",
        name="Anne Marie?x#y/z", who="Dupont & Fils 100%", mail="julie@example.org",
    )  # fmt: skip
    assert url == [
        "https://hooks.example/people/Anne%20Marie%3Fx%23y%2Fz"
        "?who=Dupont%20%26%20Fils%20100%25&mail=julie%40example.org"
    ]


def test_a_reference_in_a_value_is_kept_and_the_rest_encoded():
    assert pieces("https://hooks.example/{{ env.HOOK_PATH ~ '/x y' }}") == [
        "https://hooks.example/", "HOOK_PATH", "%2Fx%20y",
    ]  # fmt: skip


def test_the_scheme_and_host_must_be_written_out():
    assert template_before_host("https://hooks.example/{{ contact.first_name }}") is None
    assert template_before_host("https://{{ env.HOST }}/in").startswith(
        "{{ env.HOST }} is in the URL's host: write the scheme and the host out"
    )
    assert template_before_host("{{ contact.website }}/in").startswith(
        "{{ contact.website }} is in the URL's scheme"
    )
    assert template_before_host("{% if x %}https://a.example{% endif %}/in").startswith(
        "a {% … %} block is in the URL's scheme"
    )


def test_a_url_as_sent_must_begin_with_http_and_a_host():
    environ = {"HOOK_PATH": "p", "GOOD": "https://hooks.example/in", "BAD": "hooks.example/in",
               "HOST": "hooks.example", "EMPTY": ""}  # fmt: skip
    assert start_problem(["https://hooks.example/", "HOOK_PATH", ""], environ) is None
    assert start_problem(["", "GOOD", "/x"], environ) is None
    assert start_problem(["https://", "HOST", "/x"], environ) is None
    assert start_problem(["", "UNSET", "/x"], environ) is None  # sending says it is not set
    bad = start_problem(["", "BAD", "/x"], environ)
    assert bad.endswith("the environment variable BAD gives its start;"
                        " the URL must begin like https://hooks.example/…")  # fmt: skip
    assert "hooks.example/in" not in bad
    assert "variables EMPTY, BAD give" in start_problem(["", "EMPTY", "", "BAD", ""], environ)
    assert "variable HOST gives" in start_problem(["ftp://", "HOST", "/x"], environ)
    assert start_problem(["ftp://hooks.example/", "BAD", ""], environ).endswith(
        "a host written in the workflow: write them out, https://hooks.example/…"
    )


def test_the_variables_a_template_names_are_found_in_order():
    assert referenced("{{ env.B }}/{{ env['A'] }}/{{ env.B }}/{{ contact.env }}") == ["B", "A"]
    assert referenced("no references") == [] and referenced(None) == []
