"""Repair a run's malformed/missing identifiers in Alma, safely (metadata repair with backups).

* :func:`plan_repairs` (the dry run) reads each bib and says what would change; nothing is written.
* :func:`apply_repairs` saves the original XML of each bib (``BibBackup``, committed) before its
  swap-all PUT, never backs up a bib twice, then puts the repaired bibs in a new itemized set and
  hands it to ``create_child`` (a child run: migration → profile, :mod:`outcomes.repair.child_run`)
  and ``enqueue``. :mod:`outcomes.repair.restore` puts the originals back.

Conflicts are never "fixed" in the bib: :mod:`outcomes.repair.conflicts` lists them with their
evidence (for Ex Libris support) and queues the Handle server requests that resolve them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from outcomes.repair.bib_xml import NotRepairable, record_difference, repair_bib_xml, with_record_of
from outcomes.repair.child_run import start_child_run
from store.models import BibBackup, Outcome, Record, Run, utcnow
from store.runs import get_run

__all__ = ["ATTEMPTED", "REPAIRABLE", "ApplyResult", "PlanItem", "apply_repairs", "plan_repairs"]

REPAIRABLE = (Outcome.MALFORMED_IDENTIFIER.value, Outcome.MISSING_IDENTIFIER.value)
# BibBackup.state: committed before the PUT; then applied, undone (checked after the fact and
# put back) or mismatch (Alma stored something else and the put-back did not complete)
ATTEMPTED, APPLIED, UNDONE, MISMATCH = "attempted", "applied", "undone", "mismatch"


def _mark_applied(session: Session, backup: BibBackup) -> None:
    backup.state, backup.applied_at = APPLIED, utcnow()
    session.add(backup)
    session.commit()


def _undo(session: Session, alma: Any, backup: BibBackup, stored: str, difference: str) -> str:
    """Alma stored something other than intended: put the original record back; the record's detail."""
    from alma.errors import AlmaError

    backup.stored_xml, backup.state = stored, MISMATCH
    session.add(backup)
    session.commit()
    why = f"Alma stored something other than intended ({difference})"
    try:
        put_back = with_record_of(stored, backup.original_xml)
        alma.put_bib_xml(backup.mms_id, put_back)
        again = record_difference(put_back, alma.get_bib_xml(backup.mms_id))
    except (AlmaError, NotRepairable) as exc:
        detail = (
            f"repair stopped: {why}; putting the original back failed "
            f"({' '.join(str(exc).split())}); `handles restore {backup.run_id}` tries again"
        )
    else:
        if again is None:
            backup.state, backup.restored_at = UNDONE, utcnow()
            detail = f"repair undone: {why}"
        else:
            detail = (
                f"repair stopped: {why}; the original was put back but Alma stored that "
                f"differently too ({again}): check the bib in Alma"
            )
    record = session.exec(
        select(Record).where(Record.run_id == backup.run_id, Record.mms_id == backup.mms_id)
    ).first()
    if record is not None:
        record.detail, record.updated_at = detail, utcnow()
        session.add(record)
    session.add(backup)
    session.commit()
    return detail


@dataclass
class PlanItem:
    """One record the repair looked at: what it would change, or why it cannot."""

    mms_id: str
    outcome: str
    changes: tuple[str, ...] = ()
    original_xml: str | None = None
    repaired_xml: str | None = None
    reason: str | None = None  # set when nothing will be done
    landed: bool = False  # an earlier, unrecorded attempt is what Alma holds now

    @property
    def will_change(self) -> bool:
        return bool(self.changes) and self.reason is None


@dataclass
class ApplyResult:
    """What :func:`apply_repairs` did."""

    items: list[PlanItem] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    undone: list[str] = field(default_factory=list)  # Alma stored something else: put back
    set_id: str | None = None
    child_run_id: int | None = None


def _records(session: Session, run_id: int, outcomes: tuple[str, ...]) -> list[Record]:
    return list(
        session.exec(
            select(Record)
            .where(Record.run_id == run_id, col(Record.outcome).in_(outcomes))
            .order_by(col(Record.position), col(Record.mms_id))
        ).all()
    )


def _live_backup(session: Session, run_id: int, mms_id: str) -> BibBackup | None:
    return session.exec(
        select(BibBackup)
        .where(BibBackup.run_id == run_id, BibBackup.mms_id == mms_id, col(BibBackup.restored_at).is_(None))
        .order_by(col(BibBackup.id).desc())
    ).first()


