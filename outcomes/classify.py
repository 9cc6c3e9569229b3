"""Account for every member of a run's set: one CONTRACT.md outcome per record, with its evidence.

Events decide where there are events (Alma's text is kept verbatim in ``detail``); where there are
none, reconciliation decides: the bib's metadata (``Record.metadata_problem``, filled by preflight)
and the resolution of the expected handle (``Record.verification``). Precedence:

1. "already has a handle identifier H" → ``already_migrated`` when H equals the expected handle
   (ASCII case-insensitively), else ``conflict`` (both handles in ``alma_handle`` / ``detail``);
2. "does not have a handle identifier" → ``malformed_identifier`` when the metadata holds a handle
   Alma cannot use, else ``missing_identifier``;
3. "Record X failed. Reason: …" → ``failed``;
4. no event: verification ok → ``migrated``; a metadata problem → missing/malformed; else ``unknown``
   with what evidence is missing.

Records preflight kept out of every job (``duplicate_handle``, ``wrong_format``) keep that outcome
and its detail: no job saw them, so no event can speak for them.

Classification is a pure function of what is stored, so running it twice changes nothing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from handles.syntax import same_handle
from store.models import EventLine, Outcome, Record, Verification, utcnow

__all__ = ["Decision", "classify_record", "classify_run"]

BATCH = 500
# outcomes preflight gives records it keeps out of every job (pipeline.holdout.HELD_OUT)
HELD_OUT = (Outcome.DUPLICATE_HANDLE.value, Outcome.WRONG_FORMAT.value)
NO_EVIDENCE = (
    "no event and the handle does not resolve yet; import the Events Report "
    "(handles events import RUN_ID FILE) or wait for verification"
)


@dataclass(frozen=True)
class Decision:
    """The outcome of one record, the handle Alma reported (if any), and the evidence."""

    outcome: Outcome
    alma_handle: str | None
    detail: str


def _metadata_outcome(problem: str | None) -> Outcome:
    if problem and problem.lower().startswith("malformed"):
        return Outcome.MALFORMED_IDENTIFIER
    return Outcome.MISSING_IDENTIFIER


def _texts(events: list[EventLine]) -> str:
    seen: list[str] = []
    for event in events:
        if event.text not in seen:
            seen.append(event.text)
    return " | ".join(seen)


def classify_record(record: Record, events: list[EventLine]) -> Decision:
    """The decision for one record from its stored facts and its event lines (oldest first)."""
    if record.outcome in HELD_OUT:
        return Decision(Outcome(record.outcome), record.alma_handle, record.detail or "")
    by_kind: dict[str, list[EventLine]] = defaultdict(list)
    for event in events:
        by_kind[event.kind].append(event)
    expected = record.expected_handle
    problem = record.metadata_problem
    if by_kind["already_has"]:
        latest = by_kind["already_has"][-1]
        held = latest.handle
        text = _texts(by_kind["already_has"])
        if held and expected and same_handle(held, expected):
            return Decision(Outcome.ALREADY_MIGRATED, held, text)
        if held and expected:
            return Decision(
                Outcome.CONFLICT, held, f"Alma holds {held}, the metadata asks for {expected}: {text}"
            )
        if held:
            return Decision(
                _metadata_outcome(problem) if problem else Outcome.CONFLICT,
                held,
                f"Alma holds {held}, the metadata asks for no handle"
                f"{f' ({problem})' if problem else ''}: {text}",
            )
        return Decision(Outcome.UNKNOWN, None, f"the event names no handle: {text}")
    if by_kind["no_handle"]:
        text = _texts(by_kind["no_handle"])
        suffix = f"; metadata: {problem}" if problem else ""
        return Decision(_metadata_outcome(problem), None, text + suffix)
    if by_kind["failed"]:
        return Decision(Outcome.FAILED, None, _texts(by_kind["failed"]))
    return _reconcile(record, by_kind["other"])


def _reconcile(record: Record, others: list[EventLine]) -> Decision:
    other = f"; other events: {_texts(others)}" if others else ""
    verification = record.verification
    if verification == Verification.OK and record.expected_handle:
        return Decision(
            Outcome.MIGRATED,
            None,
            f"no event; {record.expected_handle} resolves to the record's target{other}",
        )
    if record.metadata_problem:
        return Decision(
            _metadata_outcome(record.metadata_problem),
            None,
            f"no event; metadata: {record.metadata_problem}{other}",
        )
    if verification == Verification.UNPUBLISHED:
        return Decision(
            Outcome.UNKNOWN,
            None,
            f"no event; {record.expected_handle} does not resolve yet: the record is suppressed from "
            f"publishing (expected until it is published; verify again then){other}",
        )
    if verification:
        return Decision(
            Outcome.UNKNOWN,
            None,
            f"no event; {record.expected_handle or 'the handle'} verification: {verification}{other}",
        )
    if others:
        return Decision(Outcome.UNKNOWN, None, f"unrecognised event: {_texts(others)}")
    return Decision(Outcome.UNKNOWN, None, NO_EVIDENCE)


def classify_run(*, session: Session, run_id: int, settings: Any = None) -> Counter[str]:
    """Classify every record of the run; write only what changed. Returns counts per outcome."""
    counts: Counter[str] = Counter()
    last_id = 0
    while True:
        records = session.exec(
            select(Record)
            .where(Record.run_id == run_id, col(Record.id) > last_id)
            .order_by(col(Record.id))
            .limit(BATCH)
        ).all()
        if not records:
            break
        last_id = records[-1].id or last_id
        by_mms: dict[str, list[EventLine]] = defaultdict(list)
        ids = [r.mms_id for r in records]
        for event in session.exec(
            select(EventLine)
            .where(EventLine.run_id == run_id, col(EventLine.mms_id).in_(ids))
            .order_by(col(EventLine.id))
        ):
            by_mms[event.mms_id or ""].append(event)
        for record in records:
            decision = classify_record(record, by_mms.get(record.mms_id, []))
            counts[decision.outcome.value] += 1
            _apply(record, decision, settings)
        session.flush()
    return counts


def _apply(record: Record, decision: Decision, settings: Any) -> None:
    changed = False
    wanted = {"outcome": decision.outcome.value, "detail": decision.detail}
    if decision.alma_handle is not None:
        wanted["alma_handle"] = decision.alma_handle
    if settings is not None and not record.target_url:
        wanted["target_url"] = settings.target_url(record.mms_id)
    for name, value in wanted.items():
        if getattr(record, name) != value:
            setattr(record, name, value)
            changed = True
    if changed:
        record.updated_at = utcnow()
