"""The client's one retry policy for seconds-long blips; Celery handles longer outages.

Two budgets. Transport blips and 5xx get ``attempts`` tries in all. Alma's per-second limit
(``429 PER_SECOND_THRESHOLD``) is weather, not failure: the limit is shared by every application of
the institution, so bursts are normal. It is retried with jittered backoff (honouring
``Retry-After``) for up to ``throttle_patience`` seconds, and only then fails with one line saying
for how long Alma kept refusing. The daily threshold is never retried here. Every retry goes
through the client's shared :class:`~alma.ratelimit.RateLimiter` again, so no retry multiplies
requests beyond the institution's pace.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from alma.errors import AlmaConnectError, AlmaRateLimited, AlmaTransportError, AlmaUnavailable

__all__ = ["AlmaThrottled", "Patience", "RetryPolicy", "is_throttled", "is_transient", "never_landed"]

log = logging.getLogger("alma.client")
T = TypeVar("T")


def is_throttled(exc: BaseException) -> bool:
    """Alma's per-second limit (not the daily one): wait and try again."""
    return isinstance(exc, AlmaRateLimited) and not exc.daily


def is_transient(exc: BaseException) -> bool:
    """Worth retrying a safe request: transport blips, 5xx, and the per-second (not daily) limit."""
    if isinstance(exc, AlmaRateLimited):
        return not exc.daily
    return isinstance(exc, AlmaTransportError | AlmaUnavailable)


def never_landed(exc: BaseException) -> bool:
    """Known not to have been acted on: no connection made, or refused by the per-second limit."""
    if isinstance(exc, AlmaRateLimited):
        return not exc.daily
    return isinstance(exc, AlmaConnectError)


class AlmaThrottled(AlmaRateLimited):
    """Alma answered ``PER_SECOND_THRESHOLD`` for longer than the client's patience."""

    def __init__(self, last: AlmaRateLimited, seconds: float) -> None:
        super().__init__(
            last.status_code,
            last.error_code,
            last.error_message,
            last.tracking_id,
            operation=last.operation,
            retry_after=last.retry_after,
        )
        self.seconds = seconds
        where = f"{last.operation}: " if last.operation else ""
        self.args = (
            f"{where}Alma kept refusing for {seconds:.0f} s: too many requests per second "
            "(PER_SECOND_THRESHOLD, a limit shared by the whole institution); try again later",
        )

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries for blips, jittered exponential waits from ``initial`` up to ``maximum`` s.

    Per-second 429s have their own budget: ``throttle_patience`` seconds of jittered backoff from
    ``throttle_initial`` up to ``throttle_maximum`` (a ``Retry-After`` lengthens the wait). ``sleep``
    and ``clock`` are injectable: tests pass ``sleep=lambda s: None`` and never actually wait (the
    patience then counts the waits it would have made).
    """

    attempts: int = 4
    initial: float = 0.5
    maximum: float = 8.0
    jitter: float = 0.5
    throttle_patience: float = 60.0
    throttle_initial: float = 0.25
    throttle_maximum: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def wait_seconds(self, attempt: int, exc: BaseException | None = None) -> float:
        """How long to wait after failed attempt number ``attempt`` (1-based) of a blip."""
        seconds = min(self.maximum, self.initial * 2 ** (attempt - 1) + random.uniform(0, self.jitter))
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            seconds = max(seconds, min(float(retry_after), self.maximum))
        return seconds

    def throttle_wait(self, refusal: int, exc: BaseException | None = None) -> float:
        """How long to wait after per-second refusal number ``refusal`` (1-based): jittered, capped."""
        ceiling = min(self.throttle_maximum, self.throttle_initial * 2 ** (refusal - 1))
        seconds = ceiling * random.uniform(0.5, 1.0)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            seconds = max(seconds, float(retry_after))
        return seconds

    def pause(self, attempt: int, exc: BaseException | None = None) -> None:
        """Sleep before the next attempt."""
        self.sleep(self.wait_seconds(attempt, exc))

    def patience(self) -> Patience:
        """A fresh budget for one call."""
        return Patience(self)

    def call(self, func: Callable[..., T], *args: Any, idempotent: bool = True, **kwargs: Any) -> T:
        """``func(*args, **kwargs)`` under the policy; safe calls retry transient errors, others
        only failures known not to have landed (no connection, per-second 429)."""
        predicate = is_transient if idempotent else never_landed
        budget = self.patience()
        while True:
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                if not predicate(exc):
                    raise
                budget.wait_or_raise(exc)


class Patience:
    """The retry budget of one call: counts blips, and times the per-second refusals."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.failures = 0
        self.refusals = 0
        self.refused_since: float | None = None
        self.waited = 0.0

    def refused_for(self) -> float:
        """Seconds since the first per-second refusal (at least the time spent waiting)."""
        if self.refused_since is None:
            return 0.0
        return max(self.policy.clock() - self.refused_since, self.waited)

    def next_wait(self, exc: BaseException) -> float | None:
        """Seconds to wait before trying again after ``exc``, or None when the budget is spent."""
        policy = self.policy
        if is_throttled(exc):
            if self.refused_since is None:
                self.refused_since = policy.clock()
            self.refusals += 1
            left = policy.throttle_patience - self.refused_for()
            if left <= 0:
                return None
            wait = min(policy.throttle_wait(self.refusals, exc), left)
            self.waited += wait
            return wait
        self.failures += 1
        if self.failures >= policy.attempts:
            return None
        return policy.wait_seconds(self.failures, exc)

    def wait_or_raise(self, exc: Exception) -> None:
        """Sleep before the next try, or raise: ``exc`` itself, or :class:`AlmaThrottled`."""
        wait = self.next_wait(exc)
        if wait is None:
            if isinstance(exc, AlmaRateLimited) and is_throttled(exc) and self.refusals > 1:
                raise AlmaThrottled(exc, self.refused_for()) from exc
            raise exc
        log.warning("Alma call failed (%s); trying again in %.1f s", exc, wait)
        self.policy.sleep(wait)
