"""The root `salesflow` command: global options, error handling, and the command groups."""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import typer
from typer import core as typer_core
from typer._coercion import RuntimeParam, TypeDescriptor
from typer._param_types import coerce_cli_choice, coerce_cli_path
from typer.core import TyperGroup, TyperOption

from salesflow.cli import EXIT_INTERRUPTED
from salesflow.cli.say import failed, say_version
from salesflow.cli.state import State


class _Group(TyperGroup):
    """Turns every error into what a person should read: one line, and a stable exit code."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except typer.BadParameter as error:  # in the user's words, not the validator's
            error.message = error.message.removeprefix("Value error, ")
            raise
        except (typer.TyperException, typer.Exit, typer.Abort):  # usage errors, --help, exits
            raise
        except KeyboardInterrupt:  # the console script says "interrupted"
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as error:
            database = ctx.obj.database() if ctx.obj else None
            ctx.exit(failed(error, database, bool(ctx.params.get("debug"))))


def _flag_type(option: TyperOption, ctx: typer.Context) -> str | None:
    """A flag takes no value, so --help shows none beside it (typer 0.29 writes `<bool>`
    beside every flag it makes itself: --help, the completion ones)."""
    return None if option.is_flag else _OPTION_TYPE(option, ctx)


_OPTION_TYPE = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_type


@dataclass(frozen=True)
class _RuntimeParam(RuntimeParam):
    """Typer's coercion of a parameter's value, built only for a value that needs it (an
    option not given needs none), and without pydantic for a text, a path, a choice (or a
    list of them) and a number left at its default: typer 0.29 builds a pydantic TypeAdapter
    for every parameter of the command, and importing pydantic and building them took 0.1 s
    of every command's start-up. Paths and choices are checked by typer's own functions, so
    their errors read the same."""

    descriptor: TypeDescriptor

    def _coerce_value(self, value: Any, param: Any, ctx: typer.Context) -> Any:
        if type(value) is self.annotation and self.annotation in (int, float):
            return value  # a default
        leaf = _plain_leaf(self.descriptor)
        if leaf is None:
            return _typer_param(self.descriptor)._coerce_value(value, param, ctx)
        if isinstance(value, (list, tuple)):
            return [self._one(leaf, item, param, ctx) for item in value]
        return self._one(leaf, value, param, ctx)

    def _one(self, leaf: type, value: Any, param: Any, ctx: typer.Context) -> Any:
        if leaf is Path:
            return coerce_cli_path(Path(value), self.parameter_info, path_type=Path,
                                   param=param, ctx=ctx)  # fmt: skip
        if issubclass(leaf, Enum):
            sensitive = self.parameter_info.case_sensitive
            try:
                return coerce_cli_choice(value, choices=list(leaf), case_sensitive=sensitive,
                                         ctx=ctx)  # fmt: skip
            except ValueError as error:
                raise typer.BadParameter(str(error), ctx=ctx, param=param) from None
        return str(value)


def _plain_leaf(descriptor: TypeDescriptor) -> type | None:
    """str, Path or an Enum, for a parameter (or a list of them) that asks nothing more;
    else None."""
    annotation, info = descriptor.annotation, descriptor.parameter_info
    if get_origin(annotation) is list:
        annotation = get_args(annotation)[0]
    if descriptor.file_annotation is not None or info.parser is not None:
        return None
    if annotation is str or (annotation is Path and info.path_type is None):
        return annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, Enum) else None


def _runtime_param(descriptor: TypeDescriptor) -> RuntimeParam:
    return _RuntimeParam(descriptor.parameter_info, descriptor.annotation, descriptor)


_typer_param = functools.cache(typer_core.build_runtime_param)
typer_core.build_runtime_param = _runtime_param

app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # help paragraphs rewrapped to the terminal, not the source
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Sales pipelines and workflow automation, declared in YAML and run from cron.",
)


def _version(value: bool) -> None:
    if value:
        say_version()
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    project: Annotated[
        Path | None,
        typer.Option(
            "--project",
            "-C",
            help="The project folder (default: the folder holding salesflow.yaml, here or above).",
            envvar="SALESFLOW_PROJECT",
            file_okay=False,
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            help="Act as if it were this ISO time (no offset: the project's time zone).",
            envvar="SALESFLOW_NOW",
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks of unexpected errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """salesflow keeps a sales pipeline (where every prospect stands) and runs workflows
    (the robots that act on each step of that journey), from YAML files kept in Git."""
    ctx.obj = State(project, now, debug)
    ctx.call_on_close(ctx.obj.close)


# Every command: its name → (module of salesflow.cli, the function or sub-app), in help order.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("validate", "validate"), "init": ("init", "init"),
    "import": ("imports", "import_"), "ingest": ("ingest", "ingest"),
    "process": ("runs", "process"), "runs": ("runs", "app"), "events": ("runs", "events_app"),
    "workflows": ("workflows", "app"), "outbox": ("outbox", "app"),
    "inbound": ("inbound", "app"),
    "render": ("outbox", "render"), "tick": ("clock", "tick"), "run": ("clock", "run"),
    "schedule": ("clock", "schedule"), "contacts": ("contacts", "app"),
    "deals": ("deals", "app"), "tickets": ("tickets", "app"), "tasks": ("tasks", "app"),
    "pipeline": ("pipeline", "app"), "report": ("report", "report"), "today": ("today", "today"),
    "team": ("team", "app"), "plan": ("plan", "plan"),
    "serve": ("serve", "serve"), "rejects": ("serve", "rejects_app"),
    "secret": ("serve", "secret_app"), "check": ("health", "check"),
    "backup": ("health", "backup"), "db": ("database", "app"),
}  # fmt: skip
_VALUED_OPTIONS = ("--project", "-C", "--now")  # root options followed by their value


def register(argv: list[str] | None = None) -> typer.Typer:
    """Add the commands to `app`: with `argv`, only the one it runs, when it names one (its
    module alone is imported and its parameters alone built: 0.15 s less on every command
    line); all of them for `--help`, a typo, or without `argv` (the tests)."""
    word = _command_word(argv) if argv is not None else None
    for name, (module, attribute) in COMMANDS.items():
        if word in COMMANDS and name != word:
            continue
        target = getattr(importlib.import_module(f"salesflow.cli.{module}"), attribute)
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)
    return app


def _command_word(argv: list[str]) -> str | None:
    """The command a command line runs: its first word that is not a root option's."""
    words = iter(argv)
    for word in words:
        if word in _VALUED_OPTIONS:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None
