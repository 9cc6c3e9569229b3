"""The set the profile runs on: the run's set less the records the migration could not take.

The Persistent Handle Identifiers profile, run with "Create and Update", mints a new sequential
handle (``11084/1742400039``) for every record that has no handle identifier in Alma. A record the
migration skipped ("does not have a handle identifier") would therefore leave step 3 with a handle
nobody asked for, and its real handle could then never be migrated: the seed-000 problem. So before
step 3, records whose metadata Alma could not use are left out of the profile's set, and kept for
``handles repair``, whose child run migrates them once their metadata is right. Records preflight
kept out of every job (:mod:`pipeline.holdout`: duplicate handles, not Dublin Core) stay out of it
too; when nothing more is left out, the profile runs on the run's jobs set.

Made ahead: while the migration runs (:func:`prepare_profile_set_ahead`, a task of its own sent
after the migration's submission), the flagged bibs are re-read and the set is made, so that when
the migration ends step 3 is one call (``op=run``). Only where Alma does not serve the migration's
events by API (60332, which Alma documents for every job but USERS/SIS): then nothing the
migration's end brings changes the set, except an Events Report imported by hand, which the step's
own visit checks (it makes the set again when more records must be left out). One maker at a time:
:attr:`store.models.Run.profile_set_claimed_at`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import col, select

from pipeline.alma_sets import create_named_set
from pipeline.context import PipelineContext
from pipeline.holdout import held_out_records
from pipeline.migration_events import events_refused, ingest_api_events
from pipeline.preflight import read_metadata
from store.db import session_scope
from store.models import EventLine, Record, Run, RunState, StepKind, StepStatus, utcnow
from store.runs import get_run, step_of

log = logging.getLogger("handles.pipeline")

__all__ = [
    "ProfileSetBusy",
    "excluded_records",
    "prepare_profile_set",
    "prepare_profile_set_ahead",
]

EXCLUDING_EVENTS = ("no_handle", "failed")
# ``Run.profile_excluded`` while the set is made but its members are not all added yet: a visit
# that finds it removes that set and makes it again (a set always leaves at least one record out)
MEMBERS_PENDING = -1
# a claim older than this (its worker was killed) may be taken over
CLAIM_STALE = timedelta(minutes=5)


class ProfileSetBusy(RuntimeError):
    """Another worker is making the profile's set right now; look again shortly."""


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
    """The set id for step 3 (made once and remembered); None when no record is ready for it.

    Raises :class:`ProfileSetBusy` while another worker makes it (the set made ahead).
    """
    with session_scope(ctx.engine) as session:
        made_ahead = get_run(session, run_id).profile_set_id is not None
    note = ingest_api_events(ctx, run_id)
    log.info("run %s: %s", run_id, note)
    if not made_ahead:  # made ahead: the bibs were re-read then, after the copy
        _refresh_flagged(ctx, run_id)
    return _make_profile_set(ctx, run_id)


def prepare_profile_set_ahead(ctx: PipelineContext, run_id: int) -> str:
    """While the migration runs: re-read the flagged bibs and make step 3's set; what was done, in words.

    Nothing is done when the migration has already ended (the profile step's visit does the work),
    or when Alma serves the migration's events by API (they may leave more records out).
    """
    with session_scope(ctx.engine) as session:
        run = get_run(session, run_id)
        migration = step_of(session, run_id, StepKind.MIGRATION)
        profile = step_of(session, run_id, StepKind.PROFILE)
        if (
            RunState(run.state).is_terminal
            or run.profile_set_id is not None
            or migration.status != StepStatus.RUNNING
            or profile.status != StepStatus.PENDING
            or not (migration.alma_job_id and migration.instance_id)
        ):
            return "nothing to prepare (the migration has ended, or the set is made)"
        job_id, instance_id = migration.alma_job_id, migration.instance_id
    if not events_refused(ctx, run_id, job_id, instance_id):
        return "the profile's set waits for the migration's end: Alma serves its events by API"
    _refresh_flagged(ctx, run_id)
    try:
        made = _make_profile_set(ctx, run_id)
    except ProfileSetBusy:
        return "another worker is making the profile's set"
    if made is None:
        return "no record is ready for the profile yet"
    return f"the profile's set is ready while the migration runs: set {made}"


