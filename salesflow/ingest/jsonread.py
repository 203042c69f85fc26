"""Reading form submissions from JSON text, with bounds — for `ingest`, the inbox and HTTP.

The input is one JSON object, an array of them, or JSON Lines, read a chunk at a time (memory
stays flat however long the file). Each submission is decoded on its own, so one that is too
deep, too large or broken is rejected alone while the others go in; only input that is JSON
in no way at all (or over MAX_FILE) is unusable as a whole.

Numbers are bounded too: a number token longer than MAX_NUMBER characters, or one that is no
finite float (`1e999`, and NaN and Infinity, which Python reads though JSON has none), rejects
its submission with the JSON pointer of the number — Python's own limit (4,300 digits) would
raise out of the decoder and take the file or the request with it.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from salesflow.errors import UserError
from salesflow.values import MAX_NUMBER, too_long_number

MAX_FILE = 50 * 1024 * 1024  # bytes in one file or stdin
MAX_SUBMISSION = 1024 * 1024  # characters of one submission
MAX_DEPTH = 32  # levels of nesting in one submission (Tally's payloads use 4)
_CHUNK = 1024 * 1024  # characters read at a time
_EXCERPT = 200  # characters of a rejected submission kept with its reason
_SPACE = re.compile(r"[ \t\r\n]*")
_COMMA = re.compile(r"[ \t\r\n]*,[ \t\r\n]*")  # between two items of an array
_NUMBER_GOES_ON = re.compile(r"[0-9.eE+-]*")
_ARRAY_END = ("]", "")  # the closing bracket, or the end of the input
_AT_LINE = re.compile(r" at line 1 column \d+\)$")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # how a lone surrogate gets into JSON
_SURROGATE = re.compile("[\ud800-\udfff]")

Item = tuple[int, Any, str | None]  # (index, payload, None) or (index, excerpt, error)


class _OutOfRange:
    """A number token the reader does not take, left in the decoded value where it stood
    (the decoder cannot stop with its position), so a walk can name it by its pointer."""

    def __init__(self, token: str, why: str):
        self.token, self.why = token, why
        _seen.out_of_range += 1


class _Seen(threading.local):
    out_of_range = 0  # per thread: `serve` reads bodies while its worker reads the inbox


_seen = _Seen()


def _integer(token: str) -> int | _OutOfRange:
    if len(token) > MAX_NUMBER:
        return _OutOfRange(token, str(too_long_number(token)))
    return int(token)


def _float(token: str) -> float | _OutOfRange:
    if len(token) > MAX_NUMBER:
        return _OutOfRange(token, str(too_long_number(token)))
    value = float(token)
    if not math.isfinite(value):
        return _OutOfRange(token, f"{token} is out of range for a number (beyond ±1.8e308)")
    return value


def _constant(token: str) -> _OutOfRange:
    return _OutOfRange(token, f"{token} is not a number (JSON has no {token.lstrip('-')})")


_DECODER = json.JSONDecoder(parse_int=_integer, parse_float=_float, parse_constant=_constant)


@contextmanager
def open_submissions(path: Path) -> Iterator[TextIO]:
    """A submissions file opened as text (UTF-8, with or without BOM), refused over MAX_FILE."""
    try:
        if path.stat().st_size > MAX_FILE:
            raise UserError(
                f"{path.name}: larger than {MAX_FILE // 2**20} MB; split it into smaller files"
            )
        stream = path.open(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as error:
        raise UserError(f"{path}: cannot be read ({error.strerror})") from None
    with stream:
        yield stream


def submissions(stream: TextIO, source: str) -> Iterator[Item]:
    """Each submission in `stream`, in order, numbered from 1 — read a chunk at a time, so
    memory stays flat whatever the size of the input."""
    text = _Text(stream, source)
    start = text.skip_space(0)
    if text.at_end(start):
        raise UserError(f"{source}: no submission (the input is empty)")
    if text.char(start) == "[":
        yield from _array(text, start, source)
        return
    payload, end, error = text.value(start)
    if error and error.startswith("not JSON"):
        raise UserError(f"{source}: {error}")
    if not text.at_end(text.skip_space(end)):  # more values follow: JSON Lines
        yield from _json_lines(text)
        return
    yield 1, payload, error


class _Text:
    """The input read so far, from the first byte not yet handled: positions are relative
    to `self.text`, which drops what was handled as reading goes on."""

    def __init__(self, stream: TextIO, source: str):
        self.stream, self.source = stream, source
        self.text, self.read, self.eof = "", 0, False
        self.lines_before = 0  # line breaks in what was dropped, for error positions
        self.columns_before = 0  # characters dropped since the last line break dropped

    def more(self) -> bool:
        """Read the next chunk; False at the end of the input."""
        if self.eof:
            return False
        try:
            chunk = self.stream.read(_CHUNK)
        except UnicodeDecodeError as error:
            reason = f"not UTF-8 text ({error.reason}); JSON is UTF-8"
            raise UserError(f"{self.source}: {reason}") from None
        self.read += len(chunk)
        if self.read > MAX_FILE:
            raise UserError(f"{self.source}: larger than {MAX_FILE // 2**20} MB; send it in parts")
        self.eof = not chunk
        self.text += chunk
        return bool(chunk)

    def drop(self, position: int) -> int:
        """Forget what lies before `position` once it is large; the new position."""
        if position < _CHUNK:
            return position
        breaks = self.text.count("\n", 0, position)
        self.lines_before += breaks
        line_start = self.text.rfind("\n", 0, position) + 1
        self.columns_before = position - line_start + (0 if breaks else self.columns_before)
        self.text = self.text[position:]
        return 0

    def at_end(self, position: int) -> bool:
        return position >= len(self.text) and not self.more()

    def char(self, position: int) -> str:
        """The character at `position`, reading on if needed; "" at the end of the input."""
        if position < len(self.text) or self.more():
            return self.text[position]
        return ""

    def skip_space(self, position: int) -> int:
        while True:
            position = _SPACE.match(self.text, position).end()
            if position < len(self.text) or not self.more():
                return position

    def line_end(self, position: int) -> int:
        """Where the line starting at `position` ends (its line break, or the end)."""
        while True:
            end = self.text.find("\n", position)
            if end >= 0:
                return end
            if not self.more():
                return len(self.text)

    def value(self, start: int) -> tuple[Any, int, str | None]:
        """The JSON value at `start`, reading on while it is cut by the end of a chunk."""
        while True:
            payload, end, error = _one(self.text, start, self.where)
            # Maybe cut short: broken, too deep with no closing bracket read yet, or ending
            # where the chunk ends, or a number that may (`12` of `123`, `0` of `0.5`).
            incomplete = (error and error.startswith("not JSON")) or (
                not self.eof and _NUMBER_GOES_ON.match(self.text, end).end() >= len(self.text)
            )
            if not incomplete or len(self.text) - start > MAX_SUBMISSION + _CHUNK:
                return payload, end, error
            if not self.more():
                return payload, end, error

    def excerpt(self, position: int) -> str:
        """The beginning of what is at `position`, reading on for it if needed."""
        while len(self.text) - position < _EXCERPT and self.more():
            pass
        return _excerpt(self.text, position)

    def where(self, position: int) -> str:
        """`line L column C` of `position` in the whole input, as `json` counts them."""
        line_start = self.text.rfind("\n", 0, position) + 1
        line = self.lines_before + self.text.count("\n", 0, line_start) + 1
        column = position - line_start + 1 + (0 if line_start else self.columns_before)
        return f"line {line} column {column}"


def _array(text: _Text, start: int, source: str) -> Iterator[Item]:
    """The items of the array opening at `start`; a mistake in it (what `json.loads` would
    refuse, at the same line and column) ends it, keeping the items before. A comma before
    the closing bracket is forgiven. An item followed by a comma, all in the chunk, costs
    one decode and one match; the rest (the closing bracket, a comma or an item cut by the
    end of a chunk, a mistake) is read the careful way."""
    position, index = text.skip_space(start + 1), 0
    while text.char(position) not in _ARRAY_END:
        index += 1
        payload, end, error = text.value(position)
        if error and error.startswith("not JSON"):
            if index == 1:
                raise UserError(f"{source}: {error}")
            yield index, _excerpt(text.text, position), f"{error}; the rest is not read"
            return
        yield index, payload, error
        end = text.drop(end)
        comma = _COMMA.match(text.text, end)
        if comma and comma.end() < len(text.text):
            position = comma.end()
            continue
        position = text.skip_space(end)
        if text.char(position) == ",":
            position = text.skip_space(position + 1)
        elif text.char(position) not in _ARRAY_END:
            error = f"not JSON ({text.where(position)}: expected ',' or ']'); the rest is not read"
            yield index + 1, text.excerpt(position), error
            return
    if text.at_end(position):
        where = text.where(position)
        yield index + 1, "", f"not JSON ({where}: the array is not closed: the file is cut short?)"
        return
    after = text.skip_space(position + 1)
    if not text.at_end(after):  # `[…][…]`: what follows would be lost without a word
        error = f"not JSON ({text.where(after)}: more after the array's closing bracket)"
        yield index + 1, text.excerpt(after), f"{error}; it is not read"


def _json_lines(text: _Text) -> Iterator[Item]:
    position, index = 0, 0
    while not text.at_end(position):
        end = text.line_end(position)
        line = text.text[position:end]
        position = text.drop(end + 1)
        if not line.strip():
            continue
        index += 1
        start = _skip_space(line, 0)
        payload, value_end, error = _one(line, start, _where_in(line))
        if not error and _skip_space(line, value_end) < len(line):
            error = "not JSON (more than one value on the line)"
        elif error:  # the index is the line: a position inside it says nothing more
            error = _AT_LINE.sub(")", error)
        yield index, (line[:_EXCERPT] if error else payload), error


def _one(text: str, start: int, located: Callable[[int], str]) -> tuple[Any, int, str | None]:
    """(value, end, None), or (None, end, reason) for a value past the bounds or not JSON
    (`located` names a position of `text`: `line L column C`)."""
    numbers_out_of_range = _seen.out_of_range
    try:
        value, end = _DECODER.raw_decode(text, start)
    except RecursionError:
        end = _end_of_value(text, start)
        return _excerpt(text, start), end, f"nested deeper than {MAX_DEPTH} levels"
    except json.JSONDecodeError as error:
        return None, start, f"not JSON ({error.msg} at {located(error.pos)})"
    if end - start > MAX_SUBMISSION:
        return _excerpt(text, start), end, f"larger than {MAX_SUBMISSION // 1024} kB"
    if _maybe_deep(text, start, end) and _depth(value) > MAX_DEPTH:
        return _excerpt(text, start), end, f"nested deeper than {MAX_DEPTH} levels"
    if _SURROGATE_ESCAPE.search(text, start, end) and (where := _first(value, _has_surrogate)):
        why = f"broken text at {where[0]}: a lone surrogate (\\ud800-\\udfff) is not a character"
        return text[start : min(end, start + _EXCERPT)], end, why
    if _seen.out_of_range != numbers_out_of_range:
        where, number = _first(value, _is_out_of_range)
        return text[start : min(end, start + _EXCERPT)], end, f"{where}: {number.why}"
    return value, end, None


def _where_in(text: str) -> Callable[[int], str]:
    """Positions in `text` alone (a line of JSON Lines), as `json` counts them."""

    def where(position: int) -> str:
        error = json.JSONDecodeError("", text, position)
        return f"line {error.lineno} column {error.colno}"

    return where


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


def _has_surrogate(item: Any) -> bool:
    """Half a surrogate pair, which no UTF-8 text can store."""
    return isinstance(item, str) and _SURROGATE.search(item) is not None


def _is_out_of_range(item: Any) -> bool:
    return isinstance(item, _OutOfRange)


def _first(value: Any, wrong: Callable[[Any], bool]) -> tuple[str, Any] | None:
    """(JSON pointer, item) of the first value or key, in document order, that is `wrong`;
    None when there is none."""
    stack = [(value, "")]
    while stack:
        item, where = stack.pop()
        if wrong(item):
            return where or "/", item
        children: list[tuple[Any, str]] = []
        if isinstance(item, dict):
            for key, child in item.items():
                step = f"{where}/{key.replace('~', '~0').replace('/', '~1')}"
                children += [(key, step), (child, step)]  # a key is checked before its value
        elif isinstance(item, list):
            children = [(child, f"{where}/{index}") for index, child in enumerate(item)]
        stack.extend(reversed(children))
    return None


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
    return text[start : start + _EXCERPT]


def _skip_space(text: str, position: int) -> int:
    return _SPACE.match(text, position).end()
