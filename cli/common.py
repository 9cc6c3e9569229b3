"""Helpers shared by the CLI modules: errors as one line, resources, console."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console

from config.settings import SettingsError, get_settings
from workers import resources

console = Console()
err_console = Console(stderr=True)


class CliError(Exception):
    """An expected failure: printed as one line, exit ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 1) -> NoReturn:
    first = " ".join(str(message).split()) or "failed"
    print(f"handles: error: {first}", file=sys.stderr)
    raise SystemExit(code)


def describe_error(exc: BaseException) -> str:
    """One line for an unexpected error, naming its kind; no traceback, no secret."""
    if isinstance(exc, SettingsError):
        return f"setting: {exc}"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def settings():  # type: ignore[no-untyped-def]
    """The settings, with a bad value turned into a one-line CliError."""
    try:
        return get_settings()
    except SettingsError as exc:
        raise CliError(str(exc), code=2) from None


def ready_database():  # type: ignore[no-untyped-def]
    """The engine, with the schema upgraded (cheap when current)."""
    settings()
    try:
        resources.ensure_schema()
    except Exception as exc:  # noqa: BLE001
        raise CliError(
            f"database {resources.settings().database_url.split('@')[-1]}: {describe_error(exc)}"
        ) from None
    return resources.engine()


#: the largest id the database stores (a signed 64-bit integer, as SQLite's INTEGER and BIGINT)
MAX_DB_ID = 2**63 - 1


def db_id(param: typer.CallbackParam, value: int | None) -> int | None:
    """Typer callback for a RUN_ID or a request ID: a whole number from 1 to :data:`MAX_DB_ID`.

    Anything else is one line (exit 2) before the database is asked: a larger number would end in
    the driver's ``OverflowError``, zero or a negative one can name no row.
    """
    if value is None or 1 <= value <= MAX_DB_ID:
        return value
    if param.param_type_name == "option" and param.opts:
        name = param.opts[0]
    else:
        name = param.metavar or (param.name or "id").upper()
    shown = str(value) if len(str(value)) <= 24 else str(value)[:24] + "…"
    raise CliError(f"{name} {shown}: not an id (a whole number from 1 to {MAX_DB_ID})", code=2)