def plan_repairs(*, session: Session, run_id: int, alma: Any, settings: Any) -> list[PlanItem]:
    """The dry run: for every malformed/missing record, what the repair would change (reads only)."""
    from alma.errors import AlmaAuthError, AlmaError

    get_run(session, run_id)  # raises store.runs.RunNotFound
    items = []
    for record in _records(session, run_id, REPAIRABLE):
        item = PlanItem(record.mms_id, record.outcome)
        backup = _live_backup(session, run_id, record.mms_id)
        if backup is not None and backup.applied_at is not None:
            item.reason = f"already repaired (backup {backup.id}: {backup.change})"
            items.append(item)
            continue
        try:
            xml = alma.get_bib_xml(record.mms_id)
            if (
                backup is not None
                and backup.repaired_xml
                and record_difference(backup.repaired_xml, xml) is None
            ):
                # an attempt that reached Alma but was not recorded (timeout, 5xx, a kill)
                item.landed = True
                item.reason = f"already repaired: an earlier attempt reached Alma (backup {backup.id})"
                items.append(item)
                continue
            repair = repair_bib_xml(
                xml,
                prefix=settings.handle_prefix,
                pid=record.pid,
                expected=record.expected_handle,
                pid_pattern=settings.handle_pid_pattern,
            )
        except NotRepairable as exc:
            item.reason = f"cannot repair: {exc}"
        except AlmaAuthError:
            raise  # a refused key refuses every bib: the command fails with one line, not N
        except AlmaError as exc:
            item.reason = f"cannot read the bib: {' '.join(str(exc).split())}"
        else:
            item.original_xml, item.repaired_xml, item.changes = xml, repair.xml, repair.changes
            if not repair.changes:
                item.reason = "nothing to change: Alma can use the handle now"
        items.append(item)
    return items


def apply_repairs(
    *,
    session: Session,
    run_id: int,
    alma: Any,
    settings: Any,
    create_child: Callable[..., Run] | None = None,
    enqueue: Callable[[int], Any] | None = None,
) -> ApplyResult:
    """Back up, PUT, then start a child run on a set of the repaired records.

    ``create_child(session=, set_id=, skip_copy=True, parent_run_id=)`` makes the child run (the
    pipeline's ``create_run``); ``enqueue(run_id)`` starts it once it is committed.
    """
    result = ApplyResult(items=plan_repairs(session=session, run_id=run_id, alma=alma, settings=settings))
    for item in result.items:
        backup = _live_backup(session, run_id, item.mms_id)
        if item.landed and backup is not None:
            _mark_applied(session, backup)
            result.repaired.append(item.mms_id)
            continue
        if not item.will_change:
            continue
        if backup is None:  # a backup left by an interrupted apply keeps the true original
            backup = BibBackup(run_id=run_id, mms_id=item.mms_id, original_xml=item.original_xml or "")
        backup.repaired_xml, backup.change = item.repaired_xml, "; ".join(item.changes)
        backup.state, backup.attempted_at = ATTEMPTED, utcnow()
        session.add(backup)
        session.commit()  # the original and the intended bib are safe before Alma is touched
        alma.put_bib_xml(item.mms_id, item.repaired_xml)
        stored = alma.get_bib_xml(item.mms_id)  # checked after the fact (field-notes §6)
        difference = record_difference(item.repaired_xml or "", stored)
        if difference is None:
            _mark_applied(session, backup)
            result.repaired.append(item.mms_id)
            continue
        item.reason = _undo(session, alma, backup, stored, difference)
        result.undone.append(item.mms_id)
    pending = list(
        session.exec(
            select(BibBackup).where(
                BibBackup.run_id == run_id,
                col(BibBackup.applied_at).is_not(None),
                col(BibBackup.restored_at).is_(None),
                col(BibBackup.child_run_id).is_(None),
            )
        ).all()
    )
    if pending and create_child is not None:
        result.set_id, result.child_run_id = start_child_run(
            session=session, run_id=run_id, alma=alma, pending=pending, create_child=create_child
        )
        if enqueue is not None and result.child_run_id is not None:
            enqueue(result.child_run_id)
    return result
