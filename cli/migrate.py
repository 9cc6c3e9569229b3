"""``handles migrate``, ``handles status``, ``handles confirm``."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import typer
from rich.live import Live
from rich.table import Table

from alma.errors import AlmaAuthError, AlmaError, AlmaTransportError
from cli.common import CliError, console, err_console, ready_database, settings
from config.celery import broker_reachable, broker_url
from config.redact import mask_url
from handles.verify import regressions as find_regressions
from outcomes.next_steps import next_step_lines
from pipeline.errors import PipelineError
from pipeline.open_runs import SetHasOpenRun, force_notice, start_run
from pipeline.runs import (
    check_set,
    get_run,
    outcome_counts,
    recent_runs,
    run_steps,
    validate_set_id,
)
from pipeline.steps import confirm_operator
from store.db import session_scope
from store.runs import RunNotFound
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
    _check_broker(s, set_id)
    try:
        info = check_set(_alma(), set_id)
    except PipelineError as exc:
        raise CliError(str(exc)) from None
    except AlmaError as exc:
        raise _alma_failure(exc, f"reading set {set_id}") from None
    engine = ready_database()
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


def _snapshot(run_id: int) -> dict[str, Any]:
    with session_scope(resources.engine()) as session:
        run = get_run(session, run_id)
        steps = run_steps(session, run_id)
        return {
            "run_id": run.id,
            "set_id": run.set_id,
            "set_name": run.set_name,
            "state": run.state,
            "parent_run_id": run.parent_run_id,
            "members": run.member_count,
            "wait_reason": run.wait_reason,
            "error": run.error,
            "created_at": run.created_at.isoformat(timespec="seconds") + "Z",
            "finished_at": run.finished_at.isoformat(timespec="seconds") + "Z" if run.finished_at else None,
            "steps": [
                {
                    "step": s.kind,
                    "status": s.status,
                    "alma_job_id": s.alma_job_id,
                    "instance_id": s.instance_id,
                    "alma_status": s.alma_status,
                    "progress": s.progress,
                    "counters": s.counters or {},
                    "submitted_at": s.submitted_at.isoformat(timespec="seconds") + "Z"
                    if s.submitted_at
                    else None,
                    "ended_at": s.ended_at.isoformat(timespec="seconds") + "Z" if s.ended_at else None,
                    "note": s.error,
                }
                for s in steps
            ],
            "outcomes": outcome_counts(session, run_id),
        }


def _run_table(snap: dict[str, Any]) -> Table:
    title = f"run {snap['run_id']} · set {snap['set_id']} ({snap['set_name'] or '?'}) · {snap['state']}"
    table = Table(title=title, title_justify="left")
    for col in ("step", "status", "Alma job", "instance", "Alma status", "progress"):
        table.add_column(col, no_wrap=True)
    for s in snap["steps"]:
        table.add_row(
            s["step"],
            s["status"],
            s["alma_job_id"] or "",
            s["instance_id"] or "",
            s["alma_status"] or "",
            f"{s['progress']}%" if s["instance_id"] else "",
        )
    notes = [f"{s['step']}: {s['note']}" for s in snap["steps"] if s["note"]]
    if snap["outcomes"]:
        notes.insert(0, "outcomes: " + ", ".join(f"{k} {v}" for k, v in snap["outcomes"].items()))
    table.caption = "\n".join(notes) or None
    if snap["wait_reason"] and snap["state"] not in ("succeeded", "failed"):
        table.caption = (table.caption + "\n" if table.caption else "") + snap["wait_reason"]
    if snap["error"]:
        table.caption = (table.caption + "\n" if table.caption else "") + f"error: {snap['error']}"
    table.caption_justify = "left"
    return table


def watch(run_id: int, *, interval: float = 1.0) -> int:
    """Show the run's progress until it ends; 0 when it succeeded, 1 when a step failed."""
    if sys.stderr.isatty():
        with Live(_run_table(_snapshot(run_id)), console=err_console, refresh_per_second=4) as live:
            while True:
                snap = _snapshot(run_id)
                live.update(_run_table(snap))
                if snap["state"] in ("succeeded", "failed"):
                    break
                time.sleep(interval)
    else:
        last = None
        while True:
            snap = _snapshot(run_id)
            line = "; ".join(
                f"{s['step']} {s['status']}" + (f" {s['progress']}%" if s["status"] == "running" else "")
                for s in snap["steps"]
            )
            line = f"run {run_id} {snap['state']}: {line}" + (
                f" ({snap['wait_reason']})" if snap["wait_reason"] else ""
            )
            if line != last:
                err_console.print(line, highlight=False, soft_wrap=True)
                last = line
            if snap["state"] in ("succeeded", "failed"):
                break
            time.sleep(interval)
    if snap["state"] == "failed":
        err_console.print(f"handles: run {run_id} failed: {snap['error']}", highlight=False, soft_wrap=True)
        return 1
    counts = ", ".join(f"{k} {v}" for k, v in snap["outcomes"].items()) or "no records"
    err_console.print(f"run {run_id} succeeded: {counts}", highlight=False)
    return 0


