"""Alma's job-submission budget, shared by every worker process.

Alma runs an API-submitted job only while at most 3 API-started jobs are running and at most 5
runs of that job started in the past hour (402222/402223, alma-api.md §2). Submitting into a spent
budget wastes a call and, worse, an hourly run. So each submission first reserves a slot here:

* ``running``: hash member → reservation time; a member holds a slot from reservation until its
  step ends (released) or the reservation is cancelled (Alma refused it).
* ``hourly:<job>``: sorted set of members scored by submission time; counts against 5/hour.
* ``waiting``: sorted set of members scored by when they first asked; a member may take a free
  slot only when no earlier waiter could take it, so runs wait in order.

All three checks and the reservation happen in one Lua script, so two workers cannot both take the
last slot. :class:`LocalJobBudget` is the same logic for one process (embedded-broker mode).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["BudgetDecision", "JobBudget", "LocalJobBudget", "RedisJobBudget"]

STALE_WAITER_SECONDS = 600  # a waiter that has not asked again for this long has gone away
STALE_RUNNING_SECONDS = 2 * 24 * 3600  # beyond any step deadline: a slot leaked by a lost run


@dataclass(frozen=True)
class BudgetDecision:
    granted: bool
    reason: str | None = None  # why not, in words an operator understands
    position: int | None = None  # place in the queue of waiters (1 = next)


class JobBudget(Protocol):
    def try_reserve(self, member: str, job_id: str) -> BudgetDecision: ...

    def release(self, member: str) -> None: ...

    def cancel(self, member: str, job_id: str) -> None: ...


_RESERVE = """
local running, hourly, waiting, seen = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local member, now = ARGV[1], tonumber(ARGV[2])
local max_running, max_hourly = tonumber(ARGV[3]), tonumber(ARGV[4])
local stale_waiter, stale_running = tonumber(ARGV[5]), tonumber(ARGV[6])

if redis.call('HEXISTS', running, member) == 1 then return {1, 0, 0, 0} end

-- forget waiters that stopped asking and slots leaked by runs that vanished
for _, m in ipairs(redis.call('ZRANGE', waiting, 0, -1)) do
  local last = tonumber(redis.call('HGET', seen, m) or '0')
  if last < now - stale_waiter then redis.call('ZREM', waiting, m); redis.call('HDEL', seen, m) end
end
local entries = redis.call('HGETALL', running)
for i = 1, #entries, 2 do
  if tonumber(entries[i + 1]) < now - stale_running then redis.call('HDEL', running, entries[i]) end
end
redis.call('ZREMRANGEBYSCORE', hourly, '-inf', now - 3600)

redis.call('ZADD', waiting, 'NX', now, member)
redis.call('HSET', seen, member, now)
local rank = redis.call('ZRANK', waiting, member)
local in_use = redis.call('HLEN', running)
local free = max_running - in_use
local started = redis.call('ZCARD', hourly)
if rank < free and started < max_hourly then
  redis.call('HSET', running, member, now)
  redis.call('ZADD', hourly, now, member)
  redis.call('ZREM', waiting, member)
  redis.call('HDEL', seen, member)
  return {1, 0, in_use, started}
end
local oldest = redis.call('ZRANGE', hourly, 0, 0, 'WITHSCORES')
local retry_at = 0
if #oldest > 0 then retry_at = tonumber(oldest[2]) + 3600 end
return {0, rank + 1, in_use, started, tostring(retry_at)}
"""


def _reason(
    position: int, in_use: int, started: int, max_running: int, max_hourly: int, job_id: str, retry_at: float
) -> str:
    if started >= max_hourly:
        wait = max(0, int(retry_at - time.time())) if retry_at else 0
        return (
            f"waiting: job {job_id} already started {started} times in the past hour "
            f"(Alma allows {max_hourly}); next slot in about {wait // 60 + 1} min; queue position {position}"
        )
    if in_use >= max_running:
        return (
            f"waiting: {in_use} API-started Alma jobs are running (Alma allows {max_running}); "
            f"queue position {position}"
        )
    return f"waiting for earlier runs to submit first; queue position {position}"


class RedisJobBudget:
    """The budget in Redis, for all worker processes together."""

    def __init__(
        self, redis: Any, *, max_running: int = 3, max_per_hour: int = 5, prefix: str = "handles:alma:budget"
    ) -> None:
        self._redis = redis
        self._max_running = max_running
        self._max_per_hour = max_per_hour
        self._prefix = prefix
        self._script = redis.register_script(_RESERVE)

    def _keys(self, job_id: str) -> list[str]:
        p = self._prefix
        return [f"{p}:running", f"{p}:hourly:{job_id}", f"{p}:waiting", f"{p}:seen"]

    def try_reserve(self, member: str, job_id: str) -> BudgetDecision:
        granted, position, in_use, started, *rest = self._script(
            keys=self._keys(job_id),
            args=[
                member,
                time.time(),
                self._max_running,
                self._max_per_hour,
                STALE_WAITER_SECONDS,
                STALE_RUNNING_SECONDS,
            ],
        )
        if granted:
            return BudgetDecision(True)
        retry_at = float(rest[0]) if rest else 0.0
        return BudgetDecision(
            False,
            _reason(
                int(position),
                int(in_use),
                int(started),
                self._max_running,
                self._max_per_hour,
                job_id,
                retry_at,
            ),
            int(position),
        )

    def release(self, member: str) -> None:
        """The step ended: its slot is free (its hourly start still counts)."""
        self._redis.hdel(f"{self._prefix}:running", member)

    def cancel(self, member: str, job_id: str) -> None:
        """Alma refused the submission: give back the slot and the hourly start."""
        pipe = self._redis.pipeline()
        pipe.hdel(f"{self._prefix}:running", member)
        pipe.zrem(f"{self._prefix}:hourly:{job_id}", member)
        pipe.execute()


class LocalJobBudget:
    """The same budget for a single process (no Redis: the embedded-broker demo)."""

    def __init__(self, *, max_running: int = 3, max_per_hour: int = 5) -> None:
        self._lock = threading.Lock()
        self._max_running = max_running
        self._max_per_hour = max_per_hour
        self._running: dict[str, float] = {}
        self._hourly: dict[str, dict[str, float]] = {}
        self._waiting: dict[str, float] = {}

    def try_reserve(self, member: str, job_id: str) -> BudgetDecision:
        now = time.time()
        with self._lock:
            if member in self._running:
                return BudgetDecision(True)
            hourly = {m: t for m, t in self._hourly.get(job_id, {}).items() if t > now - 3600}
            self._hourly[job_id] = hourly
            self._waiting.setdefault(member, now)
            order = sorted(self._waiting, key=self._waiting.__getitem__)
            rank = order.index(member)
            free = self._max_running - len(self._running)
            if rank < free and len(hourly) < self._max_per_hour:
                self._running[member] = now
                hourly[member] = now
                del self._waiting[member]
                return BudgetDecision(True)
            retry_at = min(hourly.values()) + 3600 if hourly else 0.0
            return BudgetDecision(
                False,
                _reason(
                    rank + 1,
                    len(self._running),
                    len(hourly),
                    self._max_running,
                    self._max_per_hour,
                    job_id,
                    retry_at,
                ),
                rank + 1,
            )

    def release(self, member: str) -> None:
        with self._lock:
            self._running.pop(member, None)

    def cancel(self, member: str, job_id: str) -> None:
        with self._lock:
            self._running.pop(member, None)
            self._hourly.get(job_id, {}).pop(member, None)
