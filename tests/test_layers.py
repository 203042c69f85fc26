"""The architecture, checked: SQL only in `store/`, imports only downward (import-linter)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import salesflow

PACKAGE = Path(salesflow.__file__).parent
# A statement's first words, as SQL is written here: capitals, then what must follow.
SQL = re.compile(
    r"^\s*(SELECT\s.+\sFROM\s|INSERT\s+(OR\s+\w+\s+)?INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s"
    r"|WITH\s+\w+|CREATE\s+(TABLE|INDEX|TRIGGER|VIEW|TEMP)|DROP\s|ALTER\s+TABLE\s|PRAGMA\s"
    r"|(BEGIN|COMMIT|ROLLBACK)(\s+\w+)?\s*$|SAVEPOINT\s|RELEASE\s)",
    re.DOTALL,
)
# Pieces of statements built in parts: a condition or a clause on its own.
SQL_PIECE = re.compile(r"\b(WHERE|ORDER BY|GROUP BY|LIMIT \?|IS NULL|IS NOT NULL|JOIN \w+ ON)\b")


def _texts(tree: ast.AST):
    """Every string literal, an f-string's literal parts joined into one text (`f"SELECT …
    {x}"` reads as `SELECT … x`) and not read again on their own."""
    inside_fstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            inside_fstrings.update(id(value) for value in node.values)
            parts = [v.value if isinstance(v, ast.Constant) else "x" for v in node.values]
            yield node.lineno, "".join(str(part) for part in parts)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in inside_fstrings:
                continue
            yield node.lineno, node.value


def _docstrings(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                lines.add(body[0].value.lineno)
    return lines


def sql_outside_store() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "store":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for line, text in _texts(tree):
            if line in skip:
                continue
            if SQL.search(text) or SQL_PIECE.search(text):
                found.append(f"salesflow/{relative}:{line}: {text.strip()[:60]!r}")
    return sorted(set(found))


def test_no_sql_outside_store():
    assert sql_outside_store() == []


def test_the_sql_finder_sees_statements_and_pieces():
    tree = ast.parse(
        'a = "SELECT id FROM runs"\n'
        'b = f"UPDATE runs SET status = {s} WHERE id = ?"\n'
        "c = \"status = 'waiting' AND wake_at IS NOT NULL\"\n"
        'd = "Select the stage where the deal goes"\n'
    )
    hits = [text for _, text in _texts(tree) if SQL.search(text) or SQL_PIECE.search(text)]
    assert len(hits) == 3


def test_imports_follow_the_layers():
    """The contracts in pyproject.toml: no upward import, no cycle in a package."""
    linter = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(linter)], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stdout[-3000:]
