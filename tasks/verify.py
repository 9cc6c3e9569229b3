"""Nightly re-verification tasks: ``handles.verify_known`` → ``handles.verify_slice``.

Beat sends ``handles.verify_known`` on ``VERIFY_SCHEDULE``; it plans slices of ``VERIFY_SLICE_SIZE``
known handles and enqueues one ``handles.verify_slice`` per slice, so that no task runs long.
Each dispatch is tied to its schedule slot and takes a lock (:mod:`handles.verify_schedule`), so two
beats started by mistake do not double the work. Only the declared transient errors
(:data:`TRANSIENT`) are retried; anything else fails the task, with its lock released.

Each worker process keeps one resolver client (one keep-alive pool) across tasks
(``workers.resources.resolver``); the worker upgrades the schema once at start-up.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from celery import Task
from kombu.exceptions import OperationalError as BrokerError

from handles import verify_schedule
from handles.verify import known_items, verify_known_slice
from handles.verify_schedule import (
    RUNNING_TTL,
    SLICE_SOFT_LIMIT,
    SlotLocks,
    plan_key,
    schedule_slot,
    slice_key,
)
from workers import resources
from workers.app import app

log = logging.getLogger("handles.tasks")

TRANSIENT: tuple[type[Exception], ...] = (*verify_schedule.TRANSIENT, BrokerError)

__all__ = ["TRANSIENT", "schedule_slot", "verify_known", "verify_slice"]


@app.task(name="handles.verify_known", bind=True, acks_late=True, max_retries=3)
def verify_known(self: Task, slot: str | None = None) -> int:
    """Plan this schedule slot's slices of known handles and enqueue them (once per slot)."""
    settings = resources.settings()
    slot = slot or schedule_slot(settings.verify_schedule, datetime.now(UTC))
    locks = SlotLocks(resources.redis_client())
    key = plan_key(slot)
    if not locks.claim(key, verify_schedule.DONE_TTL):
        log.info("verify_known: slot %s already planned; nothing to do", slot)
        return 0
    size = settings.verify_slice_size
    try:
        with resources.session_scope() as session:
            total = len(known_items(session))
        for offset in range(0, total, size):
            verify_slice.apply_async(kwargs={"slot": slot, "offset": offset, "limit": size})
    except TRANSIENT as exc:
        locks.release(key)  # let a retry (or the other beat's dispatch) plan it
        raise self.retry(countdown=60, exc=exc) from None
    except BaseException:
        locks.release(key)
        raise
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
def verify_slice(self: Task, slot: str, offset: int, limit: int) -> dict[str, Any] | None:
    """Re-verify one slice of known handles, once per schedule slot."""
    locks = SlotLocks(resources.redis_client())
    key = slice_key(slot, offset, limit)
    if not locks.claim(key, RUNNING_TTL):
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
    except TRANSIENT as exc:
        locks.release(key)
        log.warning("verify_slice: slot %s slice %s+%s failed (%s); retrying", slot, offset, limit, exc)
        raise self.retry(countdown=60, exc=exc) from None
    except BaseException:
        locks.release(key)
        raise
    locks.done(key)
    log.info("verify_slice: slot %s slice %s+%s: %s", slot, offset, limit, summary.as_dict())
    return summary.as_dict()
