"""The command line: thin commands that parse, call the library, and print."""

from salesflow.cli.app import app


def main() -> None:
    """The `salesflow` console script."""
    app()
