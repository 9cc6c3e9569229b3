"""Helpers shared by the CLI modules: errors as one line, resources, console."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click
import typer
from rich.console import Console

from config.settings import SANDBOX_URL, SettingsError, get_settings
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


#: commands that only read: they never create a database where there is none
READ_ONLY_COMMANDS = frozenset({"status", "report", "web", "rerun"})
#: commands that talk to Alma (and ``verify --set``): they say when the built-in sandbox stands in for it
ALMA_COMMANDS = frozenset({"migrate", "rerun", "repair", "restore", "repair-conflicts"})
_said: set[str] = set()


def _command() -> Any:
    """The running command's context (Typer carries its own copy of Click), or None outside one."""
    getter: Any = click.get_current_context
    try:
        from typer._click.globals import get_current_context as getter
    except ImportError:  # a Typer that uses Click itself
        pass
    return getter(silent=True)


def _load():  # type: ignore[no-untyped-def]
    try:
        return get_settings()
    except SettingsError as exc:
        raise CliError(str(exc), code=2) from None


def _talks_to_alma(ctx: Any) -> bool:
    if ctx is None:
        return False
    if ctx.info_name in ALMA_COMMANDS:
        return True
    return ctx.info_name == "verify" and ctx.params.get("set_id") is not None


def settings():  # type: ignore[no-untyped-def]
    """The settings, with a bad value turned into a one-line CliError.

    With no ALMA_API_BASE_URL (environment or .env), says once on stderr that the built-in sandbox
    stands in for Alma, so that a host that lost its settings does not quietly talk to nothing.
    """
    loaded = _load()
    ctx = _command()
    said = ctx.find_root().meta.setdefault("handles.said", set()) if ctx is not None else _said
    if (
        "alma_api_base_url" not in loaded.model_fields_set
        and "sandbox-default" not in said
        and _talks_to_alma(ctx)
    ):
        said.add("sandbox-default")
        print(
            f"handles: no ALMA_API_BASE_URL set: using the built-in sandbox at {SANDBOX_URL}", file=sys.stderr
        )
    return loaded


def _missing_code() -> int:
    """``verify`` keeps its exit codes (2 on error); the others fail with 1."""
    ctx = _command()
    return 2 if ctx is not None and ctx.info_name == "verify" else 1


def _reads_only() -> bool:
    ctx = _command()
    if ctx is None:
        return False
    if ctx.info_name in READ_ONLY_COMMANDS:
        return True
    return ctx.info_name == "verify" and ctx.params.get("run") is not None


def _refuse_missing_database(url: str) -> None:
    """A read-only command on a host where nothing has run: one line, and no file is created."""
    if url.startswith("sqlite") and ":///" in url:
        path = url.split(":///", 1)[1]
        if path and path != ":memory:" and not Path(path).exists():
            shown = path if Path(path).is_absolute() else f"./{path}"
            raise CliError(
                f"no database at {shown} (DATABASE_URL): nothing has run here yet", code=_missing_code()
            )
        return
    from sqlalchemy import inspect

    try:
        present = inspect(resources.engine()).has_table("run")
    except Exception as exc:  # noqa: BLE001
        raise CliError(f"database {url.split('@')[-1]}: {describe_error(exc)}") from None
    if not present:
        raise CliError(
            f"no handles tables in database {url.split('@')[-1]} (DATABASE_URL): nothing has run here yet",
            code=_missing_code(),
        )


def ready_database():  # type: ignore[no-untyped-def]
    """The engine, with the schema upgraded (cheap when current).

    For a command that only reads, a database that is not there is refused rather than created.
    """
    loaded = _load()
    if _reads_only():
        _refuse_missing_database(loaded.database_url)
    try:
        resources.ensure_schema()
    except Exception as exc:  # noqa: BLE001
        raise CliError(
            f"database {resources.settings().database_url.split('@')[-1]}: {describe_error(exc)}"
        ) from None
    return resources.engine()


#: the largest id the database stores (a signed 64-bit integer, as SQLite's INTEGER and BIGINT)
MAX_DB_ID = 2**63 - 1


def param_label(param: Any) -> str:
    """How the help names a parameter: ``--run`` for an option, ``RUN_ID`` for an argument."""
    if param.param_type_name == "option" and param.opts:
        return str(param.opts[0])
    return str(param.metavar or (param.name or "id").upper())


def db_id(param: typer.CallbackParam, value: int | None) -> int | None:
    """Typer callback for a RUN_ID or a request ID: a whole number from 1 to :data:`MAX_DB_ID`.

    Anything else is one line (exit 2) before the database is asked: a larger number would end in
    the driver's ``OverflowError``, zero or a negative one can name no row.
    """
    if value is None or 1 <= value <= MAX_DB_ID:
        return value
    name = param_label(param)
    shown = str(value) if len(str(value)) <= 24 else str(value)[:24] + "…"
    raise CliError(f"{name} {shown}: not an id (a whole number from 1 to {MAX_DB_ID})", code=2)
