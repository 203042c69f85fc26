"""Safe YAML loading that remembers where every key and value stands in the file.

PyYAML silently keeps the last of two equal keys; here a duplicate is reported (naming both
lines) and the last value is kept, so one mistake does not hide the others.

Aliases are budgeted while the file is composed: a few kB of nested aliases (a "billion
laughs") would otherwise expand into billions of nodes later. Past ALIAS_BUDGET nodes
repeated by aliases, or MAX_NESTING levels, the file is refused at the alias or node that
crossed the line, before any expansion cost is paid. Merge keys (`<<: *base`) stay valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from salesflow.errors import Problem

KeyPath = tuple[str | int, ...]
Position = tuple[int, int]


ALIAS_BUDGET = 10_000  # nodes that aliases may repeat, in all, in one file
MAX_NESTING = 64  # levels of collections inside collections


class TooBig(yaml.MarkedYAMLError):
    """A file whose aliases or nesting go past the limits."""


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml: ~12× faster
    """The safe loader without implicit timestamps: dates stay the strings the user wrote."""


def _limits(root: yaml.Node) -> TooBig | None:
    """Aliases repeating too much, collections nesting too deep, or an alias inside the
    collection it names, found on the composed graph — where an alias is a shared node, so
    this walk costs the distinct nodes only, before anything is expanded."""
    sizes: dict[int, int] = {}  # id(node) → its size with aliases expanded
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    on_path: set[int] = set()
    while stack:
        node, finished = stack.pop()
        key, children = id(node), _children(node)
        if finished:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[key] - len(sizes) > ALIAS_BUDGET:
                return TooBig(None, None, f"aliases repeat more than {ALIAS_BUDGET:,} values in"
                              " all (nested aliases, a 'billion laughs'?); write the values out"
                              " or use fewer aliases", node.start_mark)  # fmt: skip
            continue
        if key in sizes:
            continue
        if key in on_path:
            return TooBig(None, None, "an alias inside the collection it names (a loop)",
                          node.start_mark)  # fmt: skip
        if children and len(on_path) >= MAX_NESTING:  # the ancestors are the path
            message = f"nested deeper than {MAX_NESTING} levels; project files need a few"
            return TooBig(None, None, message, node.start_mark)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return node.value if isinstance(node, yaml.SequenceNode) else []


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class YamlFile:
    """A loaded YAML file: its data, and the 1-based position of every value and key."""

    path: Path
    data: Any = None
    values: dict[KeyPath, Position] = field(default_factory=dict)
    keys: dict[KeyPath, Position] = field(default_factory=dict)
    removed: tuple[KeyPath, ...] = ()  # list items taken out of `data`, in the order removed

    def position(self, keypath: KeyPath, of_key: bool = False) -> Position:
        """Where `keypath` (of `data`) stands; the nearest enclosing node when it is not in
        the file."""
        return self._located(self.as_written(keypath), of_key)

    def problem(self, keypath: KeyPath, message: str, of_key: bool = False) -> Problem:
        keypath = self.as_written(keypath)
        line, column = self._located(keypath, of_key)
        return Problem(self.path, line, column, message, render_keypath(keypath))

    def as_written(self, keypath: KeyPath) -> KeyPath:
        """The file's key path for a key path of `data`: each list item removed from `data`
        moved the items after it one place up, so `steps[2]` may be the file's `steps[3]`."""
        for *parent, index in reversed(self.removed):
            depth = len(parent)
            at = keypath[depth] if len(keypath) > depth else None
            if keypath[:depth] == tuple(parent) and isinstance(at, int) and at >= index:
                keypath = (*keypath[:depth], at + 1, *keypath[depth + 1 :])
        return keypath

    def _located(self, keypath: KeyPath, of_key: bool) -> Position:
        if of_key and keypath in self.keys:
            return self.keys[keypath]
        for end in range(len(keypath), -1, -1):
            if keypath[:end] in self.values:
                return self.values[keypath[:end]]
        return (1, 1)


