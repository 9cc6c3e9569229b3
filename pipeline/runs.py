"""Runs: creating them, reading them, and the checks made before anything is submitted."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from sqlmodel import Session, select

from pipeline.errors import InvalidSetId, SetNotUsable
from store.models import Outcome, Record, Run, RunState, Step, StepStatus, utcnow
from store.runs import ALMA_STEPS, STEP_ORDER, get_run, recent_runs, run_steps

__all__ = [
    "ALMA_STEPS",
    "STEP_ORDER",
    "TITLE_CONTENT",
    "check_set",
    "create_run",
    "get_run",
    "outcome_counts",
    "recent_runs",
    "run_steps",
    "validate_set_id",
]

# SetContentType codes that hold titles: IEP = digital titles, BIB_MMS = all titles
TITLE_CONTENT = {"IEP": "Digital titles", "BIB_MMS": "All titles"}
_SET_ID = re.compile(r"[0-9]{1,30}")  # ASCII digits: \d also takes "٧٥٩" or "７５９", which Alma refuses


def validate_set_id(set_id: str) -> str:
    """The set id, stripped; :class:`InvalidSetId` unless it is digits only."""
    value = (set_id or "").strip()
    if not _SET_ID.fullmatch(value):
        shown = repr(set_id) if len(set_id or "") <= 40 else repr(set_id[:40]) + "…"
        raise InvalidSetId(f"{shown} is not an Alma set id (digits only, e.g. 7593466560004641)")
    return value


def check_set(alma: Any, set_id: str) -> dict[str, Any]:
    """Read the set from Alma and refuse an unknown, empty or non-title set (no job is submitted)."""
    from alma.errors import AlmaNotFound

    set_id = validate_set_id(set_id)
    try:
        info = alma.get_set(set_id)
    except AlmaNotFound:
        raise SetNotUsable(f"set {set_id} does not exist in Alma") from None
    content = ((info.get("content") or {}).get("value") or "").upper()
    name = info.get("name") or set_id
    if content not in TITLE_CONTENT:
        desc = (info.get("content") or {}).get("desc") or content or "unknown content"
        raise SetNotUsable(f"set {set_id} ({name}) holds {desc}, not titles; use a set of digital titles")
    members = info.get("number_of_members") or {}
    count = int(members.get("value") or 0) if isinstance(members, dict) else int(members or 0)
    if count == 0:
        raise SetNotUsable(f"set {set_id} ({name}) is empty")
    return info


def create_run(
    *,
    session: Session,
    set_id: str,
    skip_copy: bool = False,
    parent_run_id: int | None = None,
    profile_mode: str = "auto",
    set_name: str | None = None,
    member_count: int | None = None,
    batch_size: int | None = None,
    batch_no: int | None = None,
    batch_of: int | None = None,
    holds_set: bool = False,
) -> Run:
    """A new run with its four steps, all pending. Nothing is sent to Alma here.

    With ``batch_size`` the run is the parent of batches (:mod:`pipeline.batches`): its three Alma
    steps are skipped at once, each batch (a child run with ``batch_no`` of ``batch_of``) runs them.
    ``holds_set``: a top-level run of ``handles migrate``; at most one such run per set may be open
    (the database refuses a second: see :mod:`pipeline.open_runs`).
    """
    if batch_size is not None and batch_size < 1:
        raise ValueError("the batch size must be at least 1")
    run = Run(
        set_id=validate_set_id(set_id),
        skip_copy=skip_copy,
        parent_run_id=parent_run_id,
        profile_mode=profile_mode,
        set_name=set_name,
        member_count=member_count,
        batch_size=batch_size,
        batch_no=batch_no,
        batch_of=batch_of,
        holds_set=holds_set,
    )
    session.add(run)
    session.flush()
    assert run.id is not None  # the flush assigned it
    for position, kind in enumerate(STEP_ORDER, start=1):
        step = Step(run_id=run.id, kind=kind, position=position)
        if batch_size is not None and kind in ALMA_STEPS:
            step.status = StepStatus.SKIPPED
            step.error = f"run by each batch of at most {batch_size} records (see the batches)"
        session.add(step)
    session.flush()
    return run


def outcome_counts(session: Session, run_id: int) -> dict[str, int]:
    counts = Counter(session.exec(select(Record.outcome).where(Record.run_id == run_id)))
    return {o.value: counts.get(o.value, 0) for o in Outcome if counts.get(o.value)}


def fail_run(session: Session, run: Run, reason: str) -> None:
    run.state = RunState.FAILED
    run.error = reason
    run.finished_at = run.updated_at = utcnow()
    session.add(run)
    for step in run_steps(session, run.id):  # type: ignore[arg-type]  # stored row: SQLModel types its id as Optional
        if step.status == StepStatus.PENDING:
            step.status = StepStatus.SKIPPED
            step.error = "not run: an earlier step failed"
            session.add(step)
