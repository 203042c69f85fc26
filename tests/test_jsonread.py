"""The submissions reader, read a chunk at a time: whatever the chunk size, an array or a
JSON Lines file gives the same submissions as reading it whole, and a broken one is
rejected alone."""

from __future__ import annotations

import io
import json
import math
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from salesflow.errors import UserError
from salesflow.ingest import jsonread

SUBMISSION = st.dictionaries(
    st.text(max_size=8),
    st.none() | st.booleans() | st.integers() | st.text(max_size=30)
    | st.lists(st.text(max_size=5), max_size=3),
    max_size=5,
)  # fmt: skip
SPACE = st.sampled_from(["", " ", "\n", "\r\n", "\t "])


def read(text: str, chunk: int, monkeypatch) -> list[tuple]:
    monkeypatch.setattr(jsonread, "_CHUNK", chunk)
    return list(jsonread.submissions(io.StringIO(text), "test"))


@given(batch=st.lists(SUBMISSION, min_size=1, max_size=8), space=SPACE,
       chunk=st.integers(1, 64))  # fmt: skip
def test_an_array_reads_the_same_in_any_chunk_size(batch, space, chunk):
    text = "[" + space + ("," + space).join(json.dumps(item) for item in batch) + space + "]"
    with pytest.MonkeyPatch.context() as monkeypatch:
        items = read(text, chunk, monkeypatch)
    assert items == [(n, item, None) for n, item in enumerate(batch, start=1)]


@given(batch=st.lists(SUBMISSION, min_size=2, max_size=8), chunk=st.integers(1, 64))
def test_json_lines_read_the_same_in_any_chunk_size(batch, chunk):
    text = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in batch)
    with pytest.MonkeyPatch.context() as monkeypatch:
        items = read(text, chunk, monkeypatch)
    assert items == [(n, item, None) for n, item in enumerate(batch, start=1)]


@pytest.mark.parametrize("chunk", [1, 5, 1024])
def test_a_broken_line_is_rejected_alone_at_any_chunk_size(chunk, monkeypatch):
    text = '{"email": "a@example.org"}\n{"email": "b@exa\n{"email": "c@example.org"}\n'
    items = read(text, chunk, monkeypatch)
    assert [(n, error is None) for n, _, error in items] == [(1, True), (2, False), (3, True)]
    assert items[2][1] == {"email": "c@example.org"}


@pytest.mark.parametrize("chunk", [1, 7, 1024])
def test_an_array_cut_short_keeps_what_came_before_the_cut(chunk, monkeypatch):
    items = read('[{"n": 1}, {"n": 2}, {"n": 3', chunk, monkeypatch)
    assert [payload for _, payload, error in items if error is None] == [{"n": 1}, {"n": 2}]
    assert "the rest is not read" in items[-1][2] or "cut short" in items[-1][2]


def test_an_error_position_counts_the_lines_already_read(monkeypatch):
    text = "[\n" + ",\n".join(json.dumps({"n": n}) for n in range(50)) + "\n}"
    *_, (index, _, error) = read(text, 16, monkeypatch)
    assert (index, error) == (51, "not JSON (line 52 column 1: expected ',' or ']');"
                                  " the rest is not read")  # fmt: skip


@pytest.mark.parametrize("chunk", [1000, 4096, 1024 * 1024])
def test_a_submission_too_deep_across_chunks_is_rejected_alone(chunk, monkeypatch):
    deep = "[" * 10_000 + "]" * 10_000  # past the recursion limit: decoding it raises
    items = read(f'[{{"n": 1}}, {deep}, {{"n": 3}}]', chunk, monkeypatch)
    assert [(n, error) for n, _, error in items] == [
        (1, None), (2, "nested deeper than 32 levels"), (3, None),
    ]  # fmt: skip
    assert items[2][1] == {"n": 3}


NUMBER_TOKEN = st.one_of(
    st.from_regex(r"-?(0|[1-9][0-9]{0,70})(\.[0-9]{1,40})?([eE][+-]?[0-9]{1,4})?", fullmatch=True),
    st.builds("{}{}".format, st.sampled_from(["", "-"]),
              st.integers(60, 6000).map(lambda digits: "9" * digits)),
    st.sampled_from(["NaN", "Infinity", "-Infinity"]),
)  # fmt: skip


