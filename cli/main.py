"""The ``handles`` command line (see CONTRACT.md).

Each command group lives in its own module with a ``register(app)`` function. Every expected
failure reaches the operator as one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from cli import common
from config.logging import configure_cli_logging

app = typer.Typer(
    name="handles",
    help=(
        "Move existing Handle identifiers into Alma: run Copy dcterms → Handle Migration → the Handle "
        "integration profile on a set, in that order, account for every record, repair what can be "
        "repaired, and verify that each handle resolves to its Primo record."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_MODULES = (
    "migrate",
    "report",
    "events",
    "repair",
    "verify",
    "requests",
    "sandbox_cmd",
    "demo",
    "db",
    "web",
    "webhook",
    "rerun",
)


def _register_all() -> None:
    for name in _MODULES:
        module = importlib.import_module(f"cli.{name}")
        module.register(app)


_register_all()


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
