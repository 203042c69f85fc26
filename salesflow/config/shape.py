"""Phase 1 of validation: the shape of each file, checked against its JSON Schema.

Every jsonschema error becomes a located Problem: the offending key or value's position,
its key path, and a message written for people (unknown keys get a "did you mean").
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from salesflow.config.schemas import load_schema
from salesflow.config.yamlfile import KeyPath, YamlFile
from salesflow.errors import Problem, did_you_mean

_NEEDS = {
    "project": "a name and a timezone (name: Club de chant, timezone: Europe/Paris)",
    "workflow": "an id, a trigger and steps",
    "pipeline": "an id, a name and stages",
}


@cache
def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(kind))


def check_shape(document: YamlFile, kind: str) -> list[Problem]:
    """All the schema errors of `document`, read as the `kind` of file it is."""
    if document.data is None:
        needs = _NEEDS.get(kind, "an id")
        return [document.problem((), f"the file is empty; a {kind} file needs at least {needs}")]
    return explain(list(_validator(kind).iter_errors(document.data)), document)


def explain(errors: list[ValidationError], document: YamlFile) -> list[Problem]:
    """jsonschema's errors about `document`, as located sentences for people."""
    wrong_type = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    problems: list[Problem] = []
    for error in errors:  # a value of the wrong type: that alone, not what follows from it
        if tuple(error.absolute_path) not in wrong_type or error.validator == "type":
            problems.extend(_explain(error, document))
    return problems


# For the key path of a part that breaks the schema, and the data: where to put a default
# instead, and the default.
StandIn = Callable[[KeyPath, Any], "tuple[KeyPath, Any] | None"]


def pruned(document: YamlFile, kind: str, stand_in: StandIn | None = None) -> YamlFile | None:
    """The document without what breaks its schema (unknown keys, wrongly named keys, values
    of the wrong shape), so that the rest can still be checked for meaning; None when nothing
    is left. `stand_in` may give, for the key path of a wrong or missing value, the part to
    put a default in instead (once: a default that still breaks the schema is removed). Its
    problems keep the file's places: the removed list items are remembered."""
    data = copy.deepcopy(document.data)
    removed: list[KeyPath] = []
    defaulted: set[KeyPath] = set()

    def default_for(path: KeyPath) -> tuple[KeyPath, Any] | None:
        found = stand_in(path, data) if stand_in else None
        return found if found and found[0] not in defaulted else None

    for _ in range(10):  # removing a part can reveal an error above it (a missing key)
        errors = list(_validator(kind).iter_errors(data))
        if not errors:
            return replace(document, data=data, removed=tuple(removed))
        paths: dict[KeyPath, bool] = {}  # what to take out, and whether a default may replace it
        for error in errors:
            path = tuple(error.absolute_path)
            if error.validator == "additionalProperties" and isinstance(error.instance, dict):
                known = error.schema.get("properties", {})
                for key in [k for k in error.instance if k not in known]:
                    error.instance.pop(key, None)
            elif _names_a_key(error):  # the key is wrong, not the mapping holding it
                paths[(*path, error.instance)] = False
            elif error.validator == "dependentRequired":  # the key needing another goes
                paths.setdefault((*path, _needing(error)), True)
            elif error.validator == "required" and default_for(_missing(error)):
                paths.setdefault(_missing(error), True)
            elif path:
                paths.setdefault(path, True)
            else:
                return None
        placed: set[KeyPath] = set()
        for path in sorted(paths, key=_last_first, reverse=True):  # the others stay in place
            default = default_for(path) if paths[path] else None
            if default and default[0] not in placed:
                _put(data, *default)
                placed.add(default[0])
            elif not default and _remove(data, path):
                removed.append(path)
        defaulted |= placed
    return None


def _missing(error: ValidationError) -> KeyPath:
    """The key path of the key a `required` error says is missing."""
    return (*error.absolute_path, error.message.split("'")[1])


