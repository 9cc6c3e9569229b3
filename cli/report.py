"""``handles report``: the run's report, one row per record of the set (``events`` is cli/events.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cli.common import CliError, err_console, ready_database, settings
from outcomes.report import iter_rows, write_csv, write_json
from store.db import session_scope
from store.runs import RunNotFound, get_run


def report(
    run_id: int = typer.Argument(..., help="the run"),
    format: str = typer.Option("csv", "--format", help="csv or json"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write here instead of stdout"),
) -> None:
    """One row per record of the set: mms_id,pid,expected_handle,alma_handle,outcome,verification,target_url,detail."""
    if format not in {"csv", "json"}:
        raise CliError(f"--format must be csv or json, not {format!r}")
    config = settings()
    with session_scope(ready_database()) as session:
        try:
            get_run(session, run_id)
        except RunNotFound as exc:
            raise CliError(str(exc)) from None
        rows = iter_rows(session=session, run_id=run_id, settings=config)
        writer = write_csv if format == "csv" else write_json
        if output is None:
            writer(rows, sys.stdout)
            return
        partial = output.with_name(output.name + ".partial")
        try:
            with partial.open("w", encoding="utf-8", newline="") as out:
                count = writer(rows, out)
            partial.replace(output)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CliError(f"{output}: {exc.strerror or exc}") from None
    err_console.print(f"{count} rows written to {output}")


def register(app: typer.Typer) -> None:
    """Add ``report`` to ``app``."""
    app.command("report")(report)
