"""``handles repair`` (dry run, ``--apply``) and ``handles restore``: metadata repairs with backups."""

from __future__ import annotations

import typer

from alma.errors import AlmaAuthError, AlmaError
from cli.common import CliError, db_id, ready_database, settings
from outcomes.repair_run import apply_repairs, conflicts, plan_repairs, restore_run
from pipeline.runs import create_run
from store.db import session_scope
from tasks.pipeline import enqueue_run
from workers import resources


def _alma():  # type: ignore[no-untyped-def]
    return resources.alma_client()


def _enqueue(run_id: int) -> None:
    try:
        enqueue_run(run_id)
    except Exception as exc:  # noqa: BLE001 - the run is recorded; the reaper starts it later
        print(
            f"child run {run_id} is recorded, but the task broker could not be reached ({exc}); "
            f"it starts when a worker and the broker are up"
        )


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def repair(
    run_id: int = typer.Argument(
        ..., help="the run whose malformed/missing identifiers to repair", callback=db_id
    ),
    apply: bool = typer.Option(
        False, "--apply", help="change the bibs (default: only show what would change)"
    ),
) -> None:
    """Show (dry run) or apply the repairs of malformed_identifier / missing_identifier records."""
    config = settings()
    try:
        with session_scope(ready_database()) as session:
            if apply:
                result = apply_repairs(
                    session=session, run_id=run_id, alma=_alma(), settings=config, create_child=create_run
                )
                items = result.items
            else:
                items = plan_repairs(session=session, run_id=run_id, alma=_alma(), settings=config)
            conflict_rows = [
                (r.mms_id, r.expected_handle, r.alma_handle, r.detail)
                for r in conflicts(session=session, run_id=run_id)
            ]
    except LookupError as exc:
        raise CliError(str(exc)) from None
    except AlmaAuthError as exc:  # names ALMA_API_KEY; nothing was changed with a refused key
        raise CliError(_one_line(exc)) from None
    except AlmaError as exc:
        raise CliError(
            f"Alma error during the repair (every bib changed so far is backed up; "
            f"`handles restore {run_id}` puts them back): {_one_line(exc)}"
        ) from None
    verb = "changed" if apply else "would change"
    for item in items:
        if item.will_change:
            print(f"{item.mms_id}\t{item.outcome}\t{verb}: {'; '.join(item.changes)}")
        else:
            print(f"{item.mms_id}\t{item.outcome}\tleft alone: {item.reason}")
    for mms_id, expected, held, detail in conflict_rows:
        print(
            f"{mms_id}\tconflict\tnot changed (for Ex Libris support or `handles repair-conflicts`): "
            f"Alma holds {held or '?'}, the metadata asks for {expected or '?'}; evidence: {detail or ''}"
        )
    count = sum(1 for i in items if i.will_change)
    if not apply:
        print(f"dry run: {count} bibs would be changed; run `handles repair {run_id} --apply` to change them")
        return
    print(
        f"{len(result.repaired)} bibs repaired (originals saved; `handles restore {run_id}` puts them back)"
    )
    if result.child_run_id is not None:
        print(f"child run {result.child_run_id} on new set {result.set_id}: migration → profile")
        _enqueue(result.child_run_id)


def restore(
    run_id: int = typer.Argument(..., help="the run whose repaired bibs to put back", callback=db_id),
    force: bool = typer.Option(False, "--force", help="also put back bibs edited in Alma since the repair"),
) -> None:
    """Put the backed-up original of every bib the repair changed back into Alma."""
    settings()
    try:
        with session_scope(ready_database()) as session:
            done = restore_run(session=session, run_id=run_id, alma=_alma(), force=force)
    except LookupError as exc:
        raise CliError(str(exc)) from None
    except AlmaError as exc:
        raise CliError(
            f"Alma error during the restore (bibs restored so far are recorded; run it again "
            f"to finish): {_one_line(exc)}"
        ) from None
    for item in done:
        print(f"{item.mms_id}\t{'restored' if item.restored else 'skipped'}\t{item.note}")
    print(f"{sum(i.restored for i in done)} bibs restored" if done else "nothing to restore")


def register(app: typer.Typer) -> None:
    """Add ``repair`` and ``restore`` to ``app``."""
    app.command("repair")(repair)
    app.command("restore")(restore)
