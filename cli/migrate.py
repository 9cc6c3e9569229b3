"""``handles migrate`` and ``handles confirm`` (``handles status`` is in :mod:`cli.status`)."""

from __future__ import annotations

import sys
import time
from typing import Any

import typer
from rich.live import Live
from rich.text import Text

from alma.errors import AlmaAuthError, AlmaError, AlmaTransportError
from cli import render, status_view
from cli.batches_view import parse_batch_size, plan_lines, set_size
from cli.common import CliError, db_id, err_console, ready_database, settings
from cli.status import snapshot
from config.celery import broker_reachable, broker_url
from config.redact import mask_url
from pipeline.errors import PipelineError
from pipeline.open_runs import SetHasOpenRun, force_notice, start_run
from pipeline.runs import check_set, validate_set_id
from pipeline.steps import confirm_operator
from store.db import session_scope
from tasks.pipeline import enqueue_run
from tasks.presence import workers_answering
from workers import resources


def _alma():  # type: ignore[no-untyped-def]
    return resources.alma_client()


def _alma_failure(exc: Exception, what: str) -> CliError:
    s = settings()
    if isinstance(exc, AlmaTransportError):
        return CliError(f"cannot reach Alma at {mask_url(s.alma_api_base_url)} while {what}: {exc}")
    if isinstance(exc, AlmaAuthError):
        return CliError(f"Alma refused the API key while {what} (check ALMA_API_KEY and its permissions)")
    return CliError(f"Alma error while {what}: {exc}")


def migrate(
    set_id: str = typer.Argument(..., help="The Alma set id (digits), e.g. 7593466560004641."),
    wait: bool = typer.Option(False, "--wait", help="Show progress until the run ends."),
    skip_copy: bool = typer.Option(
        False,
        "--skip-copy",
        help="Skip step 1 (Copy dcterms to dc:identifier) when every record already has its handle in "
        "dc:identifier; otherwise the copy runs anyway and the run says why.",
    ),
    batch_size: str | None = typer.Option(
        None,
        "--batch-size",
        metavar="N",
        help="Run the set as itemized batches of at most N records, each its own copy → migration → "
        "profile (default: ALMA_BATCH_SIZE, else the whole set at once). The plan is printed first.",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Start even though the set has an open run: that run is marked failed and its steps not "
        "yet submitted are not submitted (refused while one of its jobs is running in Alma).",
    ),
) -> None:
    """Enqueue the three-step migration of an Alma set and print the run id.

    Steps, in this order only: Copy dcterms to dc:identifier → Handle Migration → the Persistent Handle
    Identifiers profile (Create and Update), then every handle is verified. The set is checked first:
    an unknown, empty or non-title set is refused and no job is submitted.
    """
    s = settings()
    try:
        set_id = validate_set_id(set_id)
    except PipelineError as exc:
        raise CliError(str(exc), code=2) from None
    size = parse_batch_size(batch_size, s.alma_batch_size)
    _check_broker(s, set_id)
    try:
        info = check_set(_alma(), set_id)
    except PipelineError as exc:
        raise CliError(str(exc)) from None
    except AlmaError as exc:
        raise _alma_failure(exc, f"reading set {set_id}") from None
    engine = ready_database()
    size = _batch_plan(engine, s, info, size, skip_copy)
    try:
        with session_scope(engine) as session:
            notice = force_notice(session, set_id) if force else None
            if notice:
                err_console.print(f"handles: {notice}", highlight=False, soft_wrap=True)
            run, _ = start_run(
                session,
                set_id=set_id,
                force=force,
                skip_copy=skip_copy,
                profile_mode=s.alma_profile_mode,
                set_name=info.get("name"),
                batch_size=size,
            )
            run_id = run.id
    except SetHasOpenRun as exc:
        raise CliError(str(exc)) from None
    assert run_id is not None
    _enqueue(run_id)
    print(run_id, flush=True)
    err_console.print(f"run {run_id}: set {set_id} ({info.get('name')}) queued", highlight=False)
    code = follow(run_id, wait=wait)
    if code:
        raise typer.Exit(code)


