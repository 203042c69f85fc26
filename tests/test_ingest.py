"""`salesflow ingest`: web-form submissions, once each; and the inbox folder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, query
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesflow.phrases import say

pytestmark = pytest.mark.engines

FORMS = REPO / "examples" / "forms"
SCRIPT = Path(sys.executable).parent / "salesflow"


def submissions(project: Path) -> list[tuple[str, dict]]:
    rows = query(project, "SELECT key, data FROM events WHERE type = 'form.submitted' ORDER BY id")
    return [(key, json.loads(data)) for key, data in rows]


def test_a_flat_submission_becomes_one_event(sf):
    summary = sf("ingest", FORMS / "julie.json", "--form", "cours-essai", "--json")
    assert (summary["accepted"], summary["rejected"]) == (1, 0)
    [(key, data)] = submissions(sf.project)
    assert key == "form:cours-essai:site-2026-0001"
    assert data == {
        "form": "cours-essai", "email": "julie.martin@example.org", "prenom": "Julie",
        "nom": "Martin", "telephone": "0612345678", "date_essai": "2026-12-05T18:30:00+01:00",
    }  # fmt: skip
    assert query(sf.project, "SELECT count(*) FROM contacts") == [(0,)]  # workflows do that


def test_a_tally_payload_is_flattened_by_the_forms_map(sf):
    sf("ingest", FORMS / "tally-ines.json", "--form", "cours-essai-tally")
    [(key, data)] = submissions(sf.project)
    assert key == "form:cours-essai-tally:mOx1q7"
    assert (data["email"], data["prenom"], data["nom"]) == (
        "ines.breval@example.org", "Inès", "Bréval",
    )  # fmt: skip
    assert data["date_essai"] == "2026-12-12T18:30:00+01:00"


def test_the_same_submission_twice_is_one_event(sf):
    sf("ingest", FORMS / "julie.json", "--form", "cours-essai")
    again = sf("ingest", FORMS / "julie.json", "--form", "cours-essai", "--json")
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    assert len(submissions(sf.project)) == 1


def test_without_a_key_the_payload_hash_is_the_key(sf, tmp_path):
    payload = {"email": "a@example.org", "date_essai": "2026-12-05T18:30"}
    path = tmp_path / "a.json"
    path.write_text(json.dumps(payload))
    sf("ingest", path, "--form", "cours-essai")
    path.write_text(json.dumps(dict(reversed(payload.items())), indent=4))  # same content
    assert sf("ingest", path, "--form", "cours-essai", "--json")["duplicates"] == 1
    assert submissions(sf.project)[0][0].startswith("form:cours-essai:sha256:")


def test_json_lines_with_bad_lines_keep_the_good_ones(sf, tmp_path):
    path = tmp_path / "batch.jsonl"
    path.write_text(
        '{"form": "cours-essai", "email": "a@example.org", "date_essai": "05/12/2026 18:30"}\n'
        "{not json\n"
        '{"form": "cours-essai", "email": "b@example.org"}\n'
        '{"form": "cours-esai", "email": "c@example.org", "date_essai": "2026-12-05"}\n'
        '{"form": "cours-essai", "email": "d@example.org", "date_essai": "2026-12-05T18:30",'
        ' "telephone": "0600"}\n'
    )
    result = sf("ingest", path)
    assert "recorded 2 submissions" in result.output and "3 rejected" in result.output
    rejected = [
        json.loads(line) for line in path.with_name("batch.rejected.jsonl").read_text().splitlines()
    ]
    assert [(r["index"], r["error"]) for r in rejected] == [
        (2, "/: not JSON (Expecting property name enclosed in double quotes)"),
        (3, "/date_essai: required"),
        (4, "/form: no form 'cours-esai' in salesflow.yaml (did you mean 'cours-essai'?)"),
    ]
    assert rejected[1]["submission"] == {"form": "cours-essai", "email": "b@example.org"}
    assert sf("ingest", path, "--strict", code=1)


def test_a_json_array_from_stdin_rejects_into_the_project(sf):
    payloads = [
        {"email": "a@example.org", "date_essai": "2026-12-05T18:30"},
        {"email": "pas-une-adresse", "date_essai": "2026-12-05T18:30"},
    ]
    result = sf("ingest", "-", "--form", "cours-essai", input=json.dumps(payloads),
                now="2026-11-22T10:00")  # fmt: skip
    assert "submission 2: /email: 'pas-une-adresse' is not an email address" in result.output
    kept = sf.project / "rejected" / "stdin-20261122-100000.jsonl"
    assert json.loads(kept.read_text())["submission"]["email"] == "pas-une-adresse"


def test_a_file_ingested_again_keeps_its_bad_submissions_once(sf, tmp_path):
    """Twice `ingest f.json`: its good submissions were deduplicated, its bad ones kept twice
    (`rejects list`: 4 for 2). Two alike in one file are two submissions: both kept."""
    bad = {"email": "pas-une-adresse", "date_essai": "2026-12-05T18:30"}
    path = tmp_path / "f.json"
    path.write_text(json.dumps([bad, bad, {**bad, "email": "encore-faux"}]))
    sf("ingest", path, "--form", "cours-essai", now="2026-11-22T10:00")
    sf("ingest", path, "--form", "cours-essai", now="2026-11-22T11:00")
    assert len(sf("rejects", "list", "--json")) == 3
    sf("ingest", path, "--form", "cours-essai", now="2026-11-22T12:00")
    assert len(sf("rejects", "list", "--json")) == 3


def test_input_that_is_not_json_is_unusable(sf, tmp_path):
    path = tmp_path / "x.json"
    path.write_text("email=a@example.org")
    result = sf("ingest", path, "--form", "cours-essai", code=1)
    assert "x.json: not JSON" in result.output


def test_html_in_a_form_field_is_kept_as_data(sf, tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"email": "a@example.org", "prenom": "{{ 7*7 }}<script>",
                                "date_essai": "2026-12-05T18:30"}))  # fmt: skip
    sf("ingest", path, "--form", "cours-essai")
    assert submissions(sf.project)[0][1]["prenom"] == "{{ 7*7 }}<script>"


def inbox_of(project: Path) -> Path:
    inbox = project / "inbox"
    (inbox / "cours-essai").mkdir(parents=True, exist_ok=True)
    return inbox


def test_inbox_takes_json_and_csv_and_moves_them(sf):
    inbox = inbox_of(sf.project)
    shutil.copy(FORMS / "julie.json", inbox / "cours-essai" / "julie.json")
    shutil.copy(REPO / "examples" / "prospects.csv", inbox / "prospects.csv")
    (inbox / "broken.json").write_text("{oops")
    result = sf("ingest", "--inbox", "--json")
    assert sorted(result["done"]) == ["cours-essai/julie.json", "prospects.csv"]
    assert result["failed"][0]["file"] == "broken.json"
    assert (inbox / "done" / "cours-essai" / "julie.json").exists()
    assert (inbox / "done" / "prospects.csv").exists()
    assert (inbox / "done" / "prospects.rejected.csv").exists()  # its bad row, kept
    assert (inbox / "failed" / "broken.json").exists()
    assert "not JSON" in (inbox / "failed" / "broken.json.error.txt").read_text()
    assert len(submissions(sf.project)) == 1
    assert query(sf.project, "SELECT count(*) FROM contacts") == [(3,)]
    assert sf("ingest", "--inbox", "--json")["done"] == []


def test_the_same_file_dropped_again_is_not_processed_again(sf):
    inbox = inbox_of(sf.project)
    shutil.copy(FORMS / "julie.json", inbox / "cours-essai" / "julie.json")
    sf("ingest", "--inbox")
    shutil.copy(FORMS / "julie.json", inbox / "cours-essai" / "julie.json")
    sf("ingest", "--inbox")
    assert (inbox / "done" / "cours-essai" / "julie.1.json").exists()
    assert len(submissions(sf.project)) == 1


def test_killed_in_the_middle_a_rerun_finishes_with_nothing_lost_or_doubled(demo, tmp_path):
    """SIGKILL while a large CSV is being imported from the inbox, then run again."""
    inbox = inbox_of(demo)
    rows = "".join(f"p{n}@example.org;Prénom{n}\n" for n in range(60_000))
    (inbox / "big.csv").write_text("Email;Prénom\n" + rows, encoding="utf-8")
    shutil.copy(FORMS / "julie.json", inbox / "cours-essai" / "julie.json")
    env = {**os.environ, "SALESFLOW_NOW": "2026-11-22T10:00"}
    command = [SCRIPT, "--project", demo, "ingest", "--inbox"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    claimed = inbox / ".processing" / "big.csv"
    deadline = time.monotonic() + 30
    while not claimed.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)  # waiting for the process to reach the point to kill it at
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert claimed.exists() or (inbox / "done" / "big.csv").exists()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    assert query(demo, "SELECT count(*), count(DISTINCT email) FROM contacts") == [(60_000, 60_000)]
    assert query(demo, "SELECT count(*) FROM events WHERE type = 'contact.created'") == [(60_000,)]
    assert len(submissions(demo)) == 1
    assert sorted(p.name for p in (inbox / "done").rglob("*.*")) == ["big.csv", "julie.json"]
    assert not any((inbox / ".processing").rglob("*.*"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"email": "a@example.org"}', "no submission says which form it is for: pass --form NAME"
         " (cours-essai, cours-essai-tally; in the inbox: drop the file in inbox/NAME/), or put"
         " \"form\" in each one"),
        ("42", "expected a JSON object, an array of objects or JSON Lines"),
        ('"hello"', "expected a JSON object, an array of objects or JSON Lines"),
        ("null", "expected a JSON object, an array of objects or JSON Lines"),
        ("[1, 2]", "expected a JSON object, an array of objects or JSON Lines"),
    ],
)  # fmt: skip
def test_input_unusable_as_a_whole_exits_1_with_what_to_pass(sf, tmp_path, content, message):
    path = tmp_path / "x.json"
    path.write_text(content)
    result = sf("ingest", path, code=1)
    assert result.output == f"error: {path}: {message}\n"
    assert not path.with_name("x.rejected.jsonl").exists()


LEAF = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
PAYLOAD = st.recursive(
    LEAF,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "id", "items", "count"]), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payload=PAYLOAD,
    path=st.lists(st.sampled_from(["a", "b", "id", "items", "count"]), min_size=1, max_size=3),
    default=st.sampled_from(["", " | default('')", ' | default("none")']),
)
def test_a_plain_key_path_reads_as_jinja_reads_it(demo, payload, path, default):
    """`payload.a.b | default('')` is read without Jinja: the value must be Jinja's."""
    from jinja2 import UndefinedError

    from salesflow.config.project import load_project
    from salesflow.ingest.forms import FormReader

    project = load_project(demo)
    reader = FormReader(project, None)
    expression = "{{ payload." + ".".join(path) + default + " }}"
    jinja = reader.env.compile_expression(expression[2:-2], undefined_to_none=True)
    try:
        expected = jinja(payload=payload)
    except UndefinedError:  # a name missing before the last: the map's value is None
        expected = None
    assert reader._mapped(expression, payload) == expected


