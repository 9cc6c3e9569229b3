"""The beat scheduler: RedBeat that outlives a Redis restart instead of dying with it.

RedBeat (2.4, the newest release; its issues #230 and #285 are open) lets an exception in
``tick`` end the process: a Redis that restarted has lost the lock key, so extending it raises
``LockNotOwnedError``; a Redis that is down raises ``ConnectionError``; a beat that started
while Redis was down has no lock at all (``AttributeError`` on ``None``). Here each of those makes
the beat wait for Redis (backing off up to :data:`MAX_WAIT` seconds), take the lock again (or wait
its turn when another beat took it first), put the schedule back (a Redis that restarted empty lost
it) and go on ticking. The supervisor (docker-compose, systemd) stays the second line.

Each pass also touches a heartbeat file (the schedule file's name plus ``.heartbeat``, see
:func:`heartbeat_path`); ``python -m workers.health beat SCHEDULE`` is the container's health
check. It is touched while waiting for Redis too: restarting a beat cannot bring Redis back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis.exceptions
from redbeat.schedulers import LUA_EXTEND_TO_SCRIPT, RedBeatScheduler, get_redis

from workers.health import heartbeat_path, touch, warn_unless_noeviction

log = logging.getLogger("handles.beat")

T = TypeVar("T")

#: the longest pause between two looks at a Redis that does not answer
MAX_WAIT = 30.0
#: what a Redis that went away, or came back empty, raises
REDIS_DOWN: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)
#: what ends RedBeat's tick when Redis restarted or went away
TICK_LOST: tuple[type[BaseException], ...] = (redis.exceptions.LockError, *REDIS_DOWN)


class SurvivingRedBeatScheduler(RedBeatScheduler):
    """RedBeat whose tick survives a Redis restart (see the module's docstring)."""

    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        # set before RedBeat's __init__, which reads the schedule from Redis (setup_schedule)
        self.heartbeat = heartbeat_path(kwargs.get("schedule_filename"))
        self._sleep: Callable[[float], None] = time.sleep
        super().__init__(app, *args, **kwargs)

    # -- RedBeat's entry points, made patient ---------------------------------------------------

    def setup_schedule(self) -> None:
        # a beat started while Redis is down waits for it instead of exiting
        self._until_redis_answers(super().setup_schedule, "to read the schedule")
        url = self.app.conf.get("redbeat_redis_url")
        warn_unless_noeviction(lambda: get_redis(self.app), url or "", who="beat")

    def tick(self, min: Callable[..., float] = min, **kwargs: Any) -> float:
        if self.lock_key and self.lock is None:
            # the lock could not be taken at start-up (Redis was down): take it now
            log.warning("beat: holds no lock yet; waiting for Redis to take it")
            self._recover()
        try:
            interval = float(super().tick(min=min, **kwargs))
        except TICK_LOST as exc:
            log.warning(
                "beat: lost Redis or its lock (%s); waiting for Redis, then taking the lock again",
                type(exc).__name__,
            )
            self._recover()
            interval = 0.0  # tick again at once: what fell due while Redis was away is sent now
        touch(self.heartbeat)
        return interval

    def close(self) -> None:
        try:
            super().close()
        except TICK_LOST as exc:
            # shutting down while Redis is away: the lock expires by itself (redbeat_lock_timeout)
            log.warning("beat: could not release the lock (%s); it expires by itself", type(exc).__name__)
            self.lock = None

    # -- recovery ---------------------------------------------------------------------------------

    def _recover(self) -> None:
        self._until_redis_answers(self._take_lock, "to take the beat lock again")
        # a Redis that restarted empty lost the schedule (and its last-run times): put it back
        self.setup_schedule()
        log.warning("beat: Redis answers again; lock held, schedule in place, ticking")

    def _take_lock(self) -> None:
        if not self.lock_key:
            return
        if self.lock is not None and self.lock.owned():
            self.lock.extend(int(self.lock_timeout))  # only the connection dropped: still ours
            return
        client = get_redis(self.app)
        lock = client.lock(self.lock_key, timeout=self.lock_timeout, sleep=min(self.max_interval, 5.0))
        lock.lua_extend = client.register_script(LUA_EXTEND_TO_SCRIPT)  # as RedBeat does at start-up
        while not lock.acquire(blocking=True, blocking_timeout=self.max_interval):
            # another beat took it while Redis was away: this one waits its turn, alive
            log.info("beat: another beat holds the lock; waiting")
            touch(self.heartbeat)
        log.info("beat: Acquired lock")
        self.lock = lock

    def _until_redis_answers(self, action: Callable[[], T], what: str) -> T:
        wait = 1.0
        while True:
            try:
                return action()
            except REDIS_DOWN as exc:
                log.warning(
                    "beat: Redis does not answer %s (%s); trying again in %.0f s",
                    what,
                    type(exc).__name__,
                    wait,
                )
            touch(self.heartbeat)
            self._sleep(wait)
            wait = min(wait * 2, MAX_WAIT)