def say_if_no_worker(run_id: int) -> None:
    """One line when no worker answers: the run stays queued until one comes."""
    if workers_answering(timeout=2.0) == 0:
        err_console.print(
            f"handles: no worker is running: start `celery -A workers.app worker`; run {run_id} "
            "stays queued and starts when a worker comes",
            highlight=False,
            soft_wrap=True,
        )


def follow(run_id: int, *, wait: bool) -> int:
    """After enqueueing: the no-worker line, then (``--wait``) :func:`watch`.

    Ctrl-C from here on leaves the run going: one line says so and how to follow it (exit 130).
    """
    try:
        say_if_no_worker(run_id)
        return watch(run_id) if wait else 0
    except KeyboardInterrupt:
        err_console.print(
            f"handles: stopped watching; run {run_id} goes on: follow it with `handles status {run_id}`",
            highlight=False,
            soft_wrap=True,
        )
        return 130


def _batch_plan(engine: Any, s: Any, info: dict[str, Any], size: int | None, skip_copy: bool) -> int | None:
    """Print the plan before the first job; the batch size to use (None: the set runs as one)."""
    if size is None:
        return None
    records = set_size(info)
    if records <= size:
        err_console.print(
            f"the set has {records:,} records, no more than --batch-size {size}: it runs as one",
            highlight=False,
        )
        return None
    for line in plan_lines(engine, s, records=records, batch_size=size, skip_copy=skip_copy):
        err_console.print(line, highlight=False, soft_wrap=True)
    return size


def _check_broker(s: Any, set_id: str) -> None:
    """Refuse before recording a run that no worker could be sent (it would start unexpectedly later)."""

    url = broker_url(s)
    if not broker_reachable(url, timeout=2.0):
        raise CliError(
            f"the task broker {mask_url(url)} cannot be reached (CELERY_BROKER_URL): no run recorded; "
            f"start it and run 'handles migrate {set_id}' again"
        )


def _enqueue(run_id: int) -> None:
    try:
        enqueue_run(run_id)
    except Exception as exc:  # noqa: BLE001 - the broker is down: the run is kept, the reaper resumes it
        raise CliError(
            f"run {run_id} is recorded, but the task broker could not be reached ({exc}); "
            f"it starts when a worker and the broker are up"
        ) from None


def _run_table(snap: dict[str, Any]) -> Text:
    """The run as ``handles status RUN_ID`` shows it (without the records), for the live view."""
    return Text("\n".join(status_view.run_lines(snap, settings().timezone())))


def watch(run_id: int, *, interval: float = 1.0) -> int:
    """Show the run's progress until it ends; 0 when it succeeded, 1 when a step failed."""
    if sys.stderr.isatty():
        with Live(_run_table(snapshot(run_id)), console=err_console, refresh_per_second=4) as live:
            while True:
                snap = snapshot(run_id)
                live.update(_run_table(snap))
                if snap["state"] in ("succeeded", "failed"):
                    break
                time.sleep(interval)
    else:
        last = None
        while True:
            snap = snapshot(run_id)
            line = status_view.progress_line(snap)
            if line != last:
                render.echo(line, err=True)
                last = line
            if snap["state"] in ("succeeded", "failed"):
                break
            time.sleep(interval)
    if snap["state"] == "failed":
        render.echo(f"handles: run {run_id} failed: {snap['error']}", err=True)  # one line, as every error
        return 1
    counts = ", ".join(f"{k} {v}" for k, v in snap["outcomes"].items()) or "no records"
    render.echo(render.wrapped(f"run {run_id} succeeded: {counts}", indent="", max_lines=None), err=True)
    return 0


def confirm(
    run_id: int = typer.Argument(..., help="The run waiting for the operator.", callback=db_id),
) -> None:
    """(Operator mode) Say that the profile was run in Alma's UI; the run goes on.

    Also goes on without the Events Report when a run waits for it (see `handles status RUN_ID`).
    """
    engine = ready_database()
    try:
        with session_scope(engine) as session:
            what = confirm_operator(session, run_id)
    except PipelineError as exc:
        raise CliError(str(exc)) from None
    render.echo(f"run {run_id}: confirmed ({what}); the run goes on at its next check")


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)
    app.command("confirm")(confirm)
