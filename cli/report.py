"""``handles report``: the run's report, one row per record of the set (CSV, JSON, XLSX or text)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from cli import render, report_view
from cli.common import CliError, db_id, err_console, ready_database, settings
from outcomes.current import current_counts
from outcomes.report import iter_rows, write_csv, write_json
from outcomes.report_xlsx import report_title, write_xlsx
from store.db import session_scope
from store.runs import RunNotFound, get_run


def _require_run(session, run_id: int) -> None:  # type: ignore[no-untyped-def]
    try:
        get_run(session, run_id)
    except RunNotFound as exc:
        raise CliError(str(exc)) from None


def report(
    run_id: int = typer.Argument(..., callback=db_id, help="The run whose report to write (RUN_ID)."),
    format: str | None = typer.Option(
        None,
        "--format",
        help="One of csv, json, xlsx (Excel: ids kept as text, a sheet per outcome group) or text (for "
        "people: a summary, then the records). Default: text at a terminal, else csv.",
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
    show_all: bool = typer.Option(
        False, "--all", help="With text: list every record, not only those that need attention."
    ),
    wide: bool = typer.Option(False, "--wide", help="With text: also print each record's evidence."),
) -> None:
    """One row per record of the set: mms_id,pid,expected_handle,alma_handle,outcome,verification,target_url,detail."""
    if format is None:
        format = "text" if output is None and sys.stdout.isatty() else "csv"
    if format not in FORMATS:
        raise CliError(f"--format must be csv, json, xlsx or text, not {format!r}")
    if format == "xlsx" and output is None and sys.stdout.isatty():
        raise CliError("an XLSX report is a file: give --output FILE.xlsx")
    config = settings()
    with session_scope(ready_database()) as session:
        _require_run(session, run_id)
        if format == "text":
            render.echo(report_view.report_lines(session, run_id, config, show_all=show_all, wide=wide))
            return
        rows = iter_rows(session=session, run_id=run_id, settings=config)
        writer = _writer(session, run_id, config, format)
        if output is None:
            writer(rows, sys.stdout.buffer if format == "xlsx" else sys.stdout)
            return
        partial = output.with_name(output.name + ".partial")
        try:
            with partial.open("wb" if format == "xlsx" else "w", **_text_mode(format)) as out:
                count = writer(rows, out)
            partial.replace(output)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CliError(f"{output}: {exc.strerror or exc}") from None
    err_console.print(f"{count} rows written to {output}", highlight=False, markup=False)


FORMATS = ("csv", "json", "xlsx", "text")


def _text_mode(format: str) -> dict[str, Any]:
    return {} if format == "xlsx" else {"encoding": "utf-8", "newline": ""}


def _writer(session: Any, run_id: int, config: Any, format: str) -> Callable[[Any, Any], int]:
    if format == "csv":
        return write_csv
    if format == "json":
        return write_json
    title = report_title(session, run_id, config.timezone())
    counts = current_counts(session, run_id)
    return lambda rows, out: write_xlsx(rows, out, title=title, run_id=run_id, counts=counts)


def register(app: typer.Typer) -> None:
    """Add ``report`` to ``app``."""
    app.command("report")(report)
