"""Every repair command: ``handles repair`` (dry run, ``--apply``) and ``handles restore``
(metadata repairs with backups), and ``handles repair-conflicts`` (Handle server requests for
conflict records). The work is done in :mod:`outcomes.repair`."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import typer

from alma.errors import AlmaAuthError, AlmaError
from cli import render
from cli import requests as request_cli
from cli.common import CliError, db_id, err_console, ready_database, settings
from config.settings import Settings
from handles.server import HandleAuthError, HandleServerClient
from handles.verify import make_client
from outcomes.repair.conflicts import apply_conflict_repairs, conflicts, plan_conflict_repairs
from outcomes.repair.metadata import apply_repairs, plan_repairs
from outcomes.repair.restore import registered_handles, restore_run
from outcomes.repair.support_case import build_support_case, write_support_case
from pipeline.runs import create_run
from store.db import session_scope
from store.runs import RunNotFound
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
        ..., callback=db_id, help="The run whose malformed/missing identifiers to repair."
    ),
    apply: bool = typer.Option(
        False, "--apply", help="Change the bibs (default: only show what would change)."
    ),
) -> None:
    """Show (dry run) or apply the repairs of malformed_identifier / missing_identifier records."""
    config = settings()
    try:
        with session_scope(ready_database()) as session:
            if apply:
                result = apply_repairs(
                    session=session,
                    run_id=run_id,
                    alma=_alma(),
                    settings=config,
                    create_child=functools.partial(create_run, profile_mode=config.alma_profile_mode),
                )
                items = result.items
            else:
                items = plan_repairs(session=session, run_id=run_id, alma=_alma(), settings=config)
            conflict_rows = [
                (r.mms_id, r.expected_handle, r.alma_handle, r.detail)
                for r in conflicts(session=session, run_id=run_id)
            ]
    except RunNotFound as exc:
        raise CliError(str(exc)) from None
    except AlmaAuthError as exc:  # names ALMA_API_KEY; nothing was changed with a refused key
        raise CliError(_one_line(exc)) from None
    except AlmaError as exc:
        raise CliError(
            f"Alma error during the repair: {_one_line(exc)}. Alma may or may not have taken the "
            f"change; `handles restore {run_id}` checks and puts it back if it did (every bib "
            f"is backed up before it is sent)"
        ) from None
    verb = "changed" if apply else "would change"
    lines: list[str] = []
    for item in items:
        lines.append(f"{item.mms_id}  {item.outcome}")
        text = f"{verb}: {'; '.join(item.changes)}" if item.will_change else f"left alone: {item.reason}"
        lines += render.wrapped(text, max_lines=None)
    for mms_id, expected, held, detail in conflict_rows:
        lines.append(f"{mms_id}  conflict")
        lines += render.wrapped(
            f"not changed (for Ex Libris support or `handles repair-conflicts {run_id}`): Alma holds "
            f"{held or '?'}, the metadata asks for {expected or '?'}",
            max_lines=None,
        )
        lines += render.wrapped(f"evidence: {detail or ''}", max_lines=2)
    render.echo(lines)
    count = sum(1 for i in items if i.will_change)
    if not apply:
        render.echo(
            render.wrapped(
                f"dry run: {count} bibs would be changed; run `handles repair {run_id} --apply` to change them",
                indent="",
                max_lines=None,
            )
        )
        return
    render.echo(
        render.wrapped(
            f"{len(result.repaired)} bibs repaired (originals saved; `handles restore {run_id}` puts them back)",
            indent="",
            max_lines=None,
        )
    )
    if result.child_run_id is not None:
        print(f"child run {result.child_run_id} on new set {result.set_id}: migration → profile")
        _enqueue(result.child_run_id)


def restore(
    run_id: int = typer.Argument(..., callback=db_id, help="The run whose repaired bibs to put back."),
    force: bool = typer.Option(False, "--force", help="Also put back bibs edited in Alma since the repair."),
) -> None:
    """Put the original record back into every bib where Alma holds the repair (checked
    in Alma, not from a flag); edits made outside the record since are kept."""
    config = settings()
    try:
        with session_scope(ready_database()) as session:
            done = restore_run(session=session, run_id=run_id, alma=_alma(), force=force)
            registered = registered_handles(session=session, run_id=run_id)
    except RunNotFound as exc:
        raise CliError(str(exc)) from None
    except AlmaError as exc:
        raise CliError(
            f"Alma error during the restore (bibs restored so far are recorded; run it again "
            f"to finish): {_one_line(exc)}"
        ) from None
    for item in done:
        render.echo(
            [f"{item.mms_id}  {'restored' if item.restored else 'skipped'}", *render.wrapped(item.note)]
        )
    print(f"{sum(i.restored for i in done)} bibs restored" if done else "nothing to restore")
    _registered(registered, config.has_own_handle_server)


def _registered(handles: list[tuple[str, str]], own_server: bool) -> None:
    """What restoring the metadata does not undo: handles the repair's child run registered."""
    if not handles:
        return
    print(f"\n{len(handles)} handle(s) the repair's child run registered still resolve:")
    print("restoring the metadata does not remove a handle Alma already registered.")
    for mms_id, handle in handles:
        print(f"{mms_id}\t{handle}")
    if own_server:
        print("To remove one from your Handle server: handles request delete HANDLE --yes")
    else:
        print("Ex Libris hosts your handles: ask them in a support case to remove these.")


