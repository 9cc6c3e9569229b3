"""``handles events import``: an Events Report exported from Alma's UI, read into a run."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import CliError, db_id, ready_database, settings
from outcomes.classify import classify_run
from outcomes.events.read import EventsFileError
from outcomes.events.store import import_file
from store.db import session_scope
from store.runs import RunNotFound, get_run

events_app = typer.Typer(help="Events Reports exported from Alma's UI.", no_args_is_help=True)


@events_app.command("import")
def events_import(
    run_id: int = typer.Argument(..., callback=db_id, help="The run the Events Report belongs to (RUN_ID)."),
    file: Path = typer.Argument(
        ..., help="The Events Report: CSV (any delimiter), XLSX, or the text copied from the page."
    ),
) -> None:
    """Read an Events Report exported from Alma's UI into the run's outcomes (re-importing changes nothing).

    The file is one of the three formats, chosen from its content, or refused in one line; so is a
    report whose events fall outside this run's migration (dates read in HANDLES_TIMEZONE), and
    nothing is stored from a refused file.
    """
    if file.is_dir():
        raise CliError(f"{file} is a directory, not an Events Report file")
    if not file.is_file():
        raise CliError(f"{file}: no such file")
    config = settings()
    try:
        with session_scope(ready_database()) as session:
            get_run(session, run_id)
            summary = import_file(session=session, run_id=run_id, path=file, zone=config.timezone())
            if summary.lines and summary.not_in_set == summary.lines:
                raise CliError(
                    f"{file}: none of its {summary.lines} event lines is about a record of run "
                    f"{run_id} (first: {', '.join(summary.not_in_set_sample)}); nothing imported"
                )
            counts = classify_run(session=session, run_id=run_id, settings=config)
    except RunNotFound as exc:
        raise CliError(str(exc)) from None
    except EventsFileError as exc:
        raise CliError(f"{file}: {exc}; nothing imported") from None
    print(summary.describe())
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


def register(app: typer.Typer) -> None:
    """Add the ``events`` group to ``app``."""
    app.add_typer(events_app, name="events")
