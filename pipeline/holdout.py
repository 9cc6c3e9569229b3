"""Records preflight keeps out of every job, and the set the jobs run on without them.

Two kinds of record must never reach Alma's jobs (field notes 1 and 7):

- ``duplicate_handle``: its expected handle is claimed by another record too, in the run's set or
  in an earlier run (handles compared ASCII case-insensitively, :func:`handles.syntax.handle_key`).
  Whichever record the Handle System ends up pointing at, the other looks "wrong target" forever;
  a person decides which record keeps the handle. The same MMS id in an earlier run is the same
  record, not a duplicate.
- ``wrong_format``: not a Dublin Core record (e.g. MARC 21): Alma's DC jobs process records in bulks
  of 100 and one such record fails its whole bulk.

When preflight holds any out, the copy and the migration run on an itemized "jobs set" (``handles
run N - jobs set``: the run's set less those records), and the profile's set
(:mod:`pipeline.profile_set`) leaves them out too.

Finding duplicates is two queries whatever the database holds: in the run's set, a ``GROUP BY`` of
its keys; against earlier runs, for each record two seeks in the ``(handle_key, mms_id)`` index
("a row with this key and a smaller MMS id / a larger one"), so the cost does not grow with the
number of earlier runs of the same records.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from sqlalchemy import and_, exists, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from store.models import Outcome, Record, Run, StepKind, StepStatus, utcnow
from store.runs import get_run, step_of

log = logging.getLogger("handles.pipeline")

__all__ = [
    "HELD_OUT",
    "JOBS_SET_SUFFIX",
    "find_duplicates",
    "held_out_records",
    "jobs_set_name",
    "mark_duplicates",
    "prepare_jobs_set",
    "wrong_format_detail",
]

HELD_OUT = (Outcome.DUPLICATE_HANDLE.value, Outcome.WRONG_FORMAT.value)
JOBS_SET_SUFFIX = "jobs set"
_FORMAT_NAMES = {
    "marc21": "MARC 21",
    "unimarc": "UNIMARC",
    "kormarc": "KORMARC",
    "cnmarc": "CNMARC",
    "mods": "MODS",
}


def jobs_set_name(run_id: int) -> str:
    """The name of the itemized set the run's jobs run on: ``handles run N - jobs set``."""
    return f"handles run {run_id} - {JOBS_SET_SUFFIX}"


def wrong_format_detail(record_format: str) -> str:
    """The ``wrong_format`` record's detail, in a cataloguer's words."""
    code = record_format.strip().lower()
    name = _FORMAT_NAMES.get(code, record_format.strip() or "unknown")
    return (
        f"{name} record (record_format {code}): not Dublin Core; Alma's DC jobs would fail its whole "
        f"bulk of 100"
    )


def find_duplicates(session: Session, run_id: int) -> dict[str, list[tuple[str, int | None]]]:
    """MMS id of each record of the run whose expected handle another record claims → the others.

    Each other record is ``(mms_id, None)`` when it is in this run's set, ``(mms_id, run_id)`` when
    it was recorded by an earlier run (its newest such run).
    """
    found: dict[str, dict[str, int | None]] = defaultdict(dict)
    # within the set
    shared = (
        select(Record.handle_key)
        .where(Record.run_id == run_id, col(Record.handle_key).is_not(None))
        .group_by(col(Record.handle_key))
        .having(func.count() > 1)
    )
    by_key: dict[str, list[str]] = defaultdict(list)
    for key, mms in session.exec(
        select(Record.handle_key, Record.mms_id).where(
            Record.run_id == run_id, col(Record.handle_key).in_(shared)
        )
    ):
        by_key[key or ""].append(mms)
    for members in by_key.values():
        for mms in members:
            for other in members:
                if other != mms:
                    found[mms][other] = None
    # against earlier runs: only the records whose key an earlier record with another MMS id holds
    prior = aliased(Record)

    def earlier(direction: Any) -> Any:
        return exists().where(
            col(prior.handle_key) == col(Record.handle_key),
            direction,
            col(prior.run_id) < run_id,
        )

    flagged = select(Record.mms_id, Record.handle_key).where(
        Record.run_id == run_id,
        col(Record.handle_key).is_not(None),
        or_(earlier(col(prior.mms_id) < col(Record.mms_id)), earlier(col(prior.mms_id) > col(Record.mms_id))),
    )
    hits = list(session.exec(flagged))
    for start in range(0, len(hits), 500):
        chunk = hits[start : start + 500]
        keys = {key for _, key in chunk}
        claims: dict[str, dict[str, int]] = defaultdict(dict)
        for key, mms, other_run in session.exec(
            select(Record.handle_key, Record.mms_id, Record.run_id).where(
                and_(col(Record.handle_key).in_(keys), col(Record.run_id) < run_id)
            )
        ):
            runs = claims[key or ""]
            runs[mms] = max(runs.get(mms, 0), other_run)
        _drop_superseded(session, run_id, claims)
        for mms, key in chunk:
            for other_mms, other_run in claims.get(key or "", {}).items():
                if other_mms != mms and other_mms not in found[mms]:
                    found[mms][other_mms] = other_run
    return {mms: sorted(others.items(), key=lambda o: (o[1] or 0, o[0])) for mms, others in found.items()}


