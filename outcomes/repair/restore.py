"""Undo a metadata repair: put the original record of every repaired bib back into Alma (once).

The originals are the ``BibBackup`` rows that :func:`outcomes.repair.metadata.apply_repairs`
commits *before* each PUT, so a repair that reached Alma but was never recorded (a timeout, a 5xx,
a kill) can be undone too. :func:`restore_run` decides from what Alma holds now, not from a flag:

* the record is the repaired one (or what Alma stored instead of it) → the original record is
  put back *into the bib as Alma holds it now*: only ``<record>`` is replaced, so edits made outside
  it since the repair (``suppress_from_publishing``…) are kept;
* the record is the original → nothing to do (the repair never landed, or was undone);
* anything else → edited in Alma since the repair: left alone unless ``force``.

:func:`registered_handles` lists the handles the repair's child run already registered: putting the
metadata back does not remove them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from outcomes.repair.bib_xml import NotRepairable, record_difference, with_record_of
from store.models import BibBackup, Outcome, Record, utcnow
from store.runs import get_run

__all__ = ["RestoreItem", "registered_handles", "restore_run"]

RESTORED = "restored"
_OPEN_STATES = ("attempted", "mismatch")


@dataclass
class RestoreItem:
    """What the restore did for one bib: put back or left alone, and why."""

    mms_id: str
    restored: bool
    note: str


def _holds(current: str, backup: BibBackup) -> str:
    """What Alma holds now: ``repaired``, ``stored`` (its mangled version), ``original`` or ``edited``."""
    if backup.repaired_xml and record_difference(backup.repaired_xml, current) is None:
        return "repaired"
    if backup.stored_xml and record_difference(backup.stored_xml, current) is None:
        return "stored"
    if record_difference(backup.original_xml, current) is None:
        return "original"
    return "edited"


def _done(session: Session, backup: BibBackup) -> None:
    backup.state, backup.restored_at = RESTORED, utcnow()
    session.add(backup)
    session.commit()


def restore_run(*, session: Session, run_id: int, alma: Any, force: bool = False) -> list[RestoreItem]:
    """Put each original record back (once) where Alma holds the repair; see the module docstring."""
    get_run(session, run_id)  # raises store.runs.RunNotFound
    done = []
    backups = session.exec(
        select(BibBackup)
        .where(
            BibBackup.run_id == run_id,
            col(BibBackup.restored_at).is_(None),
            or_(col(BibBackup.applied_at).is_not(None), col(BibBackup.state).in_(_OPEN_STATES)),
        )
        .order_by(col(BibBackup.id))
    ).all()
    for backup in backups:
        current = alma.get_bib_xml(backup.mms_id)
        holds = _holds(current, backup)
        if holds == "original":
            _done(session, backup)
            done.append(RestoreItem(backup.mms_id, False, "Alma holds the original: nothing to put back"))
            continue
        if holds == "edited" and not force:
            done.append(
                RestoreItem(
                    backup.mms_id,
                    False,
                    "changed in Alma since: left alone (see --force)",
                )
            )
            continue
        try:
            put_back = with_record_of(current, backup.original_xml)
        except NotRepairable as exc:
            done.append(RestoreItem(backup.mms_id, False, f"left alone: {exc}"))
            continue
        alma.put_bib_xml(backup.mms_id, put_back)
        _done(session, backup)
        again = record_difference(put_back, alma.get_bib_xml(backup.mms_id))
        note = "record put back; rest of the bib kept"
        if again is not None:
            note = f"original record put back, but Alma stored it differently ({again}): check the bib"
        done.append(RestoreItem(backup.mms_id, again is None, note))
    return done


def registered_handles(*, session: Session, run_id: int) -> list[tuple[str, str]]:
    """``(mms_id, handle)`` the repair's child runs migrated: they resolve, whatever the metadata says."""
    children = session.exec(
        select(BibBackup.child_run_id).where(
            BibBackup.run_id == run_id, col(BibBackup.child_run_id).is_not(None)
        )
    ).all()
    child_ids = sorted({c for c in children if c is not None})
    if not child_ids:
        return []
    records = session.exec(
        select(Record)
        .where(col(Record.run_id).in_(child_ids), Record.outcome == Outcome.MIGRATED.value)
        .order_by(col(Record.run_id), col(Record.position), col(Record.mms_id))
    ).all()
    return [(r.mms_id, r.alma_handle or r.expected_handle or "?") for r in records]
