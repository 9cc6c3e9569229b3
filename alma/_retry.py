"""The client's one retry policy for seconds-long blips (tenacity); Celery handles longer outages."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tenacity import Retrying, before_sleep_log, retry_if_exception, stop_after_attempt

from alma.errors import AlmaConnectError, AlmaRateLimited, AlmaTransportError, AlmaUnavailable

__all__ = ["RetryPolicy", "is_transient", "never_landed"]

log = logging.getLogger("alma.client")


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


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all, jittered exponential waits from ``initial`` up to ``maximum`` seconds.

    A 429's ``Retry-After`` lengthens the wait. Tests pass ``sleep=lambda s: None`` or tiny waits.
    """

    attempts: int = 4
    initial: float = 0.5
    maximum: float = 8.0
    jitter: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def wait_seconds(self, attempt: int, exc: BaseException | None = None) -> float:
        """How long to wait after failed attempt number ``attempt`` (1-based)."""
        # tenacity's wait_exponential_jitter, computed directly so run_job's own loop can use it too
        seconds = min(self.maximum, self.initial * 2 ** (attempt - 1) + random.uniform(0, self.jitter))
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            seconds = max(seconds, min(float(retry_after), self.maximum))
        return seconds

    def pause(self, attempt: int, exc: BaseException | None = None) -> None:
        """Sleep before the next attempt."""
        self.sleep(self.wait_seconds(attempt, exc))

    def retrying(self, *, idempotent: bool = True) -> Retrying:
        """A tenacity ``Retrying``: safe requests retry transient errors; others only never-landed ones."""
        predicate = is_transient if idempotent else never_landed
        return Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=lambda state: self.wait_seconds(
                state.attempt_number, state.outcome.exception() if state.outcome else None
            ),
            retry=retry_if_exception(predicate),
            reraise=True,
            sleep=self.sleep,
            before_sleep=before_sleep_log(log, logging.WARNING),
        )