@given(token=NUMBER_TOKEN, nested=st.booleans())
def test_any_number_reads_finite_and_short_or_is_a_located_reject(token, nested):
    """Never an exception (Python's 4,300-digit limit raises inside json), never an `inf`:
    the submission with the number is rejected at its pointer, its neighbours go in."""
    value = f'{{"x": [1, {{"n": {token}}}]}}' if nested else f'{{"n": {token}}}'
    text = f'{{"a": 1}}\n{value}\n{{"b": 2}}\n'
    items = list(jsonread.submissions(io.StringIO(text), "test"))
    assert [(n, error) for n, _, error in items if n != 2] == [(1, None), (3, None)]
    _, payload, error = items[1]
    if len(token) > 64 or not math.isfinite(float(token)):
        assert error.startswith(("/x/1/n: " if nested else "/n: ") + token[:12])
    else:
        assert error is None
        number = payload["x"][1]["n"] if nested else payload["n"]
        assert isinstance(number, int | float) and math.isfinite(number)


ITEM = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**15), 10**15) | st.floats(-1e6, 1e6)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)  # fmt: skip
INDENT = st.sampled_from([None, 0, 1, 2])
BROKEN_BY = st.sampled_from(list(',:[]{}"x1 \n\\'))


def as_read(text: str, chunk: int) -> tuple[list[tuple], str | None]:
    """(items, error: of the input as a whole, or else of its last item) at chunk size."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        try:
            items = read(text, chunk, monkeypatch)
        except UserError as error:
            return [], str(error)
    return items, (items[-1][2] if items else None)


@given(batch=st.lists(ITEM, max_size=6), indent=INDENT, chunk=st.integers(1, 64))
def test_an_array_reads_as_json_loads_reads_it_whole(batch, indent, chunk):
    """Any items (numbers too: one cut by the end of a chunk is read whole), laid out on one
    line or many: what json.loads reads."""
    text = json.dumps(batch, indent=indent, ensure_ascii=False)
    items, _ = as_read(text, chunk)
    assert items == [(n, item, None) for n, item in enumerate(json.loads(text), start=1)]


@given(batch=st.lists(ITEM, min_size=1, max_size=6), indent=INDENT, chunk=st.integers(1, 64),
       at=st.floats(0, 1), cut=st.booleans(), char=BROKEN_BY)  # fmt: skip
def test_a_broken_array_is_refused_where_json_loads_refuses_it(batch, indent, chunk, at, cut,
                                                               char):  # fmt: skip
    """An array cut short, or with one character more anywhere after its `[`: read as
    json.loads reads it, or refused at the line and column where json.loads refuses it
    (numbers within bounds, no comma before a closing bracket: both are tested above)."""
    text = json.dumps(batch, indent=indent, ensure_ascii=False)
    place = 1 + int(at * (len(text) - 1))
    text = text[:place] if cut else text[:place] + char + text[place:]
    assume(not re.search(r",[ \t\r\n]*\]", text))
    items, error = as_read(text, chunk)
    try:
        wanted = json.loads(text)
    except json.JSONDecodeError as refused:
        assert error is not None and f"line {refused.lineno} column {refused.colno}" in error
        return
    assert items == [(n, item, None) for n, item in enumerate(wanted, start=1)]


@pytest.mark.parametrize("chunk", [1, 4, 1024])
def test_a_comma_before_the_closing_bracket_is_forgiven(chunk, monkeypatch):
    assert read('[{"n": 1},\n {"n": 2}, ]', chunk, monkeypatch) == [
        (1, {"n": 1}, None), (2, {"n": 2}, None),
    ]  # fmt: skip


@pytest.mark.parametrize("chunk", [3, 1024])
def test_what_follows_the_array_is_refused_not_lost(chunk, monkeypatch):
    items = read('[{"n": 1}]\n[{"n": 2}]', chunk, monkeypatch)
    assert items == [(1, {"n": 1}, None), (2, '[{"n": 2}]', "not JSON (line 2 column 1: more after"
                     " the array's closing bracket); it is not read")]  # fmt: skip


def test_an_error_position_in_a_long_line_counts_the_columns_already_read(monkeypatch):
    text = "[" + ", ".join(json.dumps({"n": n}) for n in range(50)) + ", {oops}]"
    *_, (index, _, error) = read(text, 16, monkeypatch)
    column = text.index("oops") + 1
    assert (index, error) == (51, "not JSON (Expecting property name enclosed in double quotes"
                                  f" at line 1 column {column}); the rest is not read")  # fmt: skip
