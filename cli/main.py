"""The ``handles`` command line (see CONTRACT.md).

Each command group lives in its own module with a ``register(app)`` function. A module is imported
when one of its commands runs (or ``--help`` lists them all), not at start-up: a command pays only
for what it uses, and ``handles status`` does not wait for Celery, the Alma client or openpyxl.
Every expected failure reaches the operator as one line on stderr and a non-zero exit, never a
traceback.
"""

from __future__ import annotations

import importlib
import re
import sys
from typing import Any

import typer
from typer.core import TyperGroup

try:  # Typer carries its own copy of Click
    from typer._click.exceptions import BadParameter, NoArgsIsHelpError, UsageError
except ImportError:  # a Typer that uses Click itself
    from click.exceptions import BadParameter, NoArgsIsHelpError, UsageError  # type: ignore[assignment]

from cli import common
from config.logging import configure_cli_logging

#: each command → the module of ``cli`` that registers it, in the order ``handles --help`` lists them
COMMANDS: dict[str, str] = {
    "migrate": "migrate",
    "status": "status",
    "confirm": "migrate",
    "report": "report",
    "repair": "repair",
    "restore": "repair",
    "repair-conflicts": "repair",
    "verify": "verify",
    "sandbox": "sandbox_cmd",
    "demo": "demo",
    "web": "web",
    "webhook": "webhook",
    "rerun": "rerun",
    "events": "events",
    "request": "requests",
    "db": "db",
}

_OPTIONS: dict[str, Any] = {
    "add_completion": False,
    "pretty_exceptions_enable": False,
    "rich_markup_mode": None,
}
_registered: dict[str, typer.Typer] = {}  # module → the Typer its register() filled, once per process


def registered(module: str) -> typer.Typer:
    """A Typer holding the commands that ``cli.<module>`` registers (the module imported once)."""
    if module not in _registered:
        sub = typer.Typer(**_OPTIONS)
        importlib.import_module(f"cli.{module}").register(sub)
        _registered[module] = sub
    return _registered[module]


#: click's words for a value that is not an integer ("Invalid value for 'run_id': Input should be …")
_NOT_A_NUMBER = re.compile(r"Invalid value for .+?: .*valid integer")


def usage_line(exc: UsageError) -> str:
    """A mistake on the command line as one line: what is wrong, and where the help is.

    Click prints three lines (usage, a hint, the error) and words a number that is not one in
    Pydantic's terms; library staff get ``RUN_ID: not a whole number (handles status --help)``.
    """
    message = " ".join(exc.format_message().split())
    param = getattr(exc, "param", None)
    if isinstance(exc, BadParameter) and param is not None and _NOT_A_NUMBER.match(message):
        message = f"{common.param_label(param)}: not a whole number"
    where = exc.ctx.command_path if exc.ctx is not None else "handles"
    return f"{message} ({where} --help)"


def _one_line(exc: UsageError) -> Exception:
    if isinstance(exc, NoArgsIsHelpError):  # a group named alone: its help, as click prints it
        return exc
    return common.CliError(usage_line(exc), code=exc.exit_code)


class LazyCommands(TyperGroup):
    """The root group: a command's module is imported when the command is looked up (click's lazy
    loading pattern). An unknown name loads every module, so that "Did you mean" knows them all.

    A mistake on the command line (an unknown command or option, a missing or bad argument, at any
    depth) becomes one line through :class:`common.CliError`; asking for help still prints it.
    """

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except UsageError as exc:
            raise _one_line(exc) from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            raise _one_line(exc) from None

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands:
            for module in [COMMANDS[cmd_name]] if cmd_name in COMMANDS else dict.fromkeys(COMMANDS.values()):
                self.commands.update(typer.main.get_group(registered(module)).commands)
        return self.commands.get(cmd_name)


app = typer.Typer(
    name="handles",
    help=(
        "Move existing Handle identifiers into Alma: run Copy dcterms → Handle Migration → the Handle "
        "integration profile on a set, in that order, account for every record, repair what can be "
        "repaired, and verify that each handle resolves to its Primo record."
    ),
    no_args_is_help=True,
    cls=LazyCommands,
    **_OPTIONS,
)


@app.callback()
def _root() -> None:
    # a callback makes Typer build the root as a group although no command is registered on it
    pass


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app and turns expected errors into one line."""
    configure_cli_logging()
    try:
        app(args=argv, prog_name="handles", standalone_mode=True)
    except common.CliError as exc:
        common.fail(str(exc), code=exc.code)
    except KeyboardInterrupt:
        common.fail("interrupted", code=130)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - last resort: one line, not a traceback
        common.fail(common.describe_error(exc), code=1)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
