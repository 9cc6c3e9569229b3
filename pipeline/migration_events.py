"""The migration's events: read from Alma's API where it serves them, else waited for.

Alma's Handle Migration says which records it skipped only in its events ("does not have a handle
identifier"); without them the profile would mint sequential handles for those records. Alma's
events API refuses every job but USERS/SIS (60332), so the events usually come from the Events
Report a person exports from Alma's UI (``handles events import``). Here: reading them by API once
per run (:func:`ingest_api_events`), remembering a refusal for a day so that later runs do not ask
again (:func:`events_refused`), and the hold before step 3 when the migration reports exceptions
and no events are known (:func:`events_hold_reason`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from alma.errors import AlmaEventsUnsupported
from pipeline.context import PipelineContext
from store.db import session_scope
from store.models import EventLine, Step, StepKind
from store.runs import get_run, step_of

log = logging.getLogger("handles.pipeline")

__all__ = [
    "EVENTS_REFUSED",
    "events_hold_reason",
    "events_refused",
    "exceptions_reported",
    "ingest_api_events",
]

# the migration step's note when Alma refuses its events by API; also how a refusal is remembered
EVENTS_REFUSED = "events: Alma does not serve them by API (60332)"
# 60332 is a property of the job's type: one refusal is believed for a day, then Alma is asked again
EVENTS_REFUSAL_KEPT = timedelta(days=1)


def _refused_note(instance_id: str, run_id: int) -> str:
    return (
        f"{EVENTS_REFUSED}; export the Events Report of instance {instance_id} from Alma's UI and "
        f"run `handles events import {run_id} FILE`"
    )


def _events_refused_lately(session: Session, job_id: str, now: datetime) -> bool:
    """Whether Alma refused the events of job ``job_id`` (60332) for a migration that ended lately."""
    query = (
        select(Step.id)
        .where(
            col(Step.kind) == StepKind.MIGRATION,
            col(Step.alma_job_id) == job_id,
            col(Step.error).startswith(EVENTS_REFUSED),
            col(Step.ended_at) >= now - EVENTS_REFUSAL_KEPT,
        )
        .limit(1)
    )
    return session.exec(query).first() is not None


def _note_events(ctx: PipelineContext, run_id: int, note: str) -> None:
    with session_scope(ctx.engine) as session:
        step = step_of(session, run_id, StepKind.MIGRATION)
        step.error = note
        session.add(step)


def ingest_api_events(ctx: PipelineContext, run_id: int) -> str:
    """Store the migration's event lines from Alma's events API, once per run.

    What happened is kept as the migration step's note (shown by ``handles status``): the events
    read, or, where Alma refuses (60332), how to import the Events Report exported from its UI.
    Alma is not asked when it refused the same job's events for another run within the last day.
    """
    from outcomes.events.store import import_api_events

    with session_scope(ctx.engine) as session:
        step = step_of(session, run_id, StepKind.MIGRATION)
        job_id, instance_id, note = step.alma_job_id, step.instance_id, step.error
        if note and note.startswith("events"):
            return note
        if not (job_id and instance_id):
            return "no migration instance to read events from"
        known_refused = _events_refused_lately(session, job_id, ctx.now())
    summary = None
    if not known_refused:
        with session_scope(ctx.engine) as session:
            summary = import_api_events(
                session=session,
                run_id=run_id,
                alma=ctx.alma,
                job_id=job_id,
                instance_id=instance_id,
                step_kind=StepKind.MIGRATION.value,
            )
    if summary is None:
        note = _refused_note(instance_id, run_id)
    else:
        note = f"events: read from Alma's API: {summary.describe()}"
    _note_events(ctx, run_id, note)
    return note


def events_refused(ctx: PipelineContext, run_id: int, job_id: str, instance_id: str) -> bool:
    """While the migration runs: whether Alma will not serve its events (then noted on the step).

    Asks Alma (one call) only when no refusal for this job is remembered; events it does serve are
    not read here: they are read once the migration has ended.
    """
    with session_scope(ctx.engine) as session:
        known = _events_refused_lately(session, job_id, ctx.now())
    if not known:
        try:
            next(iter(ctx.alma.iter_events(job_id, instance_id)), None)
        except AlmaEventsUnsupported:
            known = True
    if known:
        _note_events(ctx, run_id, _refused_note(instance_id, run_id))
    return known


def exceptions_reported(counters: dict[str, Any]) -> int:
    """How many records Alma's counters say failed ("Records with exceptions", "…failed")."""
    total = 0
    for name, value in (counters or {}).items():
        if any(word in name.lower() for word in ("exception", "fail", "error")):
            try:
                total += int(str(value).strip() or 0)
            except ValueError:
                continue
    return total


def events_hold_reason(ctx: PipelineContext, run_id: int) -> str | None:
    """Why step 3 must wait for the Events Report, or None.

    When the migration reports records with exceptions and Alma does not serve its events by API,
    nothing tells which records failed; the profile would mint sequential handles for them. So the
    run waits until the Events Report exported from Alma's UI is imported (it then goes on by
    itself), or until the operator says to go on without it (``handles confirm``).
    """
    with session_scope(ctx.engine) as session:
        run = get_run(session, run_id)
        migration = step_of(session, run_id, StepKind.MIGRATION)
        failed = exceptions_reported(migration.counters)
        if failed == 0 or run.events_waived_at is not None:
            return None
        instance_id = migration.instance_id
    ingest_api_events(ctx, run_id)
    with session_scope(ctx.engine) as session:
        if session.exec(select(EventLine.id).where(EventLine.run_id == run_id)).first() is not None:
            return None
    return (
        f"waiting for the Events Report: the migration (instance {instance_id}) reports {failed} record(s) "
        f"with exceptions and Alma does not serve its events by API; without them the profile would give "
        f"those records sequential handles. Export the migration's Events Report from Alma and run "
        f"`handles events import {run_id} FILE` (the run then goes on by itself), or "
        f"`handles confirm {run_id}` to go on without it."
    )
