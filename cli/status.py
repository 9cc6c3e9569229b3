"""``handles status``: a run, the recent runs, or the regressions.

Its own module, apart from ``handles migrate``, so that the command scripts and tests call most
often does not import what enqueueing a run needs (the task modules, the worker presence check).
"""

from __future__ import annotations

import json
from typing import Any

import typer
from sqlalchemy import func
from sqlmodel import select

from cli import render, status_view
from cli.batches_view import batches_snapshot
from cli.common import CliError, db_id, ready_database, settings
from cli.records_view import is_problem
from handles.verify import regressions as find_regressions
from outcomes.current import current_counts, current_records
from pipeline.runs import get_run, recent_runs, run_steps
from store.db import session_scope
from store.models import EventLine
from store.runs import RunNotFound
from workers import resources


def snapshot(run_id: int) -> dict[str, Any]:
    """The run as ``handles status RUN_ID --json`` prints it (``migrate --wait`` follows it too)."""
    with session_scope(resources.engine()) as session:
        run = get_run(session, run_id)
        steps = run_steps(session, run_id)
        return {
            "run_id": run.id,
            "set_id": run.set_id,
            "set_name": run.set_name,
            "state": run.state,
            "parent_run_id": run.parent_run_id,
            "batch_no": run.batch_no,
            "batch_of": run.batch_of,
            "members": run.member_count,
            "wait_reason": _wait_reason(session, run_id, run.wait_reason),
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
                    "ended_via": s.ended_via,
                    "note": s.error,
                }
                for s in steps
            ],
            "outcomes": current_counts(session, run_id),
            "batches": batches_snapshot(session, run, resources.settings()),
        }


def _wait_reason(session: Any, run_id: int, reason: str | None) -> str | None:
    """The run's wait, unless what it waits for is done and the run has not looked again yet."""
    if (reason or "").startswith("waiting for the Events Report"):
        lines = session.exec(
            select(func.count()).select_from(EventLine).where(EventLine.run_id == run_id)
        ).one()
        if lines:
            return (
                f"the Events Report is imported ({lines} event lines); the run goes on at its next "
                f"check, within {settings().poll_max_seconds:g} seconds"
            )
    return reason


def status(
    run_id: int | None = typer.Argument(None, help="A run id; without it, the recent runs.", callback=db_id),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts instead of text."),
    regressions: bool = typer.Option(
        False,
        "--regressions",
        help="List handles that resolved correctly before and no longer do (exit 1 when there are any).",
    ),
    show_all: bool = typer.Option(
        False, "--all", help=f"List every record that needs attention, not only the first {render.LIMIT}."
    ),
    wide: bool = typer.Option(False, "--wide", help="Also print each record's evidence (Alma's message)."),
) -> None:
    """A run's state, each step's Alma job instance and status, and counts per outcome."""
    engine = ready_database()
    zone = settings().timezone()
    if regressions:
        raise typer.Exit(_regressions(engine, as_json, zone, show_all))
    if run_id is None:
        with session_scope(engine) as session:
            # a batch is shown with its parent (handles status PARENT), not among the runs
            runs = [r for r in recent_runs(session, limit=200) if r.batch_no is None][:20]
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
        render.echo(status_view.recent_lines(rows, zone))
        return
    try:
        snap = snapshot(run_id)
    except RunNotFound as exc:
        raise CliError(str(exc)) from None
    if as_json:
        print(json.dumps(snap, indent=2))
        return
    problems, total = _problems(run_id, show_all)
    render.echo(
        status_view.run_lines(
            snap, zone, problems=problems, problem_total=total, wide=wide, show_all=show_all
        )
    )


def _problems(run_id: int, show_all: bool) -> tuple[list[Any], int]:
    """The first records that need attention (all with ``show_all``), and how many there are."""
    shown: list[Any] = []
    total = 0
    with session_scope(resources.engine()) as session:
        for record in current_records(session, run_id):
            if is_problem(record):
                total += 1
                if show_all or len(shown) < render.LIMIT:
                    shown.append(record)
    return shown, total


def _regressions(engine: Any, as_json: bool, zone: Any, show_all: bool) -> int:
    """Print the regressions; 1 when there are any (for cron), else 0."""
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
    else:
        render.echo(status_view.regression_lines(rows, zone, show_all=show_all))
    return 1 if rows else 0


def register(app: typer.Typer) -> None:
    app.command("status")(status)