def test_a_submission_whose_map_raises_is_rejected_and_the_file_goes_in(sf, tmp_path):
    """`10 / payload.n` raises ZeroDivisionError for n = 0: that submission is kept as a
    reject (file and database); the others of the file go in."""
    import yaml

    config = yaml.safe_load((sf.project / "salesflow.yaml").read_text())
    config["forms"]["ratio"] = {"map": {"part": "{{ 10 / payload.n }}"},
                                "fields": {"part": {"type": "number"}}}  # fmt: skip
    (sf.project / "salesflow.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    data = tmp_path / "ratios.json"
    data.write_text(json.dumps([{"n": 4}, {"n": 0}, {"n": 5}]))
    result = sf("ingest", "--form", "ratio", data)
    assert "recorded 2 submissions" in result.output and "1 rejected" in result.output
    [(error,)] = query(sf.project, "SELECT error FROM rejects")
    assert say(error).startswith("/: the form's map failed: ZeroDivisionError")


# -- numbers past the sane range: the submission holding one is rejected alone, located

OUT_OF_RANGE = {  # the raw JSON of `prenom` → the reason given
    "9" * 5000: "/prenom: 999999999999… (5,000 characters) is too long for a number (at most 64)",
    "1e999": "/prenom: 1e999 is out of range for a number (beyond ±1.8e308)",
    "NaN": "/prenom: NaN is not a number (JSON has no NaN)",
}


def numbers_file(path: Path) -> Path:
    """A good line, the three numbers out of range (one a line), another good line."""
    lines = [json.dumps({"email": "a@example.org", "date_essai": "2026-12-05T18:30"})]
    lines += [
        f'{{"email": "bad{n}@example.org", "prenom": {raw}, "date_essai": "2026-12-05T18:30"}}'
        for n, raw in enumerate(OUT_OF_RANGE)
    ]
    lines.append(json.dumps({"email": "b@example.org", "date_essai": "2026-12-05T18:30"}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_numbers_out_of_range_are_rejected_alone_with_their_pointer(sf, tmp_path):
    result = sf("ingest", numbers_file(tmp_path / "numbers.jsonl"), "--form", "cours-essai")
    assert "recorded 2 submissions" in result.output and "3 rejected" in result.output
    assert [data["email"] for _, data in submissions(sf.project)] == [
        "a@example.org", "b@example.org",
    ]  # fmt: skip
    listed = sf("rejects", "list", "--json")
    assert sorted(reject["error"] for reject in listed) == sorted(OUT_OF_RANGE.values())
    assert sf("ingest", tmp_path / "numbers.jsonl", "--form", "cours-essai", "--strict", code=1)


def test_a_number_out_of_range_in_an_inbox_file_is_rejected_alone(sf):
    inbox = inbox_of(sf.project)
    numbers_file(inbox / "cours-essai" / "numbers.jsonl")
    result = sf("ingest", "--inbox", "--json")
    assert (result["done"], result["failed"]) == (["cours-essai/numbers.jsonl"], [])
    assert (result["accepted"], result["rejected"]) == (2, 3)
    assert len(submissions(sf.project)) == 2
    kept = (inbox / "done" / "cours-essai" / "numbers.rejected.jsonl").read_text().splitlines()
    assert [json.loads(line)["error"] for line in kept] == list(OUT_OF_RANGE.values())


def test_a_number_field_read_from_csv_past_the_range_is_a_located_reject(sf, tmp_path):
    import yaml

    config = yaml.safe_load((sf.project / "salesflow.yaml").read_text())
    config["fields"]["contact"]["cotisation"] = {"type": "number", "label": "Cotisation"}
    (sf.project / "salesflow.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    data = tmp_path / "members.csv"
    data.write_text(f"email,cotisation\na@example.org,120\nb@example.org,{'9' * 400}\n"
                    "c@example.org,1e999\nd@example.org,NaN\ne@example.org,80\n")  # fmt: skip
    result = sf("import", data)
    assert ("members.csv:3: Cotisation: 999999999999… (400 characters) is too long for a number"
            " (at most 64)") in result.output  # fmt: skip
    assert "members.csv:4: Cotisation: '1e999' is not an amount" in result.output
    assert "members.csv:5: Cotisation: 'NaN' is not an amount" in result.output
    stored = query(sf.project, "SELECT email, fields FROM contacts ORDER BY email")
    assert stored == [("a@example.org", '{"cotisation": "120"}'),
                      ("e@example.org", '{"cotisation": "80"}')]  # fmt: skip
