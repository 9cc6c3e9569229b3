"""The order guard: a step runs only after the earlier ones, and the profile only after the migration.

Seed 001: the profile before the migration leaves handles broken. So a step is submitted only
after every earlier step succeeded (or was skipped), and the profile step is refused unless this
run's migration ended after the latest copy run on the same set, whatever a user, a retry or a
redelivered message does.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func
from sqlmodel import Session, col, select

from store.models import Run, Step, StepKind, StepStatus
from store.runs import step_of

__all__ = ["earlier_unfinished", "profile_order_violation"]


def earlier_unfinished(steps: Iterable[Step], step: Step) -> Step | None:
    """The first step before ``step`` that neither succeeded nor was skipped, or None."""
    for other in sorted(steps, key=lambda s: s.position):
        if other.position >= step.position:
            return None
        if other.status not in (StepStatus.SUCCEEDED, StepStatus.SKIPPED):
            return other
    return None


def profile_order_violation(session: Session, run: Run) -> str | None:
    """Why the profile must not run now, or None. Checked against every run of the same set."""
    migration = step_of(session, run.id, StepKind.MIGRATION)  # type: ignore[arg-type]  # stored row: SQLModel types its id as Optional
    if migration.status != StepStatus.SUCCEEDED or migration.ended_at is None:
        return f"the migration step is {migration.status}, not completed"
    latest_copy = session.exec(
        select(func.max(Step.ended_at))
        .join(Run, col(Run.id) == col(Step.run_id))
        .where(
            Run.set_id == run.set_id,
            Step.kind == StepKind.COPY,
            col(Step.ended_at).is_not(None),
            col(Step.status).in_([StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.RUNNING]),
        )
    ).one()
    running_copy = session.exec(
        select(Step.run_id)
        .join(Run, col(Run.id) == col(Step.run_id))
        .where(
            Run.set_id == run.set_id,
            Step.kind == StepKind.COPY,
            col(Step.status).in_([StepStatus.SUBMITTING, StepStatus.RUNNING]),
        )
    ).first()
    if running_copy is not None:
        return f"a copy job is running on set {run.set_id} (run {running_copy}); run the migration again after it"
    if latest_copy is not None and latest_copy > migration.ended_at:
        return (
            f"a copy job on set {run.set_id} ended at {latest_copy:%Y-%m-%d %H:%M:%S} UTC, after this run's "
            f"migration ({migration.ended_at:%Y-%m-%d %H:%M:%S}); the migration must run again first"
        )
    return None
