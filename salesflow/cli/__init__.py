"""The command line: thin commands that parse, call the library, and print."""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130


def main() -> None:
    """The `salesflow` console script. The app is imported here, inside the guard, so that
    Ctrl-C while Python is still loading it exits 130 quietly, like Ctrl-C later on. Typer
    turns a Ctrl-C while it builds the command into a silent exit 130: that one is said too."""
    try:
        from salesflow.cli.quick import answered

        code = answered(sys.argv[1:])
        if code == 0:
            return
        if code is not None:
            raise SystemExit(code)
        from salesflow.cli.app import register

        register(sys.argv[1:])()
    except KeyboardInterrupt:
        _interrupted()
    except SystemExit as leaving:
        if leaving.code == EXIT_INTERRUPTED:
            _interrupted()
        raise


def _interrupted() -> None:
    sys.stderr.write("interrupted\n")
    raise SystemExit(EXIT_INTERRUPTED) from None
