"""One open run per set: what ``handles migrate`` checks before it records a run.

A run started by ``handles migrate`` *holds its set* (``Run.holds_set``) until it has succeeded or
failed. While it is open, a second ``migrate`` on the same set is refused with one line naming the
open run, what it waits for, and how to follow it; nothing is stored. The check is race-safe: the
database's unique partial index ``ux_run_one_open_per_set`` lets only one of two inserts at the same
moment through, and the loser is refused with the same line.

``--force`` is the only way past: the open run is marked failed ("superseded by run M") and its steps
not yet submitted are never submitted. A job of the open run that Alma is running now cannot be
stopped through Alma's API, so ``--force`` is refused while one is: wait for it to end, then force.
Child runs (a repair's, a rerun's, a batch's) do not hold their set and are not concerned.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from pipeline.errors import PipelineError
from pipeline.runs import create_run
from store.models import Run, RunState, Step, StepStatus, utcnow
from store.runs import run_steps

__all__ = ["SetHasOpenRun", "Superseded", "describe_open", "force_notice", "open_run", "start_run"]

TERMINAL = (RunState.SUCCEEDED.value, RunState.FAILED.value)
#: a step in one of these states has (or may have) a job in Alma that the API cannot stop
IN_ALMA = (StepStatus.SUBMITTING.value, StepStatus.RUNNING.value)


class SetHasOpenRun(PipelineError):
    """A second ``migrate`` on a set whose run is still open (the message is the one line)."""


@dataclass(frozen=True)
class Superseded:
    """What ``--force`` did to the open run."""

    run_id: int
    skipped_steps: tuple[str, ...]


def open_run(session: Session, set_id: str) -> Run | None:
    """The open top-level run on ``set_id`` (the oldest, should there be several), or None."""
    return session.exec(
        select(Run)
        .where(
            Run.set_id == set_id,
            col(Run.parent_run_id).is_(None),
            col(Run.state).not_in(TERMINAL),
        )
        .order_by(col(Run.id))
    ).first()


def _waits_for(session: Session, run: Run) -> str:
    """What the open run is doing or waiting for, in a few words."""
    if run.wait_reason:
        return " ".join(run.wait_reason.split())
    for step in run_steps(session, run.id):  # type: ignore[arg-type]  # stored row: id is set
        if step.status in IN_ALMA:
            where = f" (Alma instance {step.instance_id})" if step.instance_id else ""
            return f"its {step.kind} job is running in Alma{where}"
        if step.status == StepStatus.PENDING:
            return f"{step.kind} is next ({run.state})"
    return str(run.state)


def describe_open(session: Session, run: Run) -> str:
    """The one line that refuses a second ``migrate``."""
    return (
        f"set {run.set_id} already has an open run {run.id} ({run.state}: {_waits_for(session, run)}); "
        f"follow it with `handles status {run.id}`; `handles migrate {run.set_id} --force` "
        f"marks it failed and starts a new run"
    )


def _running_in_alma(session: Session, run: Run) -> Step | None:
    for step in run_steps(session, run.id):  # type: ignore[arg-type]  # stored row: id is set
        if step.status in IN_ALMA:
            return step
    return None


def force_notice(session: Session, set_id: str) -> str | None:
    """The one line ``--force`` prints before it acts; None when the set has no open run.

    Raises :class:`SetHasOpenRun` when a job of the open run is running in Alma (it cannot be stopped).
    """
    run = open_run(session, set_id)
    if run is None:
        return None
    _refuse_if_in_alma(session, run)
    return (
        f"--force: run {run.id} ({run.state}) will be marked failed, superseded by the new run; "
        f"its steps not yet submitted will not be submitted"
    )


def _refuse_if_in_alma(session: Session, run: Run) -> None:
    step = _running_in_alma(session, run)
    if step is None:
        return
    where = f" (instance {step.instance_id})" if step.instance_id else ""
    raise SetHasOpenRun(
        f"run {run.id}'s {step.kind} job{where} is running in Alma and cannot be stopped through "
        f"Alma's API: wait for it to end (`handles status {run.id}`), then use --force"
    )


def _supersede(session: Session, run: Run) -> Superseded:
    """Mark ``run`` failed and its pending steps skipped (in the caller's transaction)."""
    run_id = run.id
    assert run_id is not None
    # the same conditional update the submitter makes (PENDING → SUBMITTING): only one of the two wins
    pending = [s.kind for s in run_steps(session, run_id) if s.status == StepStatus.PENDING]
    session.exec(
        update(Step)
        .where(col(Step.run_id) == run_id, col(Step.status) == StepStatus.PENDING)
        .values(status=StepStatus.SKIPPED, error="not run: the run was superseded (handles migrate --force)")
    )  # type: ignore[call-overload]  # sqlmodel types exec() for selects; an update runs the same way
    session.expire_all()
    run = session.get(Run, run_id)  # type: ignore[assignment]  # it was there a moment ago
    _refuse_if_in_alma(session, run)  # a worker submitted one just before us: leave the run alone
    now = utcnow()
    run.state = RunState.FAILED
    run.error = "superseded by a new run (handles migrate --force)"
    run.wait_reason = None
    run.finished_at = run.updated_at = now
    session.add(run)
    session.flush()
    return Superseded(run_id, tuple(pending))


def start_run(
    session: Session,
    *,
    set_id: str,
    force: bool = False,
    skip_copy: bool = False,
    profile_mode: str = "auto",
    set_name: str | None = None,
    batch_size: int | None = None,
) -> tuple[Run, Superseded | None]:
    """Record a top-level run that holds ``set_id``, or refuse (:class:`SetHasOpenRun`).

    Commits on success; on refusal nothing is stored (the caller's session is rolled back).
    """
    superseded = None
    try:
        current = open_run(session, set_id)
        if current is not None:
            if not force:
                raise SetHasOpenRun(describe_open(session, current))
            superseded = _supersede(session, current)
        run = create_run(
            session=session,
            set_id=set_id,
            skip_copy=skip_copy,
            profile_mode=profile_mode,
            set_name=set_name,
            batch_size=batch_size,
            holds_set=True,
        )
        if superseded is not None:
            old = session.get(Run, superseded.run_id)
            assert old is not None
            old.error = f"superseded by run {run.id} (handles migrate --force)"
            session.add(old)
        session.commit()
    except IntegrityError:
        # another migrate inserted its run between our check and our insert: it won
        session.rollback()
        winner = open_run(session, set_id)
        if winner is None:  # it has ended already; the operator may simply try again
            raise SetHasOpenRun(
                f"another run on set {set_id} was starting at the same moment; try again"
            ) from None
        raise SetHasOpenRun(describe_open(session, winner)) from None
    except BaseException:
        session.rollback()
        raise
    return run, superseded
