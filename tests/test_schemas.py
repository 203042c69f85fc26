"""The JSON Schemas: valid, documented for editors, in step with the action registry, shipped."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, REPO
from jsonschema import Draft202012Validator

from salesflow.config.actions import ACTIONS
from salesflow.config.schemas import KINDS, load_schema
from salesflow.config.shape import check_shape, explain
from salesflow.config.yamlfile import load_yaml

SCHEMAS = REPO / "schemas"


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_valid_draft_2020_12(kind):
    schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def _objects(node):
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


@pytest.mark.parametrize("kind", KINDS)
def test_every_property_is_described_and_unknown_keys_are_refused(kind):
    for node in _objects(load_schema(kind)):
        assert node["additionalProperties"] is False, node.get("title")
        for name, prop in node["properties"].items():
            assert "description" in prop or "$ref" in prop, f"{kind}: {name}"


def test_step_types_in_the_schema_are_the_action_registry():
    step = load_schema("workflow")["$defs"]["step"]
    in_schema = [branch["required"][0] for branch in step["oneOf"]]
    assert in_schema == list(ACTIONS)
    assert set(step["properties"]) == {"id", "if", *ACTIONS}


def test_the_wheel_carries_the_schemas(tmp_path):
    """Built from a copy of the sources, the wheel holds schemas/ inside the package."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        (source / name).write_bytes((REPO / name).read_bytes())
    for folder in ("salesflow", "schemas"):
        subprocess.run(["cp", "-r", REPO / folder, source / folder], check=True)
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", tmp_path / "dist"],
        cwd=source,
        check=True,
        capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for kind in KINDS:
        assert f"salesflow/schemas/{kind}.schema.json" in names
    assert not any(Path(name).parts[0] == "schemas" for name in names)


# jsonschema's own wordings: none may reach a user (each rule's error is a sentence of ours).
RAW_SCHEMA_WORDS = (
    "should not be valid under",
    "does not match '^",
    "is not valid under any of",
    "is not one of",
    "was expected",
    "is valid under each of",
    "is a dependency",
    "is less than the minimum",
    "is greater than the maximum",
    "should be non-empty",
    "is too short",
    "does not have enough properties",
)
RULES = (
    "pattern",
    "oneOf",
    "anyOf",
    "not",
    "dependentRequired",
    "enum",
    "const",
    "if",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "minLength",
    "minItems",
    "minProperties",
)


_SUBSCHEMA_KEYS = ("items", "additionalProperties", "not", "propertyNames", "if", "then", "else")


def _schemas(node: dict, pointer: str = ""):
    """(JSON pointer, schema) for `node` and every schema inside it."""
    yield pointer, node
    for key, value in node.items():
        if key in ("properties", "$defs"):
            for name, inner in value.items():
                yield from _schemas(inner, f"{pointer}/{key}/{name}")
        elif key in ("oneOf", "anyOf", "allOf"):
            for index, inner in enumerate(value):
                yield from _schemas(inner, f"{pointer}/{key}/{index}")
        elif isinstance(value, dict) and key in _SUBSCHEMA_KEYS:
            yield from _schemas(value, f"{pointer}/{key}")


def _example(schema: dict):
    """A value `schema` accepts, for the rules that say what a value must not be."""
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "required" in schema:
        return {key: _example(schema.get("properties", {}).get(key, {}))
                for key in schema["required"]}  # fmt: skip
    return "x"


def _violations(schema: dict) -> list:
    """Values that break `schema`'s rules: wrong words, numbers out of range, several or none
    of the alternatives, what `not` forbids, a key without the key it depends on."""
    values = [None, True, 0, -1, 10**6, "", "Pas Valide !", "club.example/merci", [], [0], {}]
    if "enum" in schema:
        values += [str(schema["enum"][0]).upper(), f"{schema['enum'][0]}x"]
    if "const" in schema:
        values.append("autre")
    if "not" in schema:
        values.append(_example(schema["not"]))
    if "if" in schema:
        values.append(_example(schema["if"]))
    for key in schema.get("dependentRequired", {}):
        values.append({key: "x"})
    for branches in (schema.get("oneOf", []), schema.get("anyOf", [])):
        examples = [_example(branch) for branch in branches]
        values += examples
        values.append({k: v for e in examples if isinstance(e, dict) for k, v in e.items()})
    return values


def _rendered(value, schema: dict, kind: str, tmp_path: Path) -> tuple[set[str], list[str]]:
    """(the rules `value` breaks at the top of `schema`, the messages validate prints)."""
    path = tmp_path / "value.yaml"
    path.write_text(yaml.safe_dump(value, allow_unicode=True), encoding="utf-8")
    document, _ = load_yaml(path)
    errors = list(Draft202012Validator(load_schema(kind)).evolve(schema=schema).iter_errors(value))
    broken = {e.validator for e in errors if not e.absolute_path}
    return broken, [problem.message for problem in explain(errors, document)]


@pytest.mark.parametrize("kind", KINDS)
def test_every_rule_of_the_schemas_breaks_into_a_sentence(kind, tmp_path):
    """Each pattern, oneOf, not, dependentRequired, enum, const, bound…, broken on purpose:
    what validate says is our sentence (an x-error, or a wording of shape.py), never
    jsonschema's `does not match '^…'` or `should not be valid under`."""
    raw, unbroken = [], []
    for pointer, schema in _schemas(load_schema(kind)):
        rules = {rule for rule in RULES if rule in schema}
        broken: set[str] = set()
        for value in _violations(schema) if rules else []:
            found, messages = _rendered(value, schema, kind, tmp_path)
            broken |= found
            raw += [f"{pointer}: {m}" for m in messages if any(w in m for w in RAW_SCHEMA_WORDS)]
        unbroken += [f"{pointer}: {rule}" for rule in rules - broken - {"if"}]
    assert not raw
    assert not unbroken  # each rule was really tried


def test_every_schema_error_of_the_examples_is_a_sentence():
    """Every file of every example project, checked against its schema."""
    raw = []
    for path in sorted(EXAMPLES.rglob("*.y*ml")):
        parts = path.relative_to(EXAMPLES).parts
        kind = "project" if path.name == "salesflow.yaml" else parts[-2].removesuffix("s")
        document, _ = load_yaml(path)
        if kind in KINDS and document is not None and document.data is not None:
            messages = [problem.message for problem in check_shape(document, kind)]
            raw += [f"{path}: {m}" for m in messages if any(w in m for w in RAW_SCHEMA_WORDS)]
    assert not raw