def status(
    run_id: int | None = typer.Argument(None, help="A run id; without it, the recent runs."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    regressions: bool = typer.Option(
        False, "--regressions", help="List handles that resolved correctly before and no longer do."
    ),
) -> None:
    """A run's state, each step's Alma job instance and status, and counts per outcome."""
    engine = ready_database()
    if regressions:
        _regressions(engine, as_json)
        return
    if run_id is None:
        with session_scope(engine) as session:
            runs = recent_runs(session)
            rows = [
                {
                    "run_id": r.id,
                    "set_id": r.set_id,
                    "set_name": r.set_name,
                    "state": r.state,
                    "parent_run_id": r.parent_run_id,
                    "created_at": r.created_at.isoformat(timespec="seconds") + "Z",
                    "wait_reason": r.wait_reason,
                    "error": r.error,
                }
                for r in runs
            ]
        if as_json:
            print(json.dumps(rows, indent=2))
            return
        table = Table(title="recent runs", title_justify="left")
        for col in ("run", "set", "name", "state", "created (UTC)", "note"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                str(r["run_id"]),
                str(r["set_id"]),
                str(r["set_name"] or ""),
                str(r["state"]),
                str(r["created_at"]),
                str(r["error"] or r["wait_reason"] or ""),
            )
        console.print(table)
        return
    try:
        snap = _snapshot(run_id)
    except RunNotFound as exc:
        raise CliError(str(exc)) from None
    if as_json:
        print(json.dumps(snap, indent=2))
    else:
        console.print(_run_table(snap))
        for line in next_step_lines(snap["outcomes"], run_id):
            console.print(line, highlight=False, markup=False, soft_wrap=True)


def _regressions(engine: Any, as_json: bool) -> None:
    with session_scope(engine) as session:
        rows = [
            {
                "handle": c.handle,
                "mms_id": c.mms_id,
                "checked_at": c.checked_at.isoformat(timespec="seconds") + "Z",
                "verification": c.verification,
                "target": c.target,
                "detail": c.detail,
            }
            for c in find_regressions(session)
        ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("no regressions: every handle that resolved correctly still does")
        return
    table = Table(title="regressions (ok before, not ok now)", title_justify="left")
    for col in ("handle", "mms_id", "checked (UTC)", "now", "target", "detail"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["handle"],
            r["mms_id"] or "",
            r["checked_at"],
            r["verification"],
            r["target"] or "",
            r["detail"] or "",
        )
    console.print(table)


def confirm(run_id: int = typer.Argument(..., help="The run waiting for the operator.")) -> None:
    """(Operator mode) Say that the profile was run in Alma's UI; the run goes on.

    Also goes on without the Events Report when a run waits for it (see `handles status RUN_ID`).
    """
    engine = ready_database()
    try:
        with session_scope(engine) as session:
            what = confirm_operator(session, run_id)
    except PipelineError as exc:
        raise CliError(str(exc)) from None
    console.print(f"run {run_id}: confirmed ({what}); the run goes on at its next check")


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)
    app.command("status")(status)
    app.command("confirm")(confirm)