def _claim(ctx: PipelineContext, run_id: int) -> bool:
    """Take the right to make the run's profile set (one maker at a time; a stale claim is taken over)."""
    now = ctx.now()
    with session_scope(ctx.engine) as session:
        won = session.exec(
            update(Run)
            .where(
                col(Run.id) == run_id,
                or_(
                    col(Run.profile_set_claimed_at).is_(None),
                    col(Run.profile_set_claimed_at) < now - CLAIM_STALE,
                ),
            )
            .values(profile_set_claimed_at=now)
        ).rowcount
    return bool(won)


def _unclaim(ctx: PipelineContext, run_id: int) -> None:
    with session_scope(ctx.engine) as session:
        run = get_run(session, run_id)
        run.profile_set_claimed_at = None
        session.add(run)


def _make_profile_set(ctx: PipelineContext, run_id: int) -> str | None:
    """The set for step 3 from what the database knows now: kept when still right, else made."""
    with session_scope(ctx.engine) as session:
        run = get_run(session, run_id)
        excluded = excluded_records(session, run_id)
        # what is left out only grows once the bibs are re-read: the same count is the same set
        if run.profile_set_id and len(excluded) == run.profile_excluded:
            return run.profile_set_id
        stale = run.profile_set_id if run.profile_set_id not in (None, run.jobs_set_id) else None
        set_id, content = run.set_id, run.set_content or "IEP"
        jobs_set, jobs_excluded = run.jobs_set_id, run.jobs_excluded
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
    if not _claim(ctx, run_id):
        raise ProfileSetBusy(f"run {run_id}: another worker is making the profile's set")
    try:
        if stale:  # first: Alma refuses a second set of the same name (402263)
            _remove_stale(ctx, run_id, stale)
        profile_set = _create_set(ctx, run_id, set_id, content, keep, len(excluded))
    finally:
        _unclaim(ctx, run_id)
    with session_scope(ctx.engine) as session:
        run = get_run(session, run_id)
        run.profile_set_id, run.profile_excluded = profile_set, len(excluded)
        session.add(run)
        note = (
            "left out of the profile run so that Alma mints no sequential handle for it; "
            f"`handles repair {run_id}` fixes the metadata and migrates it"
        )
        for record in session.exec(
            select(Record).where(
                Record.run_id == run_id, col(Record.mms_id).in_([m for m in excluded if m not in held])
            )
        ):
            if note not in (record.detail or ""):
                record.detail = ((record.detail + "; ") if record.detail else "") + note
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


def _create_set(
    ctx: PipelineContext, run_id: int, set_id: str, content: str, keep: list[str], excluded: int
) -> str:
    """Make the set, remember it at once, then add its members.

    Remembered before its members: should adding them fail (Alma, the network or Redis gone), the
    next visit knows the half-made set, removes it and makes it again (unknown, it would hold the
    name: Alma refuses a second set of it, 402263).
    """
    name = f"handles run {run_id} profile set"
    description = (
        f"Set {set_id} less {excluded} records the Handle Migration could not take "
        f"(kept out so that Alma does not mint sequential handles for them)"
    )
    profile_set, _ = create_named_set(ctx, run_id, name, content=content, description=description)
    with session_scope(ctx.engine) as session:
        run = get_run(session, run_id)
        run.profile_set_id, run.profile_excluded = profile_set, MEMBERS_PENDING
        session.add(run)
    ctx.alma.add_set_members(profile_set, keep)
    return profile_set


def _remove_stale(ctx: PipelineContext, run_id: int, set_id: str) -> None:
    """The profile set made before more records had to be left out (an Events Report imported):
    never run, superseded, so removed even with ``ALMA_KEEP_SETS``. A crash after this is healed
    by the next visit (the run still names it: removing it again only logs a line)."""
    try:
        ctx.alma.delete_set(set_id)
    except Exception as exc:  # noqa: BLE001 - a leftover set never stops the run
        log.warning(
            "run %s: could not remove its earlier profile set %s (%s); remove it by hand", run_id, set_id, exc
        )
        return
    log.info("run %s: removed its earlier profile set %s", run_id, set_id)