def _drop_superseded(session: Session, run_id: int, claims: dict[str, dict[str, int]]) -> None:
    """Forget earlier claims that a newer reading of the same record no longer makes.

    A record read again since (in this run's set, or in a later earlier run) with its metadata
    fixed must not keep another record out of the jobs: only each MMS id's newest reading counts.
    """
    others = sorted({mms for runs in claims.values() for mms in runs})
    if not others:
        return
    current = set(
        session.exec(select(Record.mms_id).where(Record.run_id == run_id, col(Record.mms_id).in_(others)))
    )
    newest: dict[str, tuple[int, str | None]] = {}
    for mms, other_run, key in session.exec(
        select(Record.mms_id, Record.run_id, Record.handle_key).where(
            col(Record.mms_id).in_(others), col(Record.run_id) < run_id
        )
    ):
        if mms not in newest or other_run > newest[mms][0]:
            newest[mms] = (other_run, key)
    for key, runs in claims.items():
        for mms in [m for m in runs if m in current or newest.get(m, (0, key))[1] != key]:
            del runs[mms]


def _describe(handle: str, others: list[tuple[str, int | None]]) -> str:
    named = ", ".join(f"MMS {mms} ({'this set' if run is None else f'run {run}'})" for mms, run in others)
    return (
        f"another record claims handle {handle}: {named}; kept out of every job until a person "
        f"decides which record keeps the handle"
    )


def mark_duplicates(session: Session, run_id: int) -> int:
    """Give every duplicate-claiming record of the run the ``duplicate_handle`` outcome; how many."""
    duplicates = find_duplicates(session, run_id)
    ids = list(duplicates)
    for start in range(0, len(ids), 500):
        for record in session.exec(
            select(Record).where(Record.run_id == run_id, col(Record.mms_id).in_(ids[start : start + 500]))
        ):
            if record.outcome == Outcome.WRONG_FORMAT:
                continue
            record.outcome = Outcome.DUPLICATE_HANDLE.value
            record.detail = _describe(record.expected_handle or "", duplicates[record.mms_id])
            record.updated_at = utcnow()
            session.add(record)
    return len(duplicates)


def held_out_records(session: Session, run_id: int) -> dict[str, str]:
    """MMS id → why preflight kept the record out of every job."""
    return {
        r.mms_id: r.detail or r.outcome
        for r in session.exec(
            select(Record).where(Record.run_id == run_id, col(Record.outcome).in_(HELD_OUT))
        )
    }


def prepare_jobs_set(session_factory: Any, alma: Any, run_id: int) -> str | None:
    """Create the run's jobs set when preflight held records out (once); its id, or None.

    ``session_factory()`` is a context manager giving a session (``store.db.session_scope`` bound
    to the engine). When every record is held out, no job runs: the steps are skipped, with why.
    """
    with session_factory() as session:
        run = get_run(session, run_id)
        if run.jobs_set_id:
            return run.jobs_set_id
        held = held_out_records(session, run_id)
        if not held:
            return None
        keep = [
            r.mms_id
            for r in session.exec(
                select(Record).where(Record.run_id == run_id).order_by(col(Record.position))
            )
            if r.mms_id not in held
        ]
        set_id, content = run.set_id, run.set_content or "IEP"
        if not keep:
            _skip_all(session, run, len(held))
            return None
    created = alma.create_itemized_set(
        jobs_set_name(run_id),
        content=content,
        description=f"Set {set_id} less {len(held)} records kept out of every job (a handle claimed "
        f"by more than one record, or not Dublin Core)",
    )
    jobs_set = str(created["id"])
    alma.add_set_members(jobs_set, keep)
    with session_factory() as session:
        run = get_run(session, run_id)
        run.jobs_set_id, run.jobs_excluded = jobs_set, len(held)
        session.add(run)
    log.info(
        "run %s: the jobs run on set %s: %s of %s records; %s kept out (duplicate handle, not DC)",
        run_id,
        jobs_set,
        len(keep),
        len(keep) + len(held),
        len(held),
    )
    return jobs_set


def _skip_all(session: Session, run: Run, held: int) -> None:
    why = f"not run: all {held} records are kept out of every job (duplicate handles, not Dublin Core)"
    for kind in (StepKind.COPY, StepKind.MIGRATION, StepKind.PROFILE):
        step = step_of(session, run.id, kind)  # type: ignore[arg-type]  # stored row: id is set
        if step.status == StepStatus.PENDING:
            step.status, step.error, step.ended_at = StepStatus.SKIPPED, why, utcnow()
            session.add(step)
    log.warning("run %s: %s", run.id, why)
