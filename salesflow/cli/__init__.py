"""The command line: thin commands that parse, call the library, and print."""

from __future__ import annotations

import sys


def main() -> None:
    """The `salesflow` console script. The app is imported here, inside the guard, so that
    Ctrl-C while Python is still loading it exits 130 quietly, like Ctrl-C later on."""
    try:
        from salesflow.cli.quick import nothing_due

        if nothing_due(sys.argv[1:]):
            return
        from salesflow.cli.app import register

        register(sys.argv[1:])()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
