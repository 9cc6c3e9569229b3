"""``handles rerun RUN_ID --outcome OUTCOME``: a child run of only the records with that outcome.

The records are those the run's report shows with the outcome now (a record a finished child run
already took is not run again). They go into a new itemized set in Alma, and a child run
(``parent_run_id``) on that set runs the steps as ``handles migrate`` does; the parent's report folds
the child's results in once it has succeeded. Outcomes a rerun cannot change are refused with what
to do instead (the record's metadata, a conflict in Alma, a record that is not Dublin Core).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from outcomes.next_steps import MEANINGS, next_step
from outcomes.report import iter_rows
from pipeline.errors import PipelineError
from pipeline.runs import create_run
from store.models import Run, RunState, utcnow
from store.runs import get_run

__all__ = ["RERUNNABLE", "RerunRefused", "rerun_records", "start_rerun"]

#: outcomes that running the jobs again may change (Alma's job failed, or nothing is known yet)
RERUNNABLE = ("failed", "unknown")
TERMINAL = (RunState.SUCCEEDED.value, RunState.FAILED.value)


class RerunRefused(PipelineError):
    """A rerun that cannot be made; the message is the one line (``code`` 2 for a bad argument)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _check(session: Session, run: Run, outcome: str) -> None:
    run_id = run.id
    if outcome not in MEANINGS:
        known = ", ".join(MEANINGS)
        raise RerunRefused(f"{outcome!r} is not an outcome; one of: {known}", code=2)
    if outcome not in RERUNNABLE:
        instead = next_step(outcome, run_id)
        if not instead:
            raise RerunRefused(f"`{outcome}` records need nothing more; a rerun would change nothing")
        raise RerunRefused(f"a rerun cannot change `{outcome}` records ({MEANINGS[outcome]}): {instead}")
    if run.state not in TERMINAL:
        raise RerunRefused(
            f"run {run_id} is still open ({run.state}): wait for it to end (`handles status {run_id}`)"
        )
    child = session.exec(
        select(Run).where(Run.parent_run_id == run_id, col(Run.state).not_in(TERMINAL)).order_by(col(Run.id))
    ).first()
    if child is not None:
        raise RerunRefused(
            f"run {run_id} already has an open child run {child.id} ({child.state}): "
            f"wait for it to end (`handles status {child.id}`)"
        )


def rerun_records(session: Session, run_id: int, outcome: str) -> list[str]:
    """The MMS ids a rerun of ``outcome`` would take (as the report shows them now), in set order."""
    return [row["mms_id"] for row in iter_rows(session=session, run_id=run_id) if row["outcome"] == outcome]


def start_rerun(
    session: Session,
    *,
    run_id: int,
    outcome: str,
    alma: Any,
    profile_mode: str,
) -> tuple[Run, list[str]]:
    """Make the itemized set in Alma and the child run (committed); the caller enqueues it.

    Raises :class:`store.runs.RunNotFound` for an unknown run and :class:`RerunRefused` otherwise.
    """
    outcome = (outcome or "").strip().lower()
    run = get_run(session, run_id)
    _check(session, run, outcome)
    ids = rerun_records(session, run_id, outcome)
    if not ids:
        raise RerunRefused(f"run {run_id} has no `{outcome}` records to run again")
    stamp = utcnow().strftime("%Y-%m-%d %H:%M:%S")
    created = alma.create_itemized_set(
        f"handles run {run_id} rerun ({outcome}) - {stamp}",
        description=f"{len(ids)} {outcome} records of run {run_id}, run again by handles rerun",
        content=run.set_content or "IEP",
    )
    set_id = str(created.get("id"))
    alma.add_set_members(set_id, ids)
    child = create_run(
        session=session,
        set_id=set_id,
        skip_copy=run.skip_copy,
        parent_run_id=run_id,
        profile_mode=profile_mode,
        set_name=created.get("name"),
        member_count=len(ids),
    )
    session.commit()
    return child, ids
