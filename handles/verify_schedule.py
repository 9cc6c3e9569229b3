"""Once-per-slot nightly re-verification: schedule slots and the Redis locks that tie work to them.

Two beats started by mistake (peers-and-pitfalls §3) must not double the work: every dispatch is
tied to its *schedule slot* (the crontab time it belongs to, computed the same way by every beat),
and the plan and each slice take a Redis ``SET NX`` lock keyed by slot (and slice). A slice's lock
says "running" (expiring soon after the task's time limit, so a dead worker's slice is redone when
its message is redelivered) and then "done" (kept for days). Without Redis (embedded broker) there
is one beat and no redbeat, and no lock is taken.

Plain code (no Celery): the tasks in ``tasks/verify.py`` call it and map its errors to retries.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import redis.exceptions
import sqlalchemy.exc

if TYPE_CHECKING:
    import redis

SLICE_SOFT_LIMIT = 600  # seconds; a slice of 500 at 8 × 10/s takes about a minute
RUNNING_TTL = SLICE_SOFT_LIMIT + 300
DONE_TTL = 3 * 24 * 3600
LOCK_PREFIX = "handles:verify"

# The database, Redis or the network briefly away: worth another try later. Anything else is a bug.
TRANSIENT: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    httpx.TransportError,
    OSError,
)

_NAMES = {
    "sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip


def _number(text: str, expr: str) -> int:
    try:
        return _NAMES[text.lower()] if text.lower() in _NAMES else int(text)
    except ValueError:
        raise ValueError(f"VERIFY_SCHEDULE {expr!r}: {text!r} is not a number") from None


def cron_field(text: str, low: int, high: int, expr: str) -> set[int]:
    """The values a crontab field allows: ``*``, ``n``, ``a-b``, ``*/s``, ``a-b/s``, comma lists, names."""
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = _number(step_text, expr) if step_text else 1
        if span == "*":
            first, last = low, high
        elif "-" in span:
            a, b = span.split("-", 1)
            first, last = _number(a, expr), _number(b, expr)
        else:
            first = _number(span, expr)
            last = high if step_text else first
        if step < 1 or first < low or last > high or first > last:
            raise ValueError(f"VERIFY_SCHEDULE {expr!r}: {part!r} is out of range {low}-{high}")
        values.update(range(first, last + 1, step))
    return values


def schedule_slot(expr: str, now: datetime) -> str:
    """The latest time at or before ``now`` (UTC) that the crontab ``expr`` fires, as ``YYYY-MM-DDTHH:MMZ``."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"VERIFY_SCHEDULE {expr!r}: five fields expected (minute hour day month weekday)")
    minutes = cron_field(fields[0], 0, 59, expr)
    hours = cron_field(fields[1], 0, 23, expr)
    days = cron_field(fields[2], 1, 31, expr)
    months = cron_field(fields[3], 1, 12, expr)
    weekdays = {d % 7 for d in cron_field(fields[4], 0, 7, expr)}  # 0 and 7 are both Sunday
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    t = now.replace(second=0, microsecond=0)
    for _ in range(100_000):
        if t.month not in months:
            t = t.replace(day=1, hour=0, minute=0) - timedelta(minutes=1)
        elif t.day not in days or t.isoweekday() % 7 not in weekdays:
            t = t.replace(hour=0, minute=0) - timedelta(minutes=1)
        elif t.hour not in hours:
            t = t.replace(minute=0) - timedelta(minutes=1)
        elif t.minute not in minutes:
            t -= timedelta(minutes=1)
        else:
            return t.strftime("%Y-%m-%dT%H:%MZ")
    raise ValueError(f"VERIFY_SCHEDULE {expr!r} never fires")


def plan_key(slot: str) -> str:
    return f"{LOCK_PREFIX}:{slot}:plan"


def slice_key(slot: str, offset: int, limit: int) -> str:
    return f"{LOCK_PREFIX}:{slot}:slice:{offset}:{limit}"


class SlotLocks:
    """``SET NX`` locks in the shared Redis; with no Redis (one beat, embedded broker) every claim wins."""

    def __init__(self, client: redis.Redis | None) -> None:
        self.client = client

    def claim(self, key: str, ttl: int) -> bool:
        if self.client is None:
            return True
        return bool(self.client.set(key, "running", nx=True, ex=ttl))

    def release(self, key: str) -> None:
        """Let a retry (or the other beat's dispatch) take the work again."""
        if self.client is not None:
            self.client.delete(key)

    def done(self, key: str) -> None:
        if self.client is not None:
            self.client.set(key, "done", ex=DONE_TTL)
