"""Pace Alma calls across all worker processes, and watch the daily quota.

:class:`RateLimiter` is a GCRA (generic cell rate algorithm) limiter: one Redis key holds the
"theoretical arrival time" of the next request, updated in a WATCH/MULTI transaction against Redis's
own clock, so every process sharing the Redis shares one budget (default 25 requests/second). Without
Redis it keeps the same state in the process. A transaction (not a Lua script) keeps it runnable on
fakeredis, which has no Lua here.

:class:`QuotaGuard` remembers the last ``X-Exl-Api-Remaining`` (in Redis when there is one) and raises
:class:`~alma.errors.AlmaQuotaLow` *before* a call when it is under the floor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from alma.errors import AlmaQuotaLow

__all__ = ["QuotaGuard", "RateLimiter"]

log = logging.getLogger(__name__)


class RateLimiter:
    """At most ``rate`` acquisitions per second, shared through ``redis`` when given.

    ``acquire()`` blocks with short sleeps until a slot is free. Redis errors fall back to the
    process-local budget (logged) for ``REDIS_RETRY_SECONDS``, so a Redis blip does not stop Alma work.
    """

    REDIS_RETRY_SECONDS = 30

    def __init__(
        self,
        rate: float = 25.0,
        *,
        redis: Any = None,
        key: str = "alma:ratelimit",
        burst: int = 1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        self.rate = rate
        self.interval = 1.0 / rate
        self.tolerance = self.interval * max(0, burst - 1)
        self.redis = redis
        self.key = key
        self._sleep = sleep
        self._lock = threading.Lock()
        self._local_tat = 0.0
        self._redis_down_until = 0.0

    def __repr__(self) -> str:
        where = "redis" if self.redis is not None else "local"
        return f"RateLimiter(rate={self.rate}, {where})"

    def acquire(self) -> float:
        """Wait for a slot; returns the seconds spent waiting."""
        waited = 0.0
        while True:
            delay = self.try_acquire()
            if delay <= 0:
                return waited
            pause = min(delay, 0.25)
            self._sleep(pause)
            waited += pause

    def try_acquire(self) -> float:
        """Take a slot if one is free (returns 0), else the seconds until one will be."""
        if self.redis is not None and time.monotonic() >= self._redis_down_until:
            try:
                return self._try_redis()
            except Exception as exc:  # noqa: BLE001 - any Redis failure: keep pacing locally
                if type(exc).__module__.split(".")[0] != "redis":
                    raise
                self._redis_down_until = time.monotonic() + self.REDIS_RETRY_SECONDS
                log.warning(
                    "Alma rate limiter: Redis unavailable (%s); pacing this process alone for %ds",
                    exc,
                    self.REDIS_RETRY_SECONDS,
                )
        return self._try_local()

    def _try_local(self) -> float:
        with self._lock:
            now = time.monotonic()
            tat = max(self._local_tat, now)
            if tat - now > self.tolerance:
                return tat - now - self.tolerance
            self._local_tat = tat + self.interval
            return 0.0

    def _try_redis(self) -> float:
        from redis.exceptions import WatchError

        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self.key)
                    seconds, micros = pipe.time()
                    now = float(seconds) + float(micros) / 1e6
                    stored = pipe.get(self.key)
                    tat = max(float(stored) if stored else 0.0, now)
                    if tat - now > self.tolerance:
                        pipe.unwatch()
                        return tat - now - self.tolerance
                    new_tat = tat + self.interval
                    pipe.multi()
                    pipe.set(self.key, repr(new_tat), px=int((new_tat - now) * 1000) + 1000)
                    pipe.execute()
                    return 0.0
                except WatchError:
                    continue


class QuotaGuard:
    """Track ``X-Exl-Api-Remaining``; refuse calls while it is under ``floor`` (0 = never refuse).

    The remembered value expires after ``ttl`` seconds so that, once the quota resets at midnight,
    the next call goes through and brings the fresh figure back. INFO-logs the figure at most once
    per ``log_every`` seconds (across processes when Redis is shared).
    """

    def __init__(
        self,
        floor: int = 0,
        *,
        redis: Any = None,
        key: str = "alma:quota:remaining",
        ttl: int = 600,
        log_every: int = 60,
    ) -> None:
        self.floor = floor
        self.redis = redis
        self.key = key
        self.ttl = ttl
        self.log_every = log_every
        self._local: tuple[int, float] | None = None
        self._last_log = float("-inf")

    def __repr__(self) -> str:
        return f"QuotaGuard(floor={self.floor}, remaining={self.remaining()})"

    def remaining(self) -> int | None:
        """The last figure Alma reported (None when unknown or expired)."""
        if self.redis is not None:
            value = self.redis.get(self.key)
            return int(value) if value is not None else None
        if self._local is None or time.monotonic() - self._local[1] > self.ttl:
            return None
        return self._local[0]

    def check(self) -> None:
        """Raise :class:`AlmaQuotaLow` when the last known figure is under the floor."""
        if self.floor <= 0:
            return
        remaining = self.remaining()
        if remaining is not None and remaining < self.floor:
            raise AlmaQuotaLow(remaining, self.floor)

    def record(self, header: str | None) -> None:
        """Remember the value of an ``X-Exl-Api-Remaining`` header (ignored when absent or not a number)."""
        try:
            remaining = int(str(header).strip())
        except ValueError:
            return
        if self.redis is not None:
            self.redis.set(self.key, remaining, ex=self.ttl)
        else:
            self._local = (remaining, time.monotonic())
        if self._should_log():
            log.info("Alma daily API quota: %d calls left", remaining)

    def _should_log(self) -> bool:
        if self.redis is not None:
            return bool(self.redis.set(self.key + ":logged", 1, nx=True, ex=self.log_every))
        now = time.monotonic()
        if now - self._last_log >= self.log_every:
            self._last_log = now
            return True
        return False
