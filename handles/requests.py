"""The queue of requests to the institution's own Handle server (seed 003's request shape).

A :class:`store.models.HandleRequest` row is the request: ``op`` (create, update, delete), the
handle, the URL, ``attempts``, ``status`` (queued → running → success | error), the server's
``response`` and the ``error``. Rules (seeds 002/003):

- Input is checked before anything is stored as queued: a handle without a prefix, under another
  prefix than ``HANDLE_PREFIX``, with control characters or white space, or a URL that is not
  http(s), is stored with status ``error`` and the reason, and nothing is ever sent.
- Handles are ASCII case-insensitive: requests are ordered per ``handle_key``; a request does not
  start while an earlier request for the same handle (in any case) is queued or running.
- create fails when the handle exists (unless it already points at the same URL: a retried
  create whose first attempt landed is a success, not a failure); update and delete fail when
  the handle is missing or deleted. A deleted handle's request rows are kept.

Exactly once: a worker claims a request with a compare-and-set (``queued`` → ``running``,
``attempts`` + 1) and finishes it with another (``running`` with *its* attempt number → final), so
a request that a dead worker left ``running`` and :func:`dispatch_requests` re-queued can be
finished by only one worker. Transient server failures put the request back to ``queued`` and
raise :class:`RequestDeferred`; the Celery task retries later.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from handles.server import (
    HandleAuthError,
    HandleExists,
    HandleNotFound,
    HandleServerClient,
    HandleServerError,
    HandleServerUnavailable,
)
from handles.syntax import HandleSyntaxError, handle_key, parse_handle
from store.db import session_scope
from store.models import HandleRequest, RequestOp, RequestStatus, utcnow

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = [
    "MAX_ATTEMPTS",
    "RepairItem",
    "apply_conflict_repairs",
    "plan_conflict_repairs",
    "RequestDeferred",
    "RequestInvalid",
    "UnknownRequest",
    "UnknownRun",
    "dispatch_requests",
    "get_request",
    "list_requests",
    "queue_request",
    "request_as_dict",
    "run_request",
    "validate_request",
]

log = logging.getLogger("handles.requests")

MAX_ATTEMPTS = 5
MAX_HANDLE_BYTES = 2048  # the protocol decoder's limit ([SRC] hdllib/Common.MAX_HANDLE_LENGTH)
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_T = HandleRequest.__table__  # type: ignore[attr-defined]  # set by SQLModel's metaclass; its types do not declare it
_FOUND_NOTE = "found before delete: "


class RequestInvalid(ValueError):
    """A request that must not be sent; the message is one line."""


class UnknownRequest(LookupError):
    """No request with that id."""


class UnknownRun(LookupError):
    """No run with that id."""


class RequestDeferred(Exception):
    """Not done yet (transient server failure, or an earlier request for the same handle)."""

    def __init__(self, message: str, *, countdown: float) -> None:
        super().__init__(message)
        self.countdown = countdown


# --- queueing ---------------------------------------------------------------------------------


def validate_request(
    op: str, handle: str, url: str | None, *, prefix: str | None
) -> tuple[str, str, str | None]:
    """``(op, handle, url)`` normalized, or :class:`RequestInvalid` saying why."""
    try:
        op = RequestOp(str(op).strip().lower()).value
    except ValueError:
        raise RequestInvalid(f"unknown op {op!r}: use create, update or delete") from None
    try:
        handle = parse_handle(handle, expected_prefix=prefix)
    except HandleSyntaxError as exc:
        raise RequestInvalid(f"bad handle: {exc}") from None
    if len(handle.encode("utf-8")) > MAX_HANDLE_BYTES:
        raise RequestInvalid(f"bad handle: longer than {MAX_HANDLE_BYTES} bytes")
    if op == RequestOp.DELETE:
        if url:
            raise RequestInvalid("delete takes no URL")
        return op, handle, None
    url = (url or "").strip()
    if not url:
        raise RequestInvalid(f"{op} needs a URL")
    if _CONTROL.search(url) or not _URL.match(url):
        raise RequestInvalid(f"bad URL {url[:200]!r}: must be an http:// or https:// URL without spaces")
    return op, handle, url


def queue_request(
    *,
    session: Session,
    op: str,
    handle: str,
    url: str | None = None,
    run_id: int | None = None,
    mms_id: str | None = None,
    settings: Settings | None = None,
) -> HandleRequest:
    """Store a request: ``queued`` when valid, else ``error`` with the reason. Flushed, not committed."""
    prefix = settings.handle_prefix if settings is not None else None
    now = utcnow()
    try:
        op, handle, url = validate_request(op, handle, url, prefix=prefix)
        row = HandleRequest(
            op=op,
            handle=handle,
            handle_key=handle_key(handle),
            url=url,
            status=RequestStatus.QUEUED,
            run_id=run_id,
            mms_id=mms_id,
        )
    except RequestInvalid as exc:
        shown = " ".join(str(handle or "").split())[:300]
        row = HandleRequest(
            op=str(op)[:20],
            handle=shown,
            handle_key=handle_key(shown),
            url=(url or None) and str(url)[:2000],
            status=RequestStatus.ERROR,
            error=str(exc),
            run_id=run_id,
            mms_id=mms_id,
            finished_at=now,
        )
    session.add(row)
    session.flush()
    return row


def get_request(session: Session, request_id: int) -> HandleRequest:
    row = session.get(HandleRequest, request_id)
    if row is None:
        raise UnknownRequest(f"no handle request {request_id}")
    return row


def list_requests(session: Session, *, status: str | None = None, limit: int = 200) -> list[HandleRequest]:
    query = select(HandleRequest).order_by(col(HandleRequest.id).desc()).limit(limit)
    if status:
        query = query.where(col(HandleRequest.status) == status)
    return list(session.scalars(query))


def request_as_dict(row: HandleRequest) -> dict[str, Any]:
    """Seed 003's response body fields (plus times and the run it belongs to)."""
    return {
        "id": row.id,
        "op": row.op,
        "handle": row.handle,
        "url": row.url,
        "attempts": row.attempts,
        "status": row.status,
        "response": row.response,
        "error": row.error,
        "run_id": row.run_id,
        "mms_id": row.mms_id,
        **{
            k: (v.isoformat() + "Z" if v else None)
            for k, v in (
                ("created_at", row.created_at),
                ("updated_at", row.updated_at),
                ("started_at", row.started_at),
                ("finished_at", row.finished_at),
            )
        },
    }


