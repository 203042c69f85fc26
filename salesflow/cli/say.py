"""What the command line says, without loading typer: a line as `typer.echo` writes it, and
an error as the one line a person reads, with its exit code. The full command line
(cli/app.py) and the quick paths (cli/quick.py) both say things through here, so that the
same call says the same words whichever path took it."""

from __future__ import annotations

import codecs
import os
import sys

EXIT_INVALID = 1
EXIT_UNEXPECTED = 3


def echo(text: str, err: bool = False) -> None:
    """`typer.echo(text, err=err)`: a line, flushed. Loading typer for that costs 20 ms, and
    for a plain line on a UTF-8 (or any non-ASCII) stream click writes it as it is; a line
    with an escape code (click strips ANSI codes off a non-terminal), an ASCII stream (click
    writes UTF-8 into it) or Windows' console goes through click itself."""
    stream = sys.stderr if err else sys.stdout
    if "\x1b" in text or os.name == "nt" or not _plain_stream(stream):
        import typer

        typer.echo(text, err=err)
        return
    stream.write(text + "\n")
    stream.flush()


def _plain_stream(stream: object) -> bool:
    """A text stream click would write to as it is: its encoding and errors set, not ASCII."""
    encoding = getattr(stream, "encoding", None)
    if encoding is None or getattr(stream, "errors", None) is None:
        return False
    try:
        return codecs.lookup(encoding).name != "ascii"
    except LookupError:
        return True  # click too leaves a stream of an unknown encoding as it is


def failed(error: Exception, database: str | None, debug: bool) -> int:
    """Say `error` on stderr as a person should read it, and return the exit code: a user's
    mistake or a fault of the machine (naming the file, or `database`) in one line, exit 1;
    anything else as unexpected, pointing to --debug, exit 3. A closed pipe (`salesflow … |
    head` read what it wanted) says nothing, exit 1."""
    from salesflow.errors import ProjectInvalid, UserError  # on a failure only: see say_version
    from salesflow.store.db import fault_advice

    if isinstance(error, ProjectInvalid):
        for problem in error.problems:
            echo(problem.render(), err=True)
        echo(f"{error}", err=True)
        return EXIT_INVALID
    if isinstance(error, UserError):
        echo(f"error: {error}", err=True)
        return EXIT_INVALID
    if isinstance(error, BrokenPipeError):
        _stdout_to_nowhere()
        return 1
    advice = fault_advice(error)
    if advice:  # the machine, not salesflow: name the file and what to do
        where = getattr(error, "filename", None) or database or "salesflow"
        echo(f"error: {where}: {advice}", err=True)
        return EXIT_INVALID
    if debug:
        import traceback

        traceback.print_exception(error)
    echo(
        f"salesflow: unexpected error: {type(error).__name__}: {error}"
        + ("" if debug else " (run again with --debug to see the traceback)"),
        err=True,
    )
    return EXIT_UNEXPECTED


def _stdout_to_nowhere() -> None:
    """What is still buffered for the closed pipe goes nowhere, so that Python's own flush
    at exit does not fail again (the way the Python docs give for SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def say_version() -> None:
    """`salesflow --version`, loading nothing else of salesflow."""
    from salesflow import __version__

    echo(f"salesflow {__version__}")
