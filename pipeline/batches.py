"""Batches: a large set run as itemized sets of at most N records, under one parent run.

Alma's DC jobs work in bulks of 100 records, and one bad record fails its whole bulk; people keep
handle sets under ~100 records (field note 7). ``handles migrate SET --batch-size N`` therefore
makes a parent run that does preflight once over the whole set, then runs the records preflight
keeps (not those held out of every job: a duplicate handle, not Dublin Core) as batches: batch k is
the k-th slice of N of those records, in the set's order, put in an itemized set named
``handles run P batch k of n`` and run by a child run (``Run.batch_no`` k of ``Run.batch_of`` n)
through the whole step machine: preflight → copy → migration → profile → verification.

**How many at once.** A batch runs its jobs one after the other, so at most
``ALMA_MAX_API_JOBS_RUNNING`` (3) batches are in flight: together they can keep every job slot
Alma allows busy; each job still reserves its slot in the shared budget (:mod:`pipeline.budget`),
which orders them with any other run's jobs. The next batch starts when one ends. Enqueueing all
of them at once would queue every copy ahead of the first migration in the budget's one queue of
waiters, so the first batch would end only after ~all copies ran (~24 hours for 122 batches), and
122 chains would each poll every minute.

**The parent** (``handles.run_batches``, one visit at a time, like a step): plans the batches once,
starts the next ones while fewer than the window run, beats, and says how far it is
(``Run.wait_reason``). When every batch has ended, :mod:`pipeline.finish` folds the batches' events
into the parent's records, verifies and classifies all of them, and ends the parent: succeeded, or
failed naming the batches that failed. A failed batch does not stop the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from pipeline.alma_sets import create_named_set
from pipeline.batch_plan import batch_sizes
from pipeline.batch_progress import batch_children, batch_progress
from pipeline.context import Next, PipelineContext, touch_run
from pipeline.runs import create_run
from store.db import session_scope
from store.models import Record, Run, RunState, utcnow
from store.runs import get_run

log = logging.getLogger("handles.pipeline")

__all__ = [
    "HELD_OUT",
    "BatchVisit",
    "batch_name",
    "create_batch",
    "drive_batches",
    "is_batch_parent",
    "kept_members",
]

# outcomes preflight gives the records it keeps out of every job (CONTRACT.md; pipeline.holdout)
HELD_OUT = ("duplicate_handle", "wrong_format")


def batch_name(parent_id: int, number: int, of: int) -> str:
    """The itemized set of batch ``number``: ``handles run P batch k of n``."""
    return f"handles run {parent_id} batch {number} of {of}"


def is_batch_parent(run: Run) -> bool:
    return run.batch_size is not None and run.batch_no is None


def kept_members(session: Session, run_id: int) -> list[str]:
    """The MMS ids preflight keeps for the jobs, in the set's order."""
    return list(
        session.exec(
            select(Record.mms_id)
            .where(Record.run_id == run_id, col(Record.outcome).not_in(HELD_OUT))
            .order_by(col(Record.position), col(Record.mms_id))
        )
    )


def create_batch(ctx: PipelineContext, parent_id: int, number: int) -> int | None:
    """Make batch ``number``: its itemized set in Alma, then its child run; the child's id.

    None when another visit made it first (one batch per number: a unique constraint).
    """
    with session_scope(ctx.engine) as session:
        parent = get_run(session, parent_id)
        size, of = parent.batch_size or 1, parent.batch_of or 0
        members = kept_members(session, parent_id)[(number - 1) * size : number * size]
        content, skip_copy, mode = parent.set_content or "IEP", parent.skip_copy, parent.profile_mode
        parent_set = parent.set_id
    name = batch_name(parent_id, number, of)
    description = (
        f"{len(members)} records of set {parent_set}: batch {number} of {of} of handles run {parent_id}"
    )
    set_id, name = create_named_set(ctx, parent_id, name, content=content, description=description)
    ctx.alma.add_set_members(set_id, members)
    try:
        with session_scope(ctx.engine) as session:
            child = create_run(
                session=session,
                set_id=set_id,
                skip_copy=skip_copy,
                parent_run_id=parent_id,
                profile_mode=mode,
                set_name=name,
                member_count=len(members),
                batch_no=number,
                batch_of=of,
            )
            child_id = child.id
    except IntegrityError:
        _remove_unused(ctx, parent_id, number, set_id, name)
        return None
    log.info(
        "run %s: batch %s of %s: run %s on set %s (%s records)",
        parent_id,
        number,
        of,
        child_id,
        set_id,
        len(members),
    )
    return child_id