def repair_conflicts(
    run_id: int = typer.Argument(
        ..., metavar="RUN_ID", callback=db_id, help="The run whose conflict records to repair."
    ),
    apply: bool = typer.Option(False, "--apply", help="Queue the requests (without it: a dry run)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts instead of text."),
    output: Path | None = typer.Option(
        None,
        "--output",
        metavar="DIR",
        help="Where the support-case files go when HANDLE_SERVER_URL=none "
        "(default: ./handles-support-case-run-RUN_ID/).",
    ),
) -> None:
    """Show (dry run) or queue the Handle server requests that make each conflict record's
    expected handle resolve to the record's target. With HANDLE_SERVER_URL=none (Ex Libris
    hosts your handles), write a support case for Ex Libris instead."""

    config = settings()
    if not config.has_own_handle_server:
        support_case(run_id, config, output or Path(f"handles-support-case-run-{run_id}"), as_json)
        return
    engine = ready_database()
    with HandleServerClient.from_settings(config) as client, session_scope(engine) as session:
        try:
            items = plan_conflict_repairs(session=session, run_id=run_id, client=client, settings=config)
        except RunNotFound as exc:
            raise CliError(str(exc)) from None
        except HandleAuthError as exc:  # nothing queued: every handle would be refused alike
            raise CliError(
                f"the Handle server refused our credentials ({exc}): check HANDLE_SERVER_AUTH_ID and "
                "HANDLE_SERVER_SECRET (or HANDLE_SERVER_CERT and HANDLE_SERVER_KEY)"
            ) from None
        queued = (
            apply_conflict_repairs(session=session, run_id=run_id, items=items, settings=config)
            if apply
            else []
        )
    sent = (request_cli.enqueue_request(int(r.id)) for r in queued if r.status == "queued")  # type: ignore[arg-type]
    warnings = [w for w in sent if w]
    if as_json:
        print(
            json.dumps({"run_id": run_id, "applied": apply, "items": [i.as_dict() for i in items]}, indent=2)
        )
    else:
        verb = "queued" if apply else "would queue"
        lines: list[str] = []
        for i in items:
            shown = i.action if i.action not in ("create", "update") else f"{verb} {i.action}"
            extra = f" request {i.request_id}" if i.request_id else ""
            lines.append(f"{i.mms_id}  {i.expected_handle or '-'}  {shown}{extra}")
            lines += render.wrapped(f"Alma holds {i.alma_handle or '-'}", max_lines=None)
            lines += render.wrapped(i.reason, max_lines=2)
        todo = sum(i.action in ("create", "update") for i in items)
        lines += render.wrapped(
            f"{len(items)} conflict record(s); {todo} request(s) {verb}, each to its record's target "
            "(HANDLE_TARGET_TEMPLATE; --json shows the URLs)"
            + ("" if apply or not todo else "; run again with --apply to queue them"),
            indent="",
            max_lines=None,
        )
        render.echo(lines)
    if warnings:
        err_console.print(f"handles: warning: {warnings[0]}", markup=False)


def support_case(run_id: int, config: Settings, directory: Path, as_json: bool) -> None:
    """``repair-conflicts`` without a Handle server of one's own: the files for an Ex Libris case."""
    if directory.exists() and not directory.is_dir():
        raise CliError(f"--output {directory} is a file, not a directory")
    try:
        with session_scope(ready_database()) as session:
            case = build_support_case(
                session=session,
                run_id=run_id,
                alma=_alma(),
                settings=config,
                resolver=functools.partial(make_client, config),
            )
    except RunNotFound as exc:
        raise CliError(str(exc)) from None
    if not case.rows:
        print(f"run {run_id} has no conflict records: no support case to write")
        return
    try:
        csv_path, text_path = write_support_case(case, directory)
    except OSError as exc:
        raise CliError(f"cannot write the support case in {directory}: {exc.strerror or exc}") from None
    if as_json:
        rows = [r.as_dict() for r in case.rows]
        print(json.dumps({"run_id": run_id, "csv": str(csv_path), "text": str(text_path), "items": rows}))
        return
    print(f"{len(case.rows)} conflict record(s). HANDLE_SERVER_URL=none: Ex Libris hosts your")
    print("handles, so only Ex Libris can fix these. Support case written:")
    print(f"  attach to the case:  {csv_path}")
    print(f"  paste into the case: {text_path}")
    if case.title_problem:
        print(f"titles could not be read from Alma ({case.title_problem}); the rest is complete")


def register(app: typer.Typer) -> None:
    """Add ``repair``, ``restore`` and ``repair-conflicts`` to ``app``."""
    app.command("repair")(repair)
    app.command("restore")(restore)
    app.command("repair-conflicts")(repair_conflicts)
