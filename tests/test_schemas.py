"""The JSON Schemas: valid, documented for editors, in step with the action registry, shipped."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO
from jsonschema import Draft202012Validator

from salesflow.config.actions import ACTIONS
from salesflow.config.schemas import KINDS, load_schema

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