# --- running ----------------------------------------------------------------------------------


def _claim(engine: Engine, row: HandleRequest) -> int | None:
    """CAS queued → running (attempts + 1) unless an earlier request for the handle is pending."""
    earlier = _T.alias("earlier")
    blocked = exists().where(
        earlier.c.handle_key == row.handle_key,
        earlier.c.id < row.id,
        earlier.c.status.in_([RequestStatus.QUEUED, RequestStatus.RUNNING]),
    )
    now = utcnow()
    with engine.begin() as conn:
        result = conn.execute(
            update(_T)
            .where(_T.c.id == row.id, _T.c.status == RequestStatus.QUEUED, ~blocked)
            .values(
                status=RequestStatus.RUNNING,
                attempts=_T.c.attempts + 1,
                started_at=now,
                updated_at=now,
                finished_at=None,
            )
        )
        if result.rowcount != 1:
            return None
        return conn.execute(select(_T.c.attempts).where(_T.c.id == row.id)).scalar_one()


def _set(engine: Engine, request_id: int, attempt: int, **values: Any) -> bool:
    """CAS on (running, this attempt): only the worker that holds the request may change it."""
    values.setdefault("updated_at", utcnow())
    with engine.begin() as conn:
        result = conn.execute(
            update(_T)
            .where(_T.c.id == request_id, _T.c.status == RequestStatus.RUNNING, _T.c.attempts == attempt)
            .values(**values)
        )
    return result.rowcount == 1


def _finish(
    engine: Engine,
    request_id: int,
    attempt: int,
    *,
    status: str,
    response: str | None,
    error: str | None = None,
) -> None:
    done = _set(
        engine, request_id, attempt, status=status, response=response, error=error, finished_at=utcnow()
    )
    if not done:
        log.warning(
            "handle request %s: attempt %s was taken over; its result is not recorded", request_id, attempt
        )


