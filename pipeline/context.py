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
from alma.errors import AlmaQuotaLow, AlmaRateLimited
from config.settings import Settings
from pipeline.budget import JobBudget
from store.models import Run, RunState, utcnow

__all__ = [
    "QUOTA_RECHECK_MAX_SECONDS",
    "QUOTA_WAIT",
    "Next",
    "PipelineContext",
    "budget_member",
    "is_quota_hold",
    "job_name_for",
    "poll_countdown",
    "quota_countdown",
    "touch_run",
]

# Alma's daily API quota spent (DAILY_THRESHOLD), or X-Exl-Api-Remaining under ALMA_REMAINING_FLOOR:
# one wait reason for both, and a visit at the next hour (far below the broker's visibility timeout)
QUOTA_WAIT = "waiting: Alma's daily API quota is used up; calls resume after Alma's midnight reset (UTC)"
QUOTA_RECHECK_MIN_SECONDS = 5 * 60.0
QUOTA_RECHECK_MAX_SECONDS = 45 * 60.0


@dataclass(frozen=True)
class Next:
    """What the task should do after one visit."""

    # "continue" (step done: next link), "retry" (visit again in countdown s), "stop" (the run
    # cannot go on), "yield" (nothing wrong: another chain drives the run; this one ends quietly)
    action: str
    countdown: float = 0.0
    reason: str | None = None
    # also: make step 3's set ahead, in this many seconds (pipeline.profile_set), beside the retry
    prepare_after: float | None = None

    @classmethod
    def cont(cls) -> Next:
        return cls("continue")

    @classmethod
    def retry(
        cls, countdown: float, reason: str | None = None, *, prepare_after: float | None = None
    ) -> Next:
        return cls("retry", countdown, reason, prepare_after)

    @classmethod
    def stop(cls, reason: str) -> Next:
        return cls("stop", 0.0, reason)

    @classmethod
    def yield_to(cls, reason: str) -> Next:
        return cls("yield", 0.0, reason)


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


def budget_member(step_id: int | None) -> str:
    """A step's name in Alma's job budget."""
    return f"step:{step_id}"


def poll_countdown(settings: Settings, polls: int) -> float:
    """When to look at a submitted step's Alma instance again (``polls`` looks so far; 0 right
    after the submission). The one place that decides it.

    Without the webhook: adaptive, POLL_MIN_SECONDS rising ×1.5 per poll up to POLL_MAX_SECONDS.
    With it (ALMA_WEBHOOK_SECRET set): Alma's JOB_END event ends the step, so polling is only the
    fallback for a lost delivery (Alma retries one only after hours): every
    WEBHOOK_FALLBACK_POLL_SECONDS, never stopping.
    """
    if settings.alma_webhook_secret is not None and settings.alma_webhook_secret.get_secret_value():
        return float(settings.webhook_fallback_poll_seconds)
    return float(min(settings.poll_max_seconds, settings.poll_min_seconds * (1.5 ** max(0, polls))))


def is_quota_hold(exc: BaseException) -> bool:
    """Whether an Alma error means the day's API quota is spent: the run holds, it does not fail."""
    if isinstance(exc, AlmaRateLimited):
        return exc.daily
    return isinstance(exc, AlmaQuotaLow)


def quota_countdown(now: datetime) -> float:
    """Seconds to the next full hour (UTC), kept between 5 and 45 minutes."""
    next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    seconds = (next_hour - now).total_seconds()
    return max(QUOTA_RECHECK_MIN_SECONDS, min(QUOTA_RECHECK_MAX_SECONDS, seconds))


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