def render_keypath(keypath: KeyPath) -> str:
    """('steps', 3, 'create_deal', 'stage') → `steps[3].create_deal.stage`."""
    text = ""
    for part in keypath:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _position(node: yaml.Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def load_yaml(path: Path) -> tuple[YamlFile | None, list[Problem]]:
    """Load `path`; a file that cannot be parsed gives None and its syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        return None, [Problem(path, 1, 1, f"not UTF-8 text ({error.reason}); save it as UTF-8")]
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        too_big = _limits(root) if root is not None else None
        if too_big:
            raise too_big
    except TooBig as error:
        mark = error.problem_mark
        return None, [Problem(path, mark.line + 1, mark.column + 1, str(error.problem))]
    except RecursionError:  # the pure-Python composer, on thousands of nested levels
        return None, [Problem(path, 1, 1, f"nested deeper than {MAX_NESTING} levels")]
    except yaml.MarkedYAMLError as error:
        mark, message = syntax_problem(error, text)
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, [Problem(path, line, column, message)]
    finally:
        loader.dispose()
    document = YamlFile(path)
    problems: list[Problem] = []
    if root is not None:
        document.data = _build(root, (), document, loader, problems)
    return document, problems


def syntax_problem(error: yaml.MarkedYAMLError, text: str):
    """(where, message) for a YAML syntax error, in the user's words where the usual slips
    are recognised, located where the user must look (where a quote opened, not where the
    parser gave up)."""
    problem, context = error.problem or "", error.context or ""
    mark = error.problem_mark or error.context_mark
    line = text.splitlines()[mark.line] if mark and mark.line < len(text.splitlines()) else ""
    if "scanning an alias" in context:
        return mark, (
            "a value starting with * reads as a YAML alias: put it in quotes"
            ' (e.g. schedule: "*/30 * * * *")'
        )
    if "quoted scalar" in context and error.context_mark is not None:
        return error.context_mark, "this quote is never closed: close it on the same line"
    if _APOSTROPHE.search(line):
        return mark, (
            "an apostrophe inside '…' ends the text: double it ('l''essai') or use double"
            ' quotes ("l\'essai")'
        )
    message = (
        f"YAML syntax error: {problem} ({context})"
        if context
        else (f"YAML syntax error: {problem}")
    )
    opened = _unclosed_quote(text, mark.line) if mark else None
    if opened:  # only a guess: it adds to the parser's own located error, never replaces it
        message += (
            f"; the quote at line {opened.line + 1}, column {opened.column + 1}"
            " is not closed on its line: if it should be, close it there"
        )
    return mark, message


def _unclosed_quote(text: str, last: int):
    """The mark of a quoted value opened and not closed on its own line, at or before line
    `last` (a YAML quote may span lines, so the parser only notices lines later). Only a
    quote that opens a value counts: an apostrophe in a comment, in a plain value or inside
    the other kind of quotes is ordinary text."""
    lines = text.splitlines()
    for number in range(min(last, len(lines) - 1), max(last - 20, -1), -1):
        opening = _VALUE_QUOTE.match(lines[number])
        if opening and not _closes(lines[number][opening.end() :], opening.group(1)):
            return yaml.Mark("", 0, number, opening.start(1), None, None)
    return None


def _closes(rest: str, quote: str) -> bool:
    """Whether the quoted text `rest` (after its opening quote) ends on this line."""
    rest = rest.replace("\\\\", "").replace('\\"', "") if quote == '"' else rest.replace("''", "")
    return quote in rest


_VALUE_QUOTE = re.compile(r"""^\s*(?:-\s+)?(?:[^\s#'"][^:#]*:\s+|[\[{]\s*)?(["'])""")
_APOSTROPHE = re.compile(r":\s*'[^']*'[^\s,}\]#]")


def _build(node: yaml.Node, keypath: KeyPath, document: YamlFile, loader, problems) -> Any:
    document.values[keypath] = _position(node)
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, (*keypath, index), document, loader, problems)
            for index, item in enumerate(node.value)
        ]
    if isinstance(node, yaml.MappingNode):
        own = {id(key) for key, _ in node.value}  # merged keys (`<<: *base`) may be overridden
        loader.flatten_mapping(node)
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(loader.construct_object(key_node, deep=True))
            line, column = _position(key_node)
            if key in result and key in first_line and id(key_node) in own:
                problems.append(
                    Problem(
                        document.path,
                        line,
                        column,
                        f"duplicate key '{key}' (first at line {first_line[key]});"
                        " the last one is used",
                        render_keypath((*keypath, key)),
                    )
                )
            if id(key_node) in own:
                first_line.setdefault(key, line)
            document.keys[(*keypath, key)] = (line, column)
            result[key] = _build(value_node, (*keypath, key), document, loader, problems)
        return result
    return loader.construct_object(node, deep=True)
