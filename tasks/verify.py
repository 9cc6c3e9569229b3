"""Verification tasks: ``handles.verify_run``, and the nightly ``handles.verify_known`` → ``handles.verify_slice``.

Beat sends ``handles.verify_known`` on ``VERIFY_SCHEDULE``; it plans slices of ``VERIFY_SLICE_SIZE``
known handles and enqueues one ``handles.verify_slice`` per slice, so that no task runs long.
Two beats started by mistake (peers-and-pitfalls §3) must not double the work: every dispatch is
tied to its *schedule slot* (the crontab time it belongs to, computed the same way by every beat),
and the plan and each slice take a Redis ``SET NX`` lock keyed by slot (and slice). A slice's lock
says "running" (expiring soon after the task's time limit, so a dead worker's slice is redone when
its message is redelivered) and then "done" (kept for days). Without Redis (embedded broker) there
is one beat and no redbeat, and no lock is taken.

Each worker process keeps one resolver client (one keep-alive pool) across tasks
(``workers.resources.resolver``); the worker upgrades the schema once at start-up.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from celery.schedules import crontab

from handles.verify import known_items, verify_known_slice, verify_run
from workers import resources
from workers.app import app

log = logging.getLogger("handles.tasks")

SLICE_SOFT_LIMIT = 600  # seconds; a slice of 500 at 8 × 10/s takes about a minute
RUNNING_TTL = SLICE_SOFT_LIMIT + 300
DONE_TTL = 3 * 24 * 3600
LOCK_PREFIX = "handles:verify"


def schedule_slot(expr: str, now: datetime) -> str:
    """The latest time at or before ``now`` (UTC) that the crontab ``expr`` fires, as ``YYYY-MM-DDTHH:MMZ``."""
    minute, hour, day_of_month, month_of_year, day_of_week = expr.split()
    cron = crontab(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
    )
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    t = now.replace(second=0, microsecond=0)
    for _ in range(100_000):
        if t.month not in cron.month_of_year:
            t = t.replace(day=1, hour=0, minute=0) - timedelta(minutes=1)
        elif t.day not in cron.day_of_month or t.isoweekday() % 7 not in cron.day_of_week:
            t = t.replace(hour=0, minute=0) - timedelta(minutes=1)
        elif t.hour not in cron.hour:
            t = t.replace(minute=0) - timedelta(minutes=1)
        elif t.minute not in cron.minute:
            t -= timedelta(minutes=1)
        else:
            return t.strftime("%Y-%m-%dT%H:%MZ")
    raise ValueError(f"VERIFY_SCHEDULE {expr!r} never fires")


def _claim(key: str, ttl: int) -> bool:
    redis = resources.redis_client()
    if redis is None:
        return True
    return bool(redis.set(key, "running", nx=True, ex=ttl))


def _mark(key: str, value: str | None) -> None:
    redis = resources.redis_client()
    if redis is None:
        return
    if value is None:
        redis.delete(key)
    else:
        redis.set(key, value, ex=DONE_TTL)


@app.task(name="handles.verify_known", bind=True, acks_late=True, max_retries=3)
def verify_known(self, slot: str | None = None) -> int:  # type: ignore[no-untyped-def]
    """Plan this schedule slot's slices of known handles and enqueue them (once per slot)."""
    settings = resources.settings()
    slot = slot or schedule_slot(settings.verify_schedule, datetime.now(UTC))
    key = f"{LOCK_PREFIX}:{slot}:plan"
    if not _claim(key, DONE_TTL):
        log.info("verify_known: slot %s already planned; nothing to do", slot)
        return 0
    try:
        with resources.session_scope() as session:
            total = len(known_items(session))
        size = settings.verify_slice_size
        for offset in range(0, total, size):
            verify_slice.apply_async(kwargs={"slot": slot, "offset": offset, "limit": size})
    except Exception as exc:
        _mark(key, None)  # let a retry (or the other beat's dispatch) plan it
        raise self.retry(countdown=60, exc=exc) from None
    slices = -(-total // size)
    log.info("verify_known: slot %s: %s known handles in %s slices of %s", slot, total, slices, size)
    return slices


@app.task(
    name="handles.verify_slice",
    bind=True,
    acks_late=True,
    max_retries=2,
    soft_time_limit=SLICE_SOFT_LIMIT,
    time_limit=SLICE_SOFT_LIMIT + 60,
)
def verify_slice(self, slot: str, offset: int, limit: int) -> dict[str, Any] | None:  # type: ignore[no-untyped-def]
    """Re-verify one slice of known handles, once per schedule slot."""
    key = f"{LOCK_PREFIX}:{slot}:slice:{offset}:{limit}"
    if not _claim(key, RUNNING_TTL):
        log.info("verify_slice: slot %s slice %s+%s already done or running; skipped", slot, offset, limit)
        return None
    try:
        with resources.session_scope() as session:
            summary = verify_known_slice(
                session=session,
                settings=resources.settings(),
                offset=offset,
                limit=limit,
                resolver=resources.resolver(),
            )
    except Exception as exc:
        _mark(key, None)
        log.warning("verify_slice: slot %s slice %s+%s failed (%s); retrying", slot, offset, limit, exc)
        raise self.retry(countdown=60, exc=exc) from None
    _mark(key, "done")
    log.info("verify_slice: slot %s slice %s+%s: %s", slot, offset, limit, summary.as_dict())
    return summary.as_dict()


@app.task(name="handles.verify_run", bind=True, acks_late=True, max_retries=3)
def verify_run_task(self, run_id: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Verify every expected handle of one run (records updated, history written)."""
    try:
        with resources.session_scope() as session:
            summary = verify_run(
                session=session, run_id=run_id, settings=resources.settings(), resolver=resources.resolver()
            )
    except Exception as exc:
        raise self.retry(countdown=60, exc=exc) from None
    return summary.as_dict()