def _needing(error: ValidationError) -> str:
    """The key a `dependentRequired` error is about: the one that needs the missing key."""
    missing = _missing(error)[-1]
    return next(key for key, needs in error.validator_value.items()
                if missing in needs and key in error.instance)  # fmt: skip


def _put(data: Any, path: KeyPath, value: Any) -> None:
    """Put `value` at `path`: a key of a mapping, or an item of a list, that is there."""
    parent = data
    try:
        for part in path[:-1]:
            parent = parent[part]
        if isinstance(parent, dict) or isinstance(path[-1], int):
            parent[path[-1]] = copy.deepcopy(value)
    except (KeyError, IndexError, TypeError):
        return  # nowhere to put it: the part is then removed


def _last_first(path: KeyPath) -> list:
    """Sorted by this, reversed: deeper parts before their parents, later items before
    earlier ones — so removing one never moves another still to be removed."""
    return [(0, part, "") if isinstance(part, int) else (1, 0, str(part)) for part in path]


def _remove(data: Any, path: KeyPath) -> bool:
    """Remove what `path` names; True when it was an item of a list (the items after it
    move up)."""
    parent = data
    for part in path[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return False
    if isinstance(parent, dict):
        parent.pop(path[-1], None)
    elif isinstance(parent, list) and isinstance(path[-1], int) and path[-1] < len(parent):
        parent.pop(path[-1])
        return True
    return False


def _explain(error: ValidationError, document: YamlFile) -> list[Problem]:
    keypath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and "properties" in schema:
        return _unknown_keys(error.instance, schema["properties"], keypath, document)
    if error.validator in ("oneOf", "anyOf"):
        return _explain_alternatives(error, document)
    if error.validator == "required":
        missing = error.message.split("'")[1]
        if _misspelt(missing, error.instance, schema.get("properties", {})):
            return []  # the misspelt key is reported as unknown, with its "did you mean"
        return [document.problem(keypath, f"missing required key '{missing}'")]
    if error.validator == "dependentRequired":
        missing, needing = _missing(error)[-1], _needing(error)
        about = schema.get("properties", {}).get(missing, {}).get("description", "")
        message = f"'{needing}' needs '{missing}' beside it: {about[:1].lower()}{about[1:]}"
        return [document.problem((*keypath, needing), message)]
    if error.validator == "enum":
        choices = [str(choice) for choice in error.validator_value]
        if str(error.instance).upper() in choices:  # post for POST
            message = f"{error.instance!r}: write it in capitals, {str(error.instance).upper()}"
            return [document.problem(keypath, message)]
        message = f"{error.instance!r} is not allowed here; use one of: {', '.join(choices)}"
        return [document.problem(keypath, message + did_you_mean(str(error.instance), choices))]
    if _time_read_as_number(error, document):
        message = (
            f'write times in quotes ("{_source_text(document, keypath)}"): unquoted, YAML'
            f" reads them as a number ({error.instance})"
        )
        return [document.problem(keypath, message)]
    of_key = _names_a_key(error)
    if of_key:  # a wrong key name: the key is the place, not its mapping
        keypath = (*keypath, str(error.instance))
    if "x-error" in schema:  # the schema's own sentence for this value
        message = schema["x-error"].format(value=error.instance, got=_describe(error.instance))
        return [document.problem(keypath, message, of_key)]
    return [document.problem(keypath, _plain(error, schema), of_key)]


def _names_a_key(error: ValidationError) -> bool:
    """An error of `propertyNames`: jsonschema reports the key as the instance."""
    return list(error.relative_schema_path)[-2:-1] == ["propertyNames"]


def _source_text(document: YamlFile, keypath: tuple) -> str:
    """The value at `keypath` as written in the file (what YAML may have read otherwise)."""
    line, column = document.position(keypath)
    lines = document.path.read_text(encoding="utf-8").splitlines()
    written = lines[line - 1][column - 1 :] if line <= len(lines) else ""
    return re.split(r"[\s,}\]#]", written, maxsplit=1)[0]


def _time_read_as_number(error: ValidationError, document: YamlFile) -> bool:
    """YAML 1.1 reads an unquoted 19:30 as 1170 (base 60)."""
    if error.validator != "type" or not isinstance(error.instance, int):
        return False
    return bool(_TIME.fullmatch(_source_text(document, tuple(error.absolute_path))))


_TIME = re.compile(r"\d{1,2}:\d{2}(:\d{2})?")


# Words people reach for, and the key salesflow uses for them.
_SYNONYMS = {"condition": "if", "when": "if", "filter": "match", "where": "match",
             "cron": "schedule", "on": "trigger", "actions": "steps", "email": "to",
             "unless": "if", "schedule_at": "schedule", "otherwise": "else"}  # fmt: skip


def _unknown_keys(instance: dict, known: dict, keypath: tuple, document: YamlFile) -> list[Problem]:
    return [
        document.problem((*keypath, key), f"unknown key '{key}'{_hint(key, known)}", of_key=True)
        for key in instance
        if key not in known
    ]


def _hint(key: str, known: dict) -> str:
    synonym = _SYNONYMS.get(str(key).lower())
    if synonym in known:
        return f" (did you mean '{synonym}'?)"
    return did_you_mean(key, list(known))


def _misspelt(missing: str, instance: dict, known: dict) -> bool:
    unknown = [key for key in instance if key not in known]
    return bool(difflib.get_close_matches(missing, unknown, n=1, cutoff=0.6))


def _explain_alternatives(error: ValidationError, document: YamlFile) -> list[Problem]:
    """oneOf/anyOf: "exactly one of these keys" when every branch is a `required`, else the
    best-matching branch's error rather than a wall of alternatives."""
    branches = error.validator_value
    keys = [
        b["required"][0] for b in branches if list(b) == ["required"] and len(b["required"]) == 1
    ]
    if len(keys) == len(branches) and isinstance(error.instance, dict):
        return _exactly_one_of(keys, error, document)
    deepest = best_match(error.context) if error.context else None
    if deepest is None:
        return [document.problem(tuple(error.absolute_path), _plain(error, error.schema))]
    return _explain(deepest, document)


_ONE_THING = {"Step": "each step does one thing", "Trigger": "a workflow starts one way"}


def _exactly_one_of(keys: list[str], error: ValidationError, document: YamlFile) -> list[Problem]:
    keypath = tuple(error.absolute_path)
    present = [key for key in keys if key in error.instance]
    known = error.schema.get("properties", {})
    if not present and any(key not in known for key in error.instance):
        return []  # the unknown key is reported, with its "did you mean"
    if present:
        why = _ONE_THING.get(error.schema.get("title"), "they exclude each other")
        message = f"use only one of {', '.join(present)} here ({why})"
        return [document.problem((*keypath, present[1]), message, of_key=True)]
    return [document.problem(keypath, f"needs one of: {', '.join(keys)}")]


_BOUNDS = {"minimum": "at least {}", "exclusiveMinimum": "more than {}",
           "maximum": "at most {}", "exclusiveMaximum": "less than {}"}  # fmt: skip


def _plain(error: ValidationError, schema: dict) -> str:
    """The usual wording of the validators that need no sentence of their own."""
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"expected {_article(expected)}, got {_describe(error.instance)}"
    if error.validator in _BOUNDS:
        return f"{error.instance!r} is out of range: write a number {_bounds(schema)}"
    if error.validator == "minProperties" and schema.get("properties"):
        return f"must not be empty: give at least one of {', '.join(schema['properties'])}"
    if error.validator in ("minItems", "minLength", "minProperties"):
        return "must not be empty"
    return error.message


def _bounds(schema: dict) -> str:
    if "minimum" in schema and "maximum" in schema:
        return f"from {schema['minimum']} to {schema['maximum']}"
    return " and ".join(text.format(schema[key]) for key, text in _BOUNDS.items() if key in schema)


def _article(kind: str) -> str:
    words = {
        "object": "a mapping",
        "array": "a list",
        "string": "a text",
        "integer": "a whole number",
    }
    return words.get(kind, f"a {kind}")


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value)
