"""Before the jobs: where each expected handle points now (field note 2).

Preflight asks the resolver about every expected handle of the run, with the bounded concurrency
and the retries verification uses, and keeps the answer per record (``Record.verification_before``,
``Record.target_before``) so that the report shows before → after, including handles that already
existed and pointed elsewhere. A resolver that is down does not hold the run up: when the first
lookups all fail, the rest are recorded ``error`` without asking, and the run goes on.
"""

from __future__ import annotations

import logging
from collections import Counter
from itertools import islice
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from handles.resolver import BlockingResolver
from handles.verdict import VerifyItem, VerifyResult
from handles.verify import run_verification
from store.db import session_scope
from store.models import Record, Verification

log = logging.getLogger("handles.pipeline")

__all__ = ["PROBE", "check_before"]

PROBE = 20  # lookups that must not all fail before the rest are asked
RESOLVER_DOWN = "the resolver did not answer the first lookups; not asked before the jobs"
# fewer, shorter retries than the nightly verification: a resolver that is down must not stall
# the run; a lookup is still retried with backoff before it is concluded "error"
CLIENT_OPTIONS: dict[str, object] = {"retries": 2, "backoff": 0.2}


def check_before(
    *,
    engine: Engine,
    settings: Any,
    run_id: int,
    resolver: BlockingResolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    client_options: dict[str, object] | None = None,
) -> Counter[str]:
    """Resolve every expected handle of run ``run_id`` and store the answer; counts per value."""
    with session_scope(engine) as session:
        rows = session.exec(
            select(Record.id, Record.expected_handle, Record.mms_id, Record.suppressed)
            .where(Record.run_id == run_id, col(Record.expected_handle).is_not(None))
            .order_by(col(Record.position), col(Record.id))
        ).all()
    items = [
        VerifyItem(handle=h, mms_id=mms, run_id=run_id, record_id=rid, suppressed=bool(sup))
        for rid, h, mms, sup in rows
        if h is not None
    ]
    counts: Counter[str] = Counter()

    def sink(batch: list[VerifyResult]) -> None:
        _store(engine, [(r.item.record_id, r.verification, r.target) for r in batch])
        counts.update(r.verification for r in batch)

    def verify(chunk: list[VerifyItem]) -> None:
        run_verification(
            chunk,
            settings=settings,
            sink=sink,
            resolver=resolver,
            transport=transport,
            client_options={**CLIENT_OPTIONS, **(client_options or {})},
        )

    source = iter(items)
    probe = list(islice(source, PROBE))
    verify(probe)
    if probe and counts[Verification.ERROR.value] == len(probe):
        rest = list(source)
        _store(engine, [(i.record_id, Verification.ERROR.value, None) for i in rest])
        counts[Verification.ERROR.value] += len(rest)
        log.warning("run %s: before the jobs: %s (%s handles)", run_id, RESOLVER_DOWN, len(items))
    else:
        verify(list(source))
    log.info("run %s: before the jobs: %s", run_id, dict(counts))
    return counts


def _store(engine: Engine, values: list[tuple[int | None, str, str | None]]) -> None:
    updates = [
        {"id": rid, "verification_before": verdict, "target_before": target}
        for rid, verdict, target in values
        if rid is not None
    ]
    if not updates:
        return
    with session_scope(engine) as session:
        for start in range(0, len(updates), 500):
            session.execute(update(Record), updates[start : start + 500])
