"""Finding a run and its steps: the one place every package asks "which run, which step?".

``get_run`` raises :class:`RunNotFound` (a :class:`LookupError`) for an id the database does not
hold; every package and the CLI catch that one type.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from store.models import Run, Step, StepKind, StepStatus

__all__ = ["RunNotFound", "get_run", "recent_runs", "remaining_steps", "run_steps", "step_of"]

#: the steps a run is made of, in the order they run
STEP_ORDER: tuple[StepKind, ...] = (StepKind.COPY, StepKind.MIGRATION, StepKind.PROFILE, StepKind.VERIFY)
#: the three steps that are Alma jobs
ALMA_STEPS: tuple[StepKind, ...] = (StepKind.COPY, StepKind.MIGRATION, StepKind.PROFILE)


class RunNotFound(LookupError):
    """Raised when no run has the id asked for."""


def get_run(session: Session, run_id: int) -> Run:
    """The run ``run_id``; :class:`RunNotFound` when there is none."""
    run = session.get(Run, run_id)
    if run is None:
        raise RunNotFound(f"there is no run {run_id}")
    return run


def run_steps(session: Session, run_id: int) -> list[Step]:
    """The run's steps, in the order they run."""
    return list(session.exec(select(Step).where(Step.run_id == run_id).order_by(col(Step.position))))


def step_of(session: Session, run_id: int, kind: StepKind | str) -> Step:
    """The run's step of that kind (every run has one of each kind)."""
    step = session.exec(select(Step).where(Step.run_id == run_id, Step.kind == str(kind))).first()
    if step is None:
        raise RunNotFound(f"run {run_id} has no {kind} step")
    return step


def remaining_steps(session: Session, run_id: int) -> list[StepKind]:
    """The Alma steps of the run not yet done (neither succeeded nor skipped), in order."""
    done = {
        s.kind for s in run_steps(session, run_id) if s.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
    }
    return [kind for kind in ALMA_STEPS if kind not in done]


def recent_runs(session: Session, limit: int = 20) -> list[Run]:
    """The latest runs, newest first."""
    return list(session.exec(select(Run).order_by(col(Run.id).desc()).limit(limit)))
