"""``handles report`` and ``handles events import``: the run's report, and Events Reports read in."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cli.common import CliError, db_id, err_console, ready_database, settings
from outcomes.classify import classify_run
from outcomes.importer import EventsFileError
from outcomes.ingest import import_file
from outcomes.report import iter_rows, write_csv, write_json
from store.db import session_scope
from store.models import Run

events_app = typer.Typer(help="Events Reports exported from Alma's UI.", no_args_is_help=True)


def _require_run(session, run_id: int) -> None:  # type: ignore[no-untyped-def]
    if session.get(Run, run_id) is None:
        raise CliError(f"there is no run {run_id}")


def report(
    run_id: int = typer.Argument(..., help="the run", callback=db_id),
    format: str = typer.Option("csv", "--format", help="csv or json"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write here instead of stdout"),
) -> None:
    """One row per record of the set: mms_id,pid,expected_handle,alma_handle,outcome,verification,target_url,detail."""
    if format not in {"csv", "json"}:
        raise CliError(f"--format must be csv or json, not {format!r}")
    config = settings()
    with session_scope(ready_database()) as session:
        _require_run(session, run_id)
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


def events_import(
    run_id: int = typer.Argument(..., help="the run the report belongs to", callback=db_id),
    file: Path = typer.Argument(..., help="the Events Report: CSV, XLSX, or the text copied from the page"),
) -> None:
    """Read an Events Report exported from Alma's UI into the run's outcomes (re-importing changes nothing)."""
    if not file.is_file():
        raise CliError(f"{file}: no such file")
    config = settings()
    try:
        with session_scope(ready_database()) as session:
            _require_run(session, run_id)
            summary = import_file(session=session, run_id=run_id, path=file)
            if summary.lines and summary.not_in_set == summary.lines:
                raise CliError(
                    f"{file}: none of its {summary.lines} event lines is about a record of run "
                    f"{run_id} (first: {', '.join(summary.not_in_set_sample)}); nothing imported"
                )
            counts = classify_run(session=session, run_id=run_id, settings=config)
    except EventsFileError as exc:
        raise CliError(f"{file}: {exc}; nothing imported") from None
    print(summary.describe())
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


def register(app: typer.Typer) -> None:
    """Add ``report`` and the ``events`` group to ``app``."""
    app.command("report")(report)
    events_app.command("import")(events_import)
    app.add_typer(events_app, name="events")