def _answer(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True)


def _perform(row: HandleRequest, client: HandleServerClient, engine: Engine, attempt: int) -> str:
    """Send the request; returns the response to store; raises HandleServerError."""
    if row.op == RequestOp.CREATE:
        try:
            return _answer(client.create(row.handle, row.url or ""))
        except HandleExists as exc:
            record = client.get(row.handle)
            if record.url == row.url:  # an earlier attempt (or someone) already made it: done
                return f"{exc}; it already points to {row.url}, so nothing was changed"
            raise HandleExists(
                f"create {row.handle}: the handle already exists and points to {record.url}",
                status_code=exc.status_code,
                response_code=exc.response_code,
            ) from None
    if row.op == RequestOp.UPDATE:
        return _answer(client.update(row.handle, row.url or ""))
    # delete: note what we found first, so a retry after a lost answer knows the handle was there
    try:
        before = client.get(row.handle).url
    except HandleNotFound:
        if (row.response or "").startswith(_FOUND_NOTE):
            return f"{row.handle} is gone: deleted by an earlier attempt of this request"
        raise
    _set(engine, row.id, attempt, response=f"{_FOUND_NOTE}{before}")  # type: ignore[arg-type]  # stored row: SQLModel types its id as Optional
    return _answer({**client.delete(row.handle), "previous_url": before})


def _backoff(attempt: int) -> float:
    return min(60.0, 1.0 * 2 ** max(0, attempt - 1))


