"""The set the profile runs on: the run's set less the records the migration could not take.

The Persistent Handle Identifiers profile, run with "Create and Update", mints a new sequential
handle (``11084/1742400039``) for every record that has no handle identifier in Alma. A record the
migration skipped ("does not have a handle identifier") would therefore leave step 3 with a handle
nobody asked for, and its real handle could then never be migrated: the seed-000 problem. So before
step 3, records whose metadata Alma could not use are left out of the profile's set, and kept for
``handles repair``, whose child run migrates them once their metadata is right. Records preflight
kept out of every job (:mod:`pipeline.holdout`: duplicate handles, not Dublin Core) stay out of it
too; when nothing more is left out, the profile runs on the run's jobs set.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import col, select

from pipeline.context import PipelineContext
from pipeline.holdout import held_out_records
from pipeline.preflight import read_metadata
from store.db import session_scope
from store.models import EventLine, Record, StepKind, utcnow
from store.runs import get_run, step_of

log = logging.getLogger("handles.pipeline")

__all__ = [
    "events_hold_reason",
    "exceptions_reported",
    "excluded_records",
    "ingest_api_events",
    "prepare_profile_set",
]

EXCLUDING_EVENTS = ("no_handle", "failed")


def ingest_api_events(ctx: PipelineContext, run_id: int) -> str:
    """Store the migration's event lines from Alma's events API, once per run.

    What happened is kept as the migration step's note (shown by ``handles status``): the events
    read, or, where Alma refuses (60332), how to import the Events Report exported from its UI.
    """
    from outcomes.events.store import import_api_events

    with session_scope(ctx.engine) as session:
        step = step_of(session, run_id, StepKind.MIGRATION)
        job_id, instance_id, note = step.alma_job_id, step.instance_id, step.error
    if note and note.startswith("events"):
        return note
    if not (job_id and instance_id):
        return "no migration instance to read events from"
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
        note = (
            f"events: Alma does not serve them by API (60332); export the Events Report of instance "
            f"{instance_id} from Alma's UI and run `handles events import {run_id} FILE`"
        )
    else:
        note = f"events: read from Alma's API: {summary.describe()}"
    with session_scope(ctx.engine) as session:
        step = step_of(session, run_id, StepKind.MIGRATION)
        step.error = note
        session.add(step)
    return note


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


def _refresh_flagged(ctx: PipelineContext, run_id: int) -> None:
    """Re-read the bibs preflight flagged: the copy job has changed them since."""
    with session_scope(ctx.engine) as session:
        flagged = [
            r.mms_id
            for r in session.exec(
                select(Record).where(Record.run_id == run_id, col(Record.metadata_problem).is_not(None))
            )
        ]
    settings = ctx.settings
    for start in range(0, len(flagged), 100):
        chunk = flagged[start : start + 100]
        bibs = {b.mms_id: b for b in ctx.alma.get_bibs(chunk)}
        with session_scope(ctx.engine) as session:
            for record in session.exec(
                select(Record).where(Record.run_id == run_id, col(Record.mms_id).in_(chunk))
            ):
                bib = bibs.get(record.mms_id)
                if bib is None:
                    continue
                meta = read_metadata(bib, settings.handle_prefix, settings.handle_pid_pattern)
                record.metadata_problem = meta["problem"]
                record.expected_handle = meta["expected_handle"] or record.expected_handle
                record.updated_at = utcnow()
                session.add(record)


def excluded_records(session: Any, run_id: int) -> dict[str, str]:
    """MMS id → why the record is left out of the profile's set."""
    held = held_out_records(session, run_id)
    excluded = {
        r.mms_id: r.metadata_problem
        for r in session.exec(
            select(Record).where(Record.run_id == run_id, col(Record.metadata_problem).is_not(None))
        )
    }
    for line in session.exec(
        select(EventLine).where(EventLine.run_id == run_id, col(EventLine.kind).in_(EXCLUDING_EVENTS))
    ):
        if line.mms_id:
            excluded.setdefault(line.mms_id, line.text)
    excluded.update(held)
    return {k: v for k, v in excluded.items() if v}


def prepare_profile_set(ctx: PipelineContext, run_id: int) -> str | None:
    """The set id for step 3 (created once and remembered); None when no record is ready for it."""
    with session_scope(ctx.engine) as session:
        run = get_run(session, run_id)
        if run.profile_set_id:
            return run.profile_set_id
        set_id, content = run.set_id, run.set_content or "IEP"
        jobs_set, jobs_excluded = run.jobs_set_id, run.jobs_excluded
    note = ingest_api_events(ctx, run_id)
    log.info("run %s: %s", run_id, note)
    _refresh_flagged(ctx, run_id)
    with session_scope(ctx.engine) as session:
        excluded = excluded_records(session, run_id)
        held = held_out_records(session, run_id)
        keep = [
            r.mms_id
            for r in session.exec(
                select(Record).where(Record.run_id == run_id).order_by(col(Record.position))
            )
            if r.mms_id not in excluded
        ]
    if not excluded:
        return set_id
    if not keep:
        return None
    if jobs_set and len(excluded) == jobs_excluded:  # nothing more to leave out than preflight did
        with session_scope(ctx.engine) as session:
            run = get_run(session, run_id)
            run.profile_set_id, run.profile_excluded = jobs_set, len(excluded)
            session.add(run)
        return jobs_set
    created = ctx.alma.create_itemized_set(
        f"handles run {run_id} profile set",
        content=content,
        description=f"Set {set_id} less {len(excluded)} records the Handle Migration could not take "
        f"(kept out so that Alma does not mint sequential handles for them)",
    )
    profile_set = str(created["id"])
    ctx.alma.add_set_members(profile_set, keep)
    with session_scope(ctx.engine) as session:
        run = get_run(session, run_id)
        run.profile_set_id, run.profile_excluded = profile_set, len(excluded)
        session.add(run)
        for record in session.exec(
            select(Record).where(
                Record.run_id == run_id, col(Record.mms_id).in_([m for m in excluded if m not in held])
            )
        ):
            record.detail = ((record.detail + "; ") if record.detail else "") + (
                "left out of the profile run so that Alma mints no sequential handle for it; "
                f"`handles repair {run_id}` fixes the metadata and migrates it"
            )
            session.add(record)
    log.info(
        "run %s: the profile runs on set %s: %s of %s records; %s left out until repaired",
        run_id,
        profile_set,
        len(keep),
        len(keep) + len(excluded),
        len(excluded),
    )
    return profile_set
