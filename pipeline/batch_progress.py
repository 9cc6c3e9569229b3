"""Where a batch parent's batches are: started, running, ended; why each waits; the time left.

Read-only helpers for the batch driver (:mod:`pipeline.batches`), the parent's finish
(:mod:`pipeline.finish`), ``handles status`` and the web page. See :mod:`pipeline.batches`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from pipeline.batch_plan import format_duration, jobs_per_batch, time_left_seconds
from store.models import Run, RunState, Step, StepStatus
from store.runs import ALMA_STEPS, get_run, run_steps

__all__ = [
    "BatchProgress",
    "batch_children",
    "batch_progress",
    "batches_ended",
    "failed_batches",
    "measured_job_seconds",
]


def batch_children(session: Session, parent_id: int) -> list[Run]:
    """The parent's batches that have started (each a child run), by number."""
    return list(
        session.exec(
            select(Run)
            .where(Run.parent_run_id == parent_id, col(Run.batch_no).is_not(None))
            .order_by(col(Run.batch_no))
        )
    )


def batches_ended(session: Session, parent: Run) -> bool:
    """Whether every batch of the parent has started and ended (succeeded or failed)."""
    if parent.batch_of is None:
        return False
    ended = [c for c in batch_children(session, parent.id) if RunState(c.state).is_terminal]  # type: ignore[arg-type]  # stored row: SQLModel types its id as Optional
    return len(ended) >= parent.batch_of


def measured_job_seconds(session: Session, limit: int = 60) -> float | None:
    """The mean time of the Alma jobs that ended well lately (submitted → ended), or None."""
    rows = session.exec(
        select(Step.submitted_at, Step.ended_at)
        .where(
            col(Step.kind).in_([k.value for k in ALMA_STEPS]),
            Step.status == StepStatus.SUCCEEDED,
            col(Step.submitted_at).is_not(None),
            col(Step.ended_at).is_not(None),
        )
        .order_by(col(Step.id).desc())
        .limit(limit)
    ).all()
    spans = [(end - start).total_seconds() for start, end in rows if start and end and end >= start]
    return sum(spans) / len(spans) if spans else None


def failed_batches(session: Session, parent_id: int) -> list[Run]:
    return [c for c in batch_children(session, parent_id) if c.state == RunState.FAILED]


@dataclass
class BatchProgress:
    """Where a parent's batches are: for ``handles status`` and the parent's note."""

    total: int | None  # None until planned (after preflight)
    batch_size: int
    window: int
    jobs_per_batch: int
    batches: list[dict[str, Any]] = field(default_factory=list)  # the started ones
    mean_seconds: float | None = None  # mean duration of the batches that succeeded
    time_left_seconds: float | None = None

    def count(self, *states: str) -> int:
        return sum(1 for b in self.batches if b["state"] in states)

    @property
    def succeeded(self) -> int:
        return self.count(RunState.SUCCEEDED)

    @property
    def failed(self) -> int:
        return self.count(RunState.FAILED)

    @property
    def running(self) -> int:
        return len(self.batches) - self.succeeded - self.failed

    @property
    def not_started(self) -> int:
        return max(0, (self.total or 0) - len(self.batches))

    @property
    def all_ended(self) -> bool:
        return self.total is not None and self.succeeded + self.failed >= self.total

    def summary(self) -> str:
        """One line: ``batches: 4 of 122 done (1 failed), 3 running, 115 not started; about …``."""
        if self.total is None:
            return "batches: not planned yet (preflight reads the set first)"
        ended = self.succeeded + self.failed
        text = f"batches: {ended} of {self.total} done"
        if self.failed:
            text += f" ({self.failed} failed)"
        text += f", {self.running} running, {self.not_started} not started"
        if self.time_left_seconds and not self.all_ended:
            left = format_duration(self.time_left_seconds)
            if self.time_left_seconds >= 60:
                left = f"{'about' if self.mean_seconds else 'at least'} {left}"
            text += f"; {left} left"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "batch_size": self.batch_size,
            "at_once": self.window,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "running": self.running,
            "not_started": self.not_started,
            "not_started_why": self.not_started_why() if self.not_started else None,
            "mean_batch_seconds": round(self.mean_seconds, 1) if self.mean_seconds else None,
            "time_left_seconds": round(self.time_left_seconds)
            if self.time_left_seconds is not None
            else None,
            "time_left_measured": self.mean_seconds is not None,
            "batches": self.batches,
        }

    def not_started_why(self) -> str:
        return (
            f"waiting for a free place: {self.window} batches run at a time (Alma runs "
            f"{self.window} API jobs at once); the next starts when one ends"
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value else None


def _current_step(steps: list[Step]) -> str:
    for step in steps:
        if step.status not in (StepStatus.SUCCEEDED, StepStatus.SKIPPED):
            return f"{step.kind} {step.status}"
    return "done"


def batch_progress(
    session: Session, parent_id: int, *, window: int = 3, settings: Any = None
) -> BatchProgress:
    """The parent's batches: each started one's state and why it waits, counts, the time left."""
    parent = get_run(session, parent_id)
    progress = BatchProgress(
        total=parent.batch_of,
        batch_size=parent.batch_size or 0,
        window=window,
        jobs_per_batch=jobs_per_batch(parent.skip_copy),
    )
    spans = []
    for child in batch_children(session, parent_id):
        steps = run_steps(session, child.id)  # type: ignore[arg-type]  # stored row: SQLModel types its id as Optional
        if child.state == RunState.SUCCEEDED and child.finished_at:
            spans.append((child.finished_at - child.created_at).total_seconds())
        progress.batches.append(
            {
                "batch": child.batch_no,
                "run_id": child.id,
                "set_id": child.set_id,
                "records": child.member_count,
                "state": child.state,
                "step": _current_step(steps),
                "note": child.error if child.state == RunState.FAILED else child.wait_reason,
                "started_at": _iso(child.created_at),
                "finished_at": _iso(child.finished_at),
            }
        )
    progress.mean_seconds = sum(spans) / len(spans) if spans else None
    if progress.total is not None:
        runs_per_hour = getattr(settings, "alma_max_runs_per_job_hour", 5)
        progress.time_left_seconds = time_left_seconds(
            progress.total - progress.succeeded - progress.failed,
            window=window,
            mean_batch_seconds=progress.mean_seconds,
            jobs_per_batch=progress.jobs_per_batch,
            runs_per_hour=runs_per_hour,
            max_running=window,
        )
    return progress
