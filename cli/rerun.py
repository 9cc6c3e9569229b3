"""``handles rerun RUN_ID --outcome OUTCOME``: a child run of only the records with that outcome."""

from __future__ import annotations

import typer

from alma.errors import AlmaError
from cli.common import CliError, err_console, ready_database, settings
from cli.migrate import _alma, _alma_failure, _enqueue, follow
from pipeline.rerun import RerunRefused, start_rerun
from store.db import session_scope
from store.runs import RunNotFound


def rerun(
    run_id: int = typer.Argument(..., help="The run whose records to run again, e.g. 12."),
    outcome: str = typer.Option(
        ...,
        "--outcome",
        help="Run again only the records with this outcome: failed or unknown.",
    ),
) -> None:
    """Run again, as a child run, only the records of a run that have OUTCOME.

    The records go into a new itemized set in Alma; the child run on it is enqueued as `handles
    migrate` does, and the run's report shows the child's results once it has succeeded.
    """
    engine = ready_database()  # first: with no database here, that is the one thing to say
    s = settings()
    try:
        with session_scope(engine) as session:
            child, ids = start_rerun(
                session, run_id=run_id, outcome=outcome, alma=_alma(), profile_mode=s.alma_profile_mode
            )
            child_id, child_set = child.id, child.set_id
    except RunNotFound as exc:
        raise CliError(str(exc)) from None
    except RerunRefused as exc:
        raise CliError(str(exc), code=exc.code) from None
    except AlmaError as exc:
        raise _alma_failure(exc, f"making the set of run {run_id}'s {outcome} records") from None
    assert child_id is not None
    _enqueue(child_id)
    print(child_id, flush=True)
    err_console.print(
        f"run {child_id}: {len(ids)} {outcome} records of run {run_id} queued (set {child_set}); "
        f"follow it with `handles status {child_id}`",
        highlight=False,
        soft_wrap=True,
    )
    code = follow(child_id, wait=False)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("rerun")(rerun)
