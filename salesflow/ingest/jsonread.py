"""Reading form submissions from JSON text, with bounds — for `ingest`, the inbox and HTTP.

The input is one JSON object, an array of them, or JSON Lines. Each submission is decoded on
its own, so one that is too deep, too large or broken is rejected alone while the others go
in; only input that is JSON in no way at all (or over MAX_FILE) is unusable as a whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from salesflow.errors import UserError

MAX_FILE = 50 * 1024 * 1024  # bytes in one file or stdin
MAX_SUBMISSION = 1024 * 1024  # characters of one submission
MAX_DEPTH = 32  # levels of nesting in one submission (Tally's payloads use 4)

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\r\n]*")
_AT_LINE = re.compile(r" at line 1 column \d+\)$")

Item = tuple[int, Any, str | None]  # (index, payload, None) or (index, excerpt, error)


def read_text(path: Path) -> str:
    """A submissions file as text (UTF-8, with or without BOM), refused over MAX_FILE."""
    try:
        if path.stat().st_size > MAX_FILE:
            raise UserError(
                f"{path.name}: larger than {MAX_FILE // 2**20} MB; split it into smaller files"
            )
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise UserError(f"{path.name}: not UTF-8 text ({error.reason}); JSON is UTF-8") from None
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as error:
        raise UserError(f"{path}: cannot be read ({error.strerror})") from None


def read_stream(stream) -> str:
    """Standard input as text, refused over MAX_FILE."""
    text = stream.read(MAX_FILE + 1)
    if len(text) > MAX_FILE:
        raise UserError(f"stdin: larger than {MAX_FILE // 2**20} MB; send it in parts")
    return text


def submissions(text: str, source: str) -> Iterator[Item]:
    """Each submission in `text`, in order, numbered from 1."""
    start = _skip_space(text, 0)
    if start == len(text):
        raise UserError(f"{source}: no submission (the input is empty)")
    if text[start] == "[":
        yield from _array(text, start, source)
        return
    payload, end, error = _one(text, start)
    if error and error.startswith("not JSON"):
        raise UserError(f"{source}: {error}")
    if _skip_space(text, end) < len(text):  # more values follow: JSON Lines
        yield from _json_lines(text)
        return
    yield 1, payload, error


def _array(text: str, start: int, source: str) -> Iterator[Item]:
    position, index = _skip_space(text, start + 1), 0
    while position < len(text) and text[position] != "]":
        index += 1
        payload, end, error = _one(text, position)
        if error and error.startswith("not JSON"):
            if index == 1:
                raise UserError(f"{source}: {error}")
            yield index, _excerpt(text, position), f"{error}; the rest is not read"
            return
        yield index, payload, error
        position = _skip_space(text, end)
        if position < len(text) and text[position] == ",":
            position = _skip_space(text, position + 1)
        elif position < len(text) and text[position] != "]":
            where = _where(text, position)
            error = f"not JSON ({where}: expected ',' or ']'); the rest is not read"
            yield index + 1, _excerpt(text, position), error
            return
    if position >= len(text):
        yield index + 1, "", "not JSON (the array is not closed: the file is cut short?)"


def _json_lines(text: str) -> Iterator[Item]:
    lines = (line for line in text.splitlines() if line.strip())
    for index, line in enumerate(lines, start=1):
        position = _skip_space(line, 0)
        payload, end, error = _one(line, position)
        if not error and _skip_space(line, end) < len(line):
            error = "not JSON (more than one value on the line)"
        elif error:  # the index is the line: a position inside it says nothing more
            error = _AT_LINE.sub(")", error)
        yield index, (line[:200] if error else payload), error


def _one(text: str, start: int) -> tuple[Any, int, str | None]:
    """(value, end, None), or (None, end, reason) for a value past the bounds or not JSON."""
    try:
        value, end = _DECODER.raw_decode(text, start)
    except RecursionError:
        end = _end_of_value(text, start)
        return _excerpt(text, start), end, f"nested deeper than {MAX_DEPTH} levels"
    except json.JSONDecodeError as error:
        return None, start, f"not JSON ({error.msg} at line {error.lineno} column {error.colno})"
    if end - start > MAX_SUBMISSION:
        return _excerpt(text, start), end, f"larger than {MAX_SUBMISSION // 1024} kB"
    if _maybe_deep(text, start, end) and _depth(value) > MAX_DEPTH:
        return _excerpt(text, start), end, f"nested deeper than {MAX_DEPTH} levels"
    return value, end, None


def _maybe_deep(text: str, start: int, end: int) -> bool:
    """Cheap test first: fewer brackets than MAX_DEPTH cannot nest deeper than it."""
    return text.count("[", start, end) + text.count("{", start, end) > MAX_DEPTH


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _end_of_value(text: str, start: int) -> int:
    """Where the array or object at `start` closes (strings skipped), or the end of text."""
    depth, position, in_string = 0, start, False
    while position < len(text):
        char = text[position]
        if in_string:
            if char == "\\":
                position += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return position + 1
        position += 1
    return position


def _excerpt(text: str, start: int) -> str:
    """The beginning of a rejected submission, kept with its reason (not all of it)."""
    return text[start : start + 200]


def _skip_space(text: str, position: int) -> int:
    return _SPACE.match(text, position).end()


def _where(text: str, position: int) -> str:
    line = text.count("\n", 0, position) + 1
    return f"line {line} column {position - text.rfind(chr(10), 0, position)}"
