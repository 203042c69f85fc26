"""The error types a user sees: one located line each, never a traceback."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class UserError(Exception):
    """A mistake in the input or the configuration: reported in one line, exit code 1.
    `phrase`, when given, is the same as a stored phrase (salesflow/phrases.py): a page says
    it in its reader's language, where str() is the CLI's English."""

    def __init__(self, message: str, phrase: str | None = None):
        super().__init__(message)
        self.phrase = phrase


class NotFound(UserError):
    """No record has the number or name given (a 404 on the pages)."""


class EnvironmentFault(UserError):
    """The machine, not the input: a missing, damaged or read-only database, a full disk, a
    lock held too long. One line naming the file and what to do; exit code 1."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in a project file, at a 1-based line and column."""

    path: Path
    line: int
    column: int
    message: str
    key: str = ""

    def render(self, base: Path | None = None) -> str:
        """`path:line:col: message [key.path]`, the path relative to `base` where possible."""
        where = display_path(self.path, base)
        suffix = f" [{self.key}]" if self.key else ""
        return f"{where}:{self.line}:{self.column}: {self.message}{suffix}"

    def as_json(self, base: Path | None = None) -> dict:
        return {
            "path": display_path(self.path, base),
            "line": self.line,
            "column": self.column,
            "key": self.key,
            "message": self.message,
        }


class ProjectInvalid(UserError):
    """The project has problems; the CLI lists them all."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__(f"the project has {len(problems)} error(s); run `salesflow validate`")


def display_path(path: Path, base: Path | None = None) -> str:
    """A path as a user wants to read it: relative to `base` (default: the cwd) when inside it."""
    base = (base or Path.cwd()).resolve()
    try:
        return path.resolve().relative_to(base).as_posix()
    except ValueError:
        return str(path)


def did_you_mean(word: str, choices: list[str] | set[str] | tuple[str, ...]) -> str:
    """` (did you mean 'x'?)` when a close choice exists, else ``."""
    close = closest(word, choices)
    return f" (did you mean '{close}'?)" if close else ""


def closest(word: str, choices: list[str] | set[str] | tuple[str, ...]) -> str | None:
    """The choice that `word` is probably a typo of, if any."""
    import difflib

    close = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.6)
    return close[0] if close else None
