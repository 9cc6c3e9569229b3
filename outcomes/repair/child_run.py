"""The child run of a metadata repair: the repaired bibs in a new itemized set, migrated again.

A repair changes only the bibs; Alma learns their handles when the Handle Migration job and the
profile run again on them. :func:`start_child_run` puts the repaired bibs in a new itemized set,
has ``create_child`` (the pipeline's ``create_run``) record a child run on it that skips the copy,
and links each backup to that child run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from store.models import BibBackup, Run, utcnow

__all__ = ["start_child_run"]


def start_child_run(
    *,
    session: Session,
    run_id: int,
    alma: Any,
    pending: list[BibBackup],
    create_child: Callable[..., Run],
) -> tuple[str, int | None]:
    """The new set's id and the child run's id; the backups are linked to the child (committed)."""
    ids = sorted({b.mms_id for b in pending})
    stamp = utcnow().strftime("%Y-%m-%d %H:%M:%S")
    created = alma.create_itemized_set(
        f"handles run {run_id} repair - {stamp}",
        description=f"{len(ids)} bibs repaired by handles repair {run_id}",
    )
    set_id = str(created.get("id"))
    alma.add_set_members(set_id, ids)
    child = create_child(session=session, set_id=set_id, skip_copy=True, parent_run_id=run_id)
    for backup in pending:
        backup.child_run_id = child.id
        session.add(backup)
    session.commit()
    return set_id, child.id
