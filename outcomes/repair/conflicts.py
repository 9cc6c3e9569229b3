"""Conflict records: Alma holds another handle than the record's metadata asks for.

Such a bib is never "fixed" in Alma. :func:`conflicts` lists the records with their evidence (for
Ex Libris support); :func:`plan_conflict_repairs` (read-only) says, for each, whether the expected
handle must be created or updated on the institution's own Handle server so that it resolves to
the record's target, and :func:`apply_conflict_repairs` queues those requests in
:mod:`handles.requests`, whose workers send them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import Session, col

from handles.requests import RequestInvalid, queue_request, validate_request
from handles.server import HandleAuthError, HandleNotFound, HandleServerClient, HandleServerError
from handles.syntax import handle_key
from store.models import HandleRequest, Outcome, Record, RequestOp, RequestStatus
from store.runs import get_run

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = ["RepairItem", "apply_conflict_repairs", "conflicts", "plan_conflict_repairs"]


def conflicts(*, session: Session, run_id: int) -> list[Record]:
    """The run's conflict records: Alma holds another handle; evidence for Ex Libris support."""
    return list(
        session.scalars(
            select(Record)
            .where(col(Record.run_id) == run_id, col(Record.outcome) == Outcome.CONFLICT.value)
            .order_by(col(Record.position), col(Record.mms_id))
        ).all()
    )


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
    get_run(session, run_id)  # raises store.runs.RunNotFound
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
            raise  # refused credentials refuse every handle alike: the command fails with one line
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
