"""Undo a metadata repair: put the original of every repaired bib back into Alma (once).

The originals are the ``BibBackup`` rows that :func:`outcomes.repair.metadata.apply_repairs` saved
before each PUT. A bib edited in Alma since the repair is left alone unless ``force``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from outcomes.repair.bib_xml import canonical_record
from store.models import BibBackup, utcnow
from store.runs import get_run

__all__ = ["RestoreItem", "restore_run"]


@dataclass
class RestoreItem:
    """What the restore did for one bib: put back or left alone, and why."""

    mms_id: str
    restored: bool
    note: str


def restore_run(*, session: Session, run_id: int, alma: Any, force: bool = False) -> list[RestoreItem]:
    """PUT each saved original back (once); a bib edited since the repair is left alone unless ``force``."""
    get_run(session, run_id)  # raises store.runs.RunNotFound
    done = []
    backups = session.exec(
        select(BibBackup)
        .where(
            BibBackup.run_id == run_id,
            col(BibBackup.applied_at).is_not(None),
            col(BibBackup.restored_at).is_(None),
        )
        .order_by(col(BibBackup.id))
    ).all()
    for backup in backups:
        current = alma.get_bib_xml(backup.mms_id)
        if (
            not force
            and backup.repaired_xml
            and canonical_record(current) != canonical_record(backup.repaired_xml)
        ):
            done.append(
                RestoreItem(
                    backup.mms_id,
                    False,
                    "changed in Alma since the repair; left alone (--force puts the original back anyway)",
                )
            )
            continue
        alma.put_bib_xml(backup.mms_id, backup.original_xml)
        backup.restored_at = utcnow()
        session.add(backup)
        session.commit()
        done.append(RestoreItem(backup.mms_id, True, f"original put back (undoing: {backup.change})"))
    return done