def _remove_unused(ctx: PipelineContext, parent_id: int, number: int, set_id: str, name: str) -> None:
    """Another visit started batch ``number`` first: the set just made is this run's and used by
    nothing, so it goes (a set that cannot be removed is one line: the batch runs on the other)."""
    try:
        ctx.alma.delete_set(set_id)
    except Exception as exc:  # noqa: BLE001 - a leftover set never stops the run
        log.warning(
            "run %s: batch %s was started by another visit; remove the unused Alma set %s (%s) by hand (%s)",
            parent_id,
            number,
            set_id,
            name,
            exc,
        )
        return
    log.info(
        "run %s: batch %s was started by another visit; removed the unused Alma set %s (%s)",
        parent_id,
        number,
        set_id,
        name,
    )


@dataclass
class BatchVisit:
    """What one visit of the parent did: what next, and the batches it started (to enqueue)."""

    next: Next
    started: list[int] = field(default_factory=list)


def _plan(session: Session, parent: Run) -> int:
    """Fix the number of batches once, from the records preflight kept."""
    if parent.batch_of is None:
        parent.batch_of = len(batch_sizes(len(kept_members(session, parent.id)), parent.batch_size or 1))  # type: ignore[arg-type]  # stored row: SQLModel types its id as Optional
        session.add(parent)
        log.info("run %s: %s batches of at most %s records", parent.id, parent.batch_of, parent.batch_size)
    return parent.batch_of


def drive_batches(ctx: PipelineContext, *, run_id: int) -> BatchVisit:
    """One visit of a batch parent: start the next batches while fewer than the window run.

    Continues (the chain's next link finishes the parent) once every batch has ended.
    """
    window = ctx.settings.alma_max_api_jobs_running
    with session_scope(ctx.engine) as session:
        parent = get_run(session, run_id)
        if parent.state == RunState.FAILED:
            return BatchVisit(Next.stop(f"run {run_id} has failed: {parent.error}"))
        if parent.state == RunState.SUCCEEDED or not is_batch_parent(parent):
            return BatchVisit(Next.cont())
        if parent.state in (RunState.QUEUED, RunState.PREFLIGHT):
            # a duplicate or early message: the legitimate chain gets here after preflight
            return BatchVisit(Next.stop(f"the batches wait for preflight ({parent.state})"))
        of = _plan(session, parent)
        children = batch_children(session, run_id)
        active = sum(1 for c in children if not RunState(c.state).is_terminal)
        made = {c.batch_no for c in children}
        missing = [n for n in range(1, of + 1) if n not in made]
        heartbeat = parent.heartbeat_at
    free = max(0, window - active)
    started: list[int] = []
    if missing and free:
        # one visit at a time starts batches: claim the parent by its heartbeat (as recovery does)
        with session_scope(ctx.engine) as session:
            won = session.exec(
                update(Run)
                .where(col(Run.id) == run_id, col(Run.heartbeat_at) == heartbeat)
                .values(heartbeat_at=utcnow())
            ).rowcount
        if won:
            for number in missing[:free]:
                child_id = create_batch(ctx, run_id, number)
                if child_id is not None:
                    started.append(child_id)
    with session_scope(ctx.engine) as session:
        progress = batch_progress(session, run_id, window=window, settings=ctx.settings)
        parent = get_run(session, run_id)
        touch_run(session, parent, RunState.RUNNING, None if progress.all_ended else progress.summary())
    if progress.all_ended:
        return BatchVisit(Next.cont(), started)
    return BatchVisit(Next.retry(ctx.settings.poll_max_seconds, progress.summary()), started)