def run_request(
    *,
    engine: Engine,
    request_id: int,
    client: HandleServerClient,
    settings: Settings | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> HandleRequest:
    """Run one request once; returns its row. Raises :class:`RequestDeferred` to be retried later."""
    with session_scope(engine) as session:
        row = get_request(session, request_id)
    if row.status != RequestStatus.QUEUED:
        return row  # finished already, or another worker holds it: nothing to do
    attempt = _claim(engine, row)
    if attempt is None:
        with session_scope(engine) as session:
            row = get_request(session, request_id)
        if row.status == RequestStatus.QUEUED:
            raise RequestDeferred(
                f"request {request_id} waits for an earlier request for {row.handle}", countdown=2.0
            )
        return row
    try:
        prefix = settings.handle_prefix if settings is not None else None
        validate_request(row.op, row.handle, row.url, prefix=prefix)
        if attempt > max_attempts:
            raise RequestInvalid(f"gave up after {max_attempts} attempts; last error: {row.error}")
        response = _perform(row, client, engine, attempt)
    except HandleServerUnavailable as exc:
        if attempt >= max_attempts:
            _finish(
                engine,
                request_id,
                attempt,
                status=RequestStatus.ERROR,
                response=None,
                error=f"gave up after {attempt} attempts: {exc}",
            )
        else:
            _set(engine, request_id, attempt, status=RequestStatus.QUEUED, error=f"attempt {attempt}: {exc}")
            raise RequestDeferred(str(exc), countdown=_backoff(attempt)) from None
    except HandleAuthError as exc:
        _finish(
            engine,
            request_id,
            attempt,
            status=RequestStatus.ERROR,
            response=None,
            error=f"{exc} (check HANDLE_SERVER_AUTH_ID and its secret or certificate)",
        )
    except HandleNotFound as exc:
        _finish(
            engine,
            request_id,
            attempt,
            status=RequestStatus.ERROR,
            response=None,
            error=f"{exc}: the handle is missing or deleted",
        )
    except (HandleServerError, RequestInvalid) as exc:
        _finish(engine, request_id, attempt, status=RequestStatus.ERROR, response=None, error=str(exc))
    else:
        _finish(engine, request_id, attempt, status=RequestStatus.SUCCESS, response=response)
    with session_scope(engine) as session:
        return get_request(session, request_id)


def dispatch_requests(*, engine: Engine, stale_after: float, limit: int = 500) -> list[int]:
    """Re-queue requests left ``running`` longer than ``stale_after`` s; return queued ids (oldest first)."""
    cutoff = utcnow() - timedelta(seconds=stale_after)
    with engine.begin() as conn:
        stale = conn.execute(
            select(_T.c.id, _T.c.attempts).where(
                _T.c.status == RequestStatus.RUNNING, _T.c.updated_at < cutoff
            )
        ).all()
        for request_id, attempt in stale:
            conn.execute(
                update(_T)
                .where(
                    _T.c.id == request_id,
                    _T.c.status == RequestStatus.RUNNING,
                    _T.c.attempts == attempt,
                    _T.c.updated_at < cutoff,
                )
                .values(
                    status=RequestStatus.QUEUED,
                    updated_at=utcnow(),
                    error=f"attempt {attempt} did not finish (worker lost?); re-queued",
                )
            )
            log.warning("handle request %s: attempt %s stalled; re-queued", request_id, attempt)
        ids = (
            conn.execute(
                select(_T.c.id).where(_T.c.status == RequestStatus.QUEUED).order_by(_T.c.id).limit(limit)
            )
            .scalars()
            .all()
        )
    return list(ids)


# --- conflict repair (seed 000) ----------------------------------------------------------------


@dataclass
class RepairItem:
    """What ``repair-conflicts`` would do (or did) for one ``conflict`` record."""

    mms_id: str
    expected_handle: str | None
    alma_handle: str | None
    target: str
    action: str  # create | update | none (already right) | queued (a request is pending) | skip
    current_url: str | None = None
    reason: str = ""
    request_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _pending(session: Session, key: str, url: str) -> HandleRequest | None:
    query = select(HandleRequest).where(
        col(HandleRequest.handle_key) == key,
        col(HandleRequest.url) == url,
        col(HandleRequest.op).in_([RequestOp.CREATE, RequestOp.UPDATE]),
        col(HandleRequest.status).in_([RequestStatus.QUEUED, RequestStatus.RUNNING]),
    )
    return session.scalars(query.limit(1)).first()


def plan_conflict_repairs(
    *, session: Session, run_id: int, client: HandleServerClient, settings: Settings
) -> list[RepairItem]:
    """For each ``conflict`` record: create, update or leave the expected handle (read-only)."""
    from store.models import Outcome, Record, Run

    if session.get(Run, run_id) is None:
        raise UnknownRun(f"no run {run_id}")
    records = session.scalars(
        select(Record)
        .where(col(Record.run_id) == run_id, col(Record.outcome) == Outcome.CONFLICT)
        .order_by(col(Record.position), col(Record.id))
    )
    items = []
    for record in records:
        target = settings.target_url(record.mms_id)
        item = RepairItem(
            mms_id=record.mms_id,
            expected_handle=record.expected_handle,
            alma_handle=record.alma_handle,
            target=target,
            action="skip",
        )
        items.append(item)
        try:
            _, handle, _ = validate_request(
                "update", record.expected_handle or "", target, prefix=settings.handle_prefix
            )
        except RequestInvalid as exc:
            item.reason = str(exc)
            continue
        item.expected_handle = handle
        pending = _pending(session, handle_key(handle), target)
        if pending is not None:
            item.action, item.request_id = "queued", pending.id
            item.reason = f"request {pending.id} ({pending.op}) is already {pending.status}"
            continue
        try:
            current = client.get(handle).url
        except HandleNotFound:
            item.action, item.reason = "create", "the expected handle does not exist on the Handle server"
            continue
        except HandleAuthError:
            raise  # refused credentials refuse every handle: one line for the command, not N
        except HandleServerError as exc:
            item.reason = f"could not read it: {exc}"
            continue
        item.current_url = current
        if current == target:
            item.action, item.reason = "none", "already resolves to the record's target"
        else:
            item.action, item.reason = "update", "points elsewhere"
    return items


def apply_conflict_repairs(
    *, session: Session, run_id: int, items: list[RepairItem], settings: Settings
) -> list[HandleRequest]:
    """Queue the create/update requests of a plan; returns them (flushed, not committed)."""
    queued = []
    for item in items:
        if item.action not in (RequestOp.CREATE, RequestOp.UPDATE):
            continue
        row = queue_request(
            session=session,
            op=item.action,
            handle=item.expected_handle or "",
            url=item.target,
            run_id=run_id,
            mms_id=item.mms_id,
            settings=settings,
        )
        item.request_id = row.id
        queued.append(row)
    return queued
