"""The JSON of a report's rows, encoded in one call and cut between the rows, is the JSON of
each row encoded alone (as `pipeline stalled --json` wrote 10,000 stalled deals before),
whatever the rows hold: texts with "}, {" or a NUL in them, lists of objects, empty
objects, amounts and instants."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from salesflow.reports.as_json import _json_default, to_json

_ONE = json.JSONEncoder(default=_json_default, ensure_ascii=False)


def one_by_one(rows: list, indent: str = "") -> str:
    """A list as to_json wrote it, each item encoded alone."""
    if not rows:
        return "[]"
    item = indent + "  " if indent else ""
    return f"[\n{item}" + f",\n{item}".join(_ONE.encode(row) for row in rows) + f"\n{indent}]"


TRICKY = [
    {"title": "a}, {b", "amount": Decimal("12.50")},
    {},
    {"title": "\0}, {\0", "at": datetime(2026, 12, 1, 9, tzinfo=UTC)},
    {"tags": [{"x": 1}, {"y": 2}], "n": None},
    {"nested": {"a": {"b": []}}, "list": ["}, {", 1.5, True]},
    {"title": "Élodie “}”, {", "days": 3},
]


def test_rows_cut_after_one_call_are_the_rows_encoded_one_by_one():
    for rows in ([], [{}], [{"id": 1}], TRICKY, TRICKY[:1] + TRICKY[4:], [1, "a", None],
                 [{"a": 1}, 2], [[{"a": 1}], {"b": 2}]):  # fmt: skip
        assert to_json(rows) == one_by_one(rows)
        report = {"rows": rows, "totals": {"amount": Decimal("1.00")}, "notes": []}
        assert f'\n  "rows": {one_by_one(rows, "  ")},\n  "totals"' in to_json(report)


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.sampled_from(["}, {", "}", "{", ", ", "\0"])
)


def _nested(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)


_VALUES = st.recursive(_SCALARS, _nested, max_leaves=8)


@given(st.lists(st.dictionaries(st.text(max_size=4), _VALUES, max_size=4), max_size=6))
def test_any_rows_cut_after_one_call_are_the_rows_encoded_one_by_one(rows):
    assert to_json(rows) == one_by_one(rows)
