"""Verification service: does each handle resolve, and to its record's Primo page?

Items are read lazily and at most ``2 × concurrency`` checks are in flight, so memory does not grow
with the list; results are written in batches (:func:`record_checks`) as ``HandleCheck`` history,
and a check that is no longer ``ok`` after an ``ok`` one is flagged as a regression and logged at
WARNING. An ``error`` (the resolver could not answer) is no evidence about the handle, so it is
never a regression and never hides the last conclusive check.

Synchronous entry points for tasks and the pipeline: :func:`verify_run`, :func:`verify_known_slice`.
What one answer means (the verdict, :func:`handles.verdict.judge`) is in :mod:`handles.verdict`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from config.redact import scrub
from config.settings import Settings
from handles.resolver import BlockingResolver, Resolution, ResolverClient
from handles.syntax import handle_key
from handles.verdict import VerifyItem, VerifyResult, VerifySummary, judge
from store.models import HandleCheck, Record, Verification

__all__ = [
    "known_items",
    "make_client",
    "record_checks",
    "regressions",
    "run_verification",
    "verify_items",
    "verify_known_slice",
    "verify_run",
]

log = logging.getLogger("handles.verify")


def make_client(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None, **overrides: object
) -> ResolverClient:
    """A resolver client configured from the ``VERIFY_*`` and ``HANDLE_RESOLVER_URL`` settings."""
    options: dict[str, Any] = {
        "concurrency": settings.verify_concurrency,
        "rate_per_host": settings.verify_rate_per_host,
        "timeout": settings.verify_timeout_seconds,
    }
    options.update(overrides)
    return ResolverClient(settings.handle_resolver_url, transport=transport, **options)


async def verify_items(
    items: Iterable[VerifyItem], *, settings: Settings, client: ResolverClient, window: int | None = None
) -> AsyncIterator[VerifyResult]:
    """Check ``items`` (read lazily), yielding results as they complete; ≤ ``window`` in flight."""
    window = window or client.concurrency * 2
    source = iter(items)
    pending: set[asyncio.Task[VerifyResult]] = set()

    async def one(item: VerifyItem) -> VerifyResult:
        # each handle's verdict inside its own error boundary: one bad value is that handle's error
        try:
            resolution = await client.check(item.handle)
        except Exception as exc:  # noqa: BLE001 - one bad check must not stop the others
            resolution = Resolution(handle=item.handle, status="error", detail=_reason(exc))
        try:
            return judge(item, resolution, settings)
        except Exception as exc:  # noqa: BLE001 - nor one answer that cannot be judged
            return judge(item, Resolution(handle=item.handle, status="error", detail=_reason(exc)), settings)

    def fill() -> None:
        while len(pending) < window:
            item = next(source, None)
            if item is None:
                return
            pending.add(asyncio.ensure_future(one(item)))

    fill()
    try:
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                pending.discard(task)
                yield task.result()
            fill()
    finally:
        for task in pending:
            task.cancel()


def _reason(exc: BaseException) -> str:
    return scrub(f"{type(exc).__name__}: {exc}", limit=300)


def _last_conclusive(session: Session, keys: Sequence[str]) -> dict[str, str]:
    """The latest non-error verification of each handle key, from the history."""
    out: dict[str, str] = {}
    for start in range(0, len(keys), 500):
        chunk = list(keys[start : start + 500])
        latest = (
            select(func.max(HandleCheck.id))
            .where(
                col(HandleCheck.handle_key).in_(chunk), HandleCheck.verification != Verification.ERROR.value
            )
            .group_by(HandleCheck.handle_key)
        )
        rows = session.exec(
            select(HandleCheck.handle_key, HandleCheck.verification).where(col(HandleCheck.id).in_(latest))
        )
        out.update({key: verdict for key, verdict in rows})
    return out


def record_checks(session: Session, results: Sequence[VerifyResult]) -> list[HandleCheck]:
    """Write one ``HandleCheck`` per result (flagging regressions) and update the ``Record`` rows.

    Records are updated by primary key in one bulk statement; ``Record`` objects already loaded in
    ``session`` are not refreshed (re-read them after verifying).
    """
    if not results:
        return []
    previous = _last_conclusive(session, sorted({handle_key(r.handle) for r in results}))
    checks = []
    for result in results:
        key = handle_key(result.handle)
        regression = previous.get(key) == Verification.OK and result.verification in (
            Verification.NOT_FOUND,
            Verification.WRONG_TARGET,
        )
        if regression:
            log.warning(
                "handle regression: %s was ok, now %s (%s)",
                result.handle,
                result.verification,
                result.detail or "",
            )
        checks.append(
            HandleCheck(
                handle=result.handle,
                handle_key=key,
                mms_id=result.item.mms_id,
                run_id=result.item.run_id,
                checked_at=result.checked_at,
                verification=result.verification,
                target=result.target,
                expected_target=result.expected_target,
                latency_ms=result.latency_ms,
                detail=result.detail,
                regression=regression,
            )
        )
    session.add_all(checks)
    updates = [
        {
            "id": r.item.record_id,
            "verification": r.verification,
            "target_url": r.target,
            "verified_at": r.checked_at,
            "updated_at": r.checked_at,
        }
        for r in results
        if r.item.record_id is not None
    ]
    if updates:
        session.execute(update(Record), updates)
    session.flush()
    return checks


Sink = Callable[[list[VerifyResult]], None]


async def _drive(
    items: Iterable[VerifyItem],
    *,
    settings: Settings,
    client: ResolverClient,
    sink: Sink,
    batch_size: int,
    progress: Callable[[VerifyResult], None] | None,
) -> None:
    batch: list[VerifyResult] = []
    async for result in verify_items(items, settings=settings, client=client):
        batch.append(result)
        if progress is not None:
            progress(result)
        if len(batch) >= batch_size:
            # written in a thread, one batch at a time, while the loop keeps the lookups going
            await asyncio.to_thread(sink, batch)
            batch = []
    if batch:
        await asyncio.to_thread(sink, batch)


def run_verification(
    items: Iterable[VerifyItem],
    *,
    settings: Settings,
    sink: Sink,
    resolver: BlockingResolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    batch_size: int = 200,
    progress: Callable[[VerifyResult], None] | None = None,
    client_options: dict[str, object] | None = None,
) -> VerifySummary:
    """Check ``items`` synchronously, handing results to ``sink`` in batches; returns the counts.

    With ``resolver`` its long-lived client is used (a worker process); otherwise a client is made
    for this call from the settings (``transport`` lets tests answer without a network).
    """
    summary = VerifySummary()

    def collect(batch: list[VerifyResult]) -> None:
        sink(batch)
        summary.add(batch)

    def job(client: ResolverClient) -> Awaitable[None]:
        return _drive(
            items, settings=settings, client=client, sink=collect, batch_size=batch_size, progress=progress
        )

    if resolver is not None:
        resolver.run(job)
    else:

        async def own_client() -> None:
            async with make_client(settings, transport=transport, **(client_options or {})) as client:
                await job(client)

        asyncio.run(own_client())
    return summary


def _recording_sink(session: Session, summary_regressions: list[int]) -> Sink:
    def sink(batch: list[VerifyResult]) -> None:
        checks = record_checks(session, batch)
        summary_regressions[0] += sum(1 for c in checks if c.regression)
        session.commit()  # progress survives a crash
        for check in checks:  # keep the identity map small; the caller's own objects stay
            session.expunge(check)

    return sink


def verify_run(
    *,
    session: Session,
    run_id: int,
    settings: Settings,
    resolver: BlockingResolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    batch_size: int = 200,
    progress: Callable[[VerifyResult], None] | None = None,
) -> VerifySummary:
    """Verify the expected handle of every record of run ``run_id``; updates Records, writes history."""
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
    regressions_seen = [0]
    summary = run_verification(
        items,
        settings=settings,
        sink=_recording_sink(session, regressions_seen),
        resolver=resolver,
        transport=transport,
        batch_size=batch_size,
        progress=progress,
    )
    summary.regressions = regressions_seen[0]
    return summary


def known_items(session: Session) -> list[VerifyItem]:
    """Every known handle, once, ordered by handle key: expected handles of records (the newest
    record's MMS id wins) plus handles checked before (with the MMS id of their latest check)."""
    by_key: dict[str, VerifyItem] = {}
    records = session.exec(
        select(Record.id, Record.expected_handle, Record.mms_id)
        .where(col(Record.expected_handle).is_not(None))
        .order_by(col(Record.id))
    )
    for rid, handle, mms in records:
        if handle is None:  # excluded by the query; narrows the type
            continue
        by_key[handle_key(handle)] = VerifyItem(handle=handle, mms_id=mms, record_id=rid)
    latest = select(func.max(HandleCheck.id)).group_by(HandleCheck.handle_key)
    checks = session.exec(
        select(HandleCheck.handle, HandleCheck.handle_key, HandleCheck.mms_id).where(
            col(HandleCheck.id).in_(latest)
        )
    )
    for handle, key, checked_mms in checks:
        by_key.setdefault(key, VerifyItem(handle=handle, mms_id=checked_mms))
    return [by_key[key] for key in sorted(by_key)]


def verify_known_slice(
    *,
    session: Session,
    settings: Settings,
    offset: int,
    limit: int,
    resolver: BlockingResolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    batch_size: int = 200,
) -> VerifySummary:
    """Re-verify known handles ``[offset, offset + limit)`` of :func:`known_items`."""
    items = known_items(session)[offset : offset + limit]
    regressions_seen = [0]
    summary = run_verification(
        items,
        settings=settings,
        sink=_recording_sink(session, regressions_seen),
        resolver=resolver,
        transport=transport,
        batch_size=batch_size,
    )
    summary.regressions = regressions_seen[0]
    return summary


def regressions(session: Session, since: datetime | None = None) -> list[HandleCheck]:
    """Checks flagged as regressions (ok before, not ok then), newest first."""
    query = select(HandleCheck).where(HandleCheck.regression == True)  # noqa: E712 - SQL expression
    if since is not None:
        query = query.where(HandleCheck.checked_at >= since)
    return list(session.exec(query.order_by(col(HandleCheck.checked_at).desc(), col(HandleCheck.id).desc())))
