"""The engine's own layer: rendering a step's values, and the context a run keeps between
steps (built once, rebuilt after a step that changes a contact or a deal)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import query
from hypothesis import given
from hypothesis import strategies as st

from salesflow.config.project import load_project
from salesflow.engine.context import Renderer, environment
from salesflow.store.queues import PENDING_EVENTS

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL

REPO = Path(__file__).resolve().parent.parent
TEXT = st.text(alphabet="aé {}%-\n", max_size=8)  # a small alphabet: no Unicode tables to build
LEAF = st.none() | TEXT | st.integers() | st.floats(allow_nan=False) | st.booleans()
TREE = st.recursive(
    LEAF | st.lists(LEAF, max_size=2),
    lambda inner: st.dictionaries(st.sampled_from(["a", "b", "items", "x"]), inner, max_size=3),
    max_leaves=8,
)
RENDERER = Renderer(environment(load_project(REPO)))


@given(
    context=st.dictionaries(st.sampled_from(["contact", "event", "a"]), TREE, max_size=3),
    path=st.lists(st.sampled_from(["contact", "event", "a", "b", "items", "x"]), min_size=1,
                  max_size=3),
    spaces=st.sampled_from(["", " ", "  "]),
)  # fmt: skip
def test_a_plain_path_value_is_what_jinja_renders(context, path, spaces):
    """`{{ contact.a }}` is read from the context without rendering: the value (or the
    error) must be the one Jinja gives."""
    source = "{{" + spaces + ".".join(path) + spaces + "}}"

    def outcome(value):
        try:
            return value()
        except Exception as error:  # the same error, both ways
            return type(error), str(error)

    jinja = outcome(lambda: RENDERER.env.from_string(source).render(context).strip() or None)
    assert outcome(lambda: RENDERER.value(source, context)) == jinja


def write_workflow(project: Path, text: str) -> None:
    for old in (project / "workflows").glob("*.yaml"):
        old.unlink()
    (project / "workflows" / "w.yaml").write_text(text)


def test_a_step_sees_what_the_steps_before_it_changed(sf):
    """The context is kept between steps that change nothing, and rebuilt after one that
    does: the task after assign_owner names the new owner, the one after update_contact the
    new company."""
    write_workflow(
        sf.project,
        "id: w\ntrigger: {event: contact.created}\nsteps:\n"
        "  - create_task: {title: 'avant {{ owner.id if owner else \"personne\" }}'}\n"
        "  - assign_owner: {among: [paul]}\n"
        "  - create_task: {title: 'après {{ owner.id }}', assignee: owner}\n"
        "  - update_contact: {company: Chorale}\n"
        "  - create_task: {title: 'société {{ contact.company }}', assignee: owner}\n",
    )
    sf("contacts", "add", "julie@example.org")
    sf("process")
    titles = [title for (title,) in query(sf.project, "SELECT title FROM tasks ORDER BY id")]
    assert titles == ["avant personne", "après paul", "société Chorale"]


def test_the_pending_events_are_read_without_scanning_the_history(sf, backend):
    """process reads its batch through the index, in order: no sort of every event."""
    if backend == "postgresql":
        pytest.skip("SQLite's query plan; PostgreSQL's planner chooses by table statistics")
    sf("contacts", "add", "julie@example.org")
    plan = query(
        sf.project,
        f"EXPLAIN QUERY PLAN SELECT * FROM events WHERE {PENDING_EVENTS} ORDER BY id LIMIT 200",
    )
    details = " ".join(row[-1] for row in plan)
    assert "idx_events_processed_at_id" in details and "TEMP B-TREE" not in details
