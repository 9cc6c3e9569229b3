"""Helpers shared by the CLI modules: errors as one line, resources, console."""

from __future__ import annotations

import sys
from typing import NoReturn

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
