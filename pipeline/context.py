"""What every piece of the step machine shares: the answer of a visit, its context, and names.

A leaf module: it imports nothing else of :mod:`pipeline` but the budget's protocol, so the
submitting, polling and operator modules can all depend on it without depending on each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from alma import AlmaClient
from config.settings import Settings
from pipeline.budget import JobBudget
from store.models import Run, RunState, utcnow

__all__ = [
    "Next",
    "PipelineContext",
    "budget_member",
    "instance_is_ours",
    "job_name_for",
    "poll_countdown",
    "touch_run",
]


@dataclass(frozen=True)
class Next:
    """What the task should do after one visit."""

    action: str  # "continue" (step done: next link), "retry" (visit again in countdown s), "stop"
    countdown: float = 0.0
    reason: str | None = None

    @classmethod
    def cont(cls) -> Next:
        return cls("continue")

    @classmethod
    def retry(cls, countdown: float, reason: str | None = None) -> Next:
        return cls("retry", countdown, reason)

    @classmethod
    def stop(cls, reason: str) -> Next:
        return cls("stop", 0.0, reason)


@dataclass
class PipelineContext:
    """Everything a visit needs: the database, Alma, the settings, Alma's job budget, a clock."""

    engine: Engine
    alma: AlmaClient
    settings: Settings
    budget: JobBudget
    now: Callable[[], datetime] = utcnow

    @property
    def submit_grace(self) -> timedelta:
        """How long a SUBMITTING step is left to the worker posting it before others look again."""
        return timedelta(seconds=self.settings.alma_timeout_seconds * 3 + 30)


def job_name_for(run: Run, kind: str) -> str:
    """The unique job name we send, by which a lost submission is found in the instance list."""
    return f"handles run {run.id} {kind} - set {run.set_id}"


def instance_is_ours(instance_name: str | None, job_name: str) -> bool:
    """Whether an instance in Alma's list is the one we posted as ``job_name``.

    The one place recovery decides "is this instance ours?": change it here (and only here) to
    accept another naming of Alma's.
    """
    return instance_name == job_name


def budget_member(step_id: int | None) -> str:
    """A step's name in Alma's job budget."""
    return f"step:{step_id}"


def poll_countdown(settings: Settings, polls: int) -> float:
    """Adaptive backoff: POLL_MIN_SECONDS rising ×1.5 per poll up to POLL_MAX_SECONDS."""
    return float(min(settings.poll_max_seconds, settings.poll_min_seconds * (1.5 ** max(0, polls))))


def touch_run(
    session: Session, run: Run, state: RunState | None = None, wait_reason: str | None = None
) -> None:
    """The run beats (and changes state, and says why it waits, or that it no longer waits)."""
    now = utcnow()
    if state is not None:
        run.state = state
    run.wait_reason = wait_reason
    run.heartbeat_at = run.updated_at = now
    session.add(run)
