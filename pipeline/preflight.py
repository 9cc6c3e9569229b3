"""Preflight: read the set and every member's bib before any job runs.

Members are read page by page and their bibs in batches of 100; each record's expected handle is
stored, and records whose metadata Alma will not accept (``xsi:type="dcterms:URI"`` on
``dc:identifier``, no handle at all) are flagged before anything is submitted. Safe to run again:
records are upserted by (run, MMS id).

Then (issue 11): records that are not Dublin Core and records whose handle another record claims
are kept out of every job (:mod:`pipeline.holdout`, which makes the run's jobs set), and where each
expected handle points now is kept as the "before" of the run (:mod:`pipeline.before`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from handles.syntax import handle_key
from pipeline.before import check_before
from pipeline.errors import SetNotUsable
from pipeline.holdout import mark_duplicates, prepare_jobs_set, wrong_format_detail
from pipeline.runs import check_set, fail_run
from store.db import session_scope
from store.models import Outcome, Record, RunState, StepKind, StepStatus, utcnow
from store.runs import get_run, step_of

log = logging.getLogger("handles.pipeline")

__all__ = ["PreflightSummary", "preflight", "read_metadata"]

BATCH = 100


class PreflightSummary(dict):
    """Counts from preflight: members, ok, needs_copy, missing, malformed, wrong_format, duplicates."""


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def read_metadata(bib: Any, prefix: str, pid_pattern: str | None = None) -> dict[str, Any]:
    """What preflight keeps of one bib: pid, expected handle, the problem Alma will have with it.

    A handle still only in ``dcterms:identifier`` is judged as it will be after step 1: the copy
    job carries an ``xsi:type="dcterms:URI"`` attribute along into ``dc:identifier``, where the
    migration job no longer sees the handle (seed 001).
    """
    from alma.dc import parse_dc
    from alma.errors import DublinCoreError

    try:
        dc = parse_dc(bib.record_xml, **({"pid_pattern": pid_pattern} if pid_pattern else {}))
    except DublinCoreError as exc:
        return {
            "pid": None,
            "expected_handle": None,
            "problem": f"malformed: the bib cannot be read ({exc})",
            "needs_copy": False,
            "note": None,
        }
    needs_copy = dc.needs_copy(prefix)
    problem = dc.problem(prefix)
    if needs_copy and problem is None:
        typed = [i for i in dc.identifiers if i.element == "dcterms:identifier" and i.under(prefix)]
        if typed and all(i.xsi_type for i in typed):
            problem = (
                f'malformed: xsi:type="{typed[0].xsi_type}" on dcterms:identifier; the copy job carries '
                f"it into dc:identifier, where the migration cannot use the handle"
            )
    return {
        "pid": dc.pid,
        "expected_handle": dc.expected_handle(prefix),
        "problem": problem,
        "needs_copy": needs_copy,
        "note": dc.handle_note(prefix),
    }


def _not_dc(bib: Any) -> dict[str, Any]:
    return {"pid": None, "expected_handle": None, "problem": None, "needs_copy": False, "note": None}


def preflight(
    *,
    engine: Engine,
    alma: Any,
    settings: Any,
    run_id: int,
    resolver: Any = None,
    resolver_transport: Any = None,
    check_resolver: bool = True,
) -> PreflightSummary:
    """Check the set, store one Record per member, decide on ``--skip-copy``. Fails the run if unusable.

    ``resolver`` (a :class:`handles.resolver.BlockingResolver`) or ``resolver_transport`` serve the
    "before" lookups; without either a client is made from the settings.
    """
    with session_scope(engine) as session:
        run = get_run(session, run_id)
        if run.state not in (RunState.QUEUED, RunState.PREFLIGHT):
            return PreflightSummary(skipped=True)
        run.state, run.heartbeat_at = RunState.PREFLIGHT, utcnow()
        session.add(run)
        set_id = run.set_id
    try:
        info = check_set(alma, set_id)
    except SetNotUsable as exc:
        with session_scope(engine) as session:
            fail_run(session, get_run(session, run_id), str(exc))
        log.error("run %s: preflight: %s", run_id, exc)
        raise
    summary = PreflightSummary(
        members=0, ok=0, needs_copy=0, missing=0, malformed=0, wrong_format=0, duplicates=0
    )
    position = 0
    for chunk in _chunks(alma.iter_set_members(set_id), BATCH):
        ids = [str(m["id"]) for m in chunk]
        bibs = {b.mms_id: b for b in alma.get_bibs(ids)}
        with session_scope(engine) as session:
            existing = {
                r.mms_id: r
                for r in session.exec(
                    select(Record).where(Record.run_id == run_id, col(Record.mms_id).in_(ids))
                )
            }
            for mms_id in ids:
                bib = bibs.get(mms_id)
                dublin_core = bib is None or bib.is_dublin_core
                meta: dict[str, Any] = (
                    _not_dc(bib)
                    if not dublin_core
                    else read_metadata(bib, settings.handle_prefix, settings.handle_pid_pattern)
                    if bib is not None
                    else {
                        "pid": None,
                        "expected_handle": None,
                        "problem": "malformed: Alma returned no bib",
                        "needs_copy": False,
                        "note": None,
                    }
                )
                record = existing.get(mms_id) or Record(run_id=run_id, mms_id=mms_id)
                record.position = position
                record.pid, record.expected_handle = meta["pid"], meta["expected_handle"]
                record.handle_key = handle_key(meta["expected_handle"]) if meta["expected_handle"] else None
                record.suppressed = bool(bib is not None and bib.suppress_from_publishing)
                record.metadata_problem = meta["problem"]
                if not dublin_core:
                    record.outcome = Outcome.WRONG_FORMAT.value
                    record.detail = wrong_format_detail(bib.record_format if bib else "")
                    summary["wrong_format"] += 1
                elif record.outcome == Outcome.UNKNOWN and (meta["problem"] or meta["note"]):
                    said = [t for t in (meta["problem"], meta["note"]) if t]
                    record.detail = "preflight: " + "; ".join(said)
                if record.expected_handle:
                    record.target_url = settings.target_url(mms_id)
                record.updated_at = utcnow()
                session.add(record)
                position += 1
                summary["members"] += 1
                if not dublin_core:
                    continue
                summary["needs_copy"] += int(meta["needs_copy"])
                problem = meta["problem"] or ""
                key = "ok" if not problem else ("missing" if problem.startswith("missing") else "malformed")
                summary[key] += 1
            run = get_run(session, run_id)
            run.heartbeat_at = utcnow()
            session.add(run)
    with session_scope(engine) as session:
        run = get_run(session, run_id)
        run.set_name = info.get("name") or run.set_name
        run.set_content = (info.get("content") or {}).get("value") or run.set_content
        run.member_count = summary["members"]
        session.add(run)
        summary["duplicates"] = mark_duplicates(session, run_id)
    prepare_jobs_set(lambda: session_scope(engine), alma, run_id)
    if check_resolver:
        check_before(
            engine=engine, settings=settings, run_id=run_id, resolver=resolver, transport=resolver_transport
        )
    with session_scope(engine) as session:
        run = get_run(session, run_id)
        copy = step_of(session, run_id, StepKind.COPY)
        if run.skip_copy and copy.status == StepStatus.PENDING:
            if summary["needs_copy"] == 0:
                copy.status, copy.error = (
                    StepStatus.SKIPPED,
                    "skipped (--skip-copy): every record has its handle in dc:identifier",
                )
            else:
                copy.error = (
                    f"--skip-copy ignored: {summary['needs_copy']} records have their handle only "
                    f"in dcterms:identifier"
                )
                log.warning("run %s: %s", run_id, copy.error)
            session.add(copy)
        run.state, run.heartbeat_at = RunState.RUNNING, utcnow()
        session.add(run)
    log.info(
        "run %s: preflight of set %s (%s): %s members, %s ready, %s need the copy, %s missing a handle, "
        "%s malformed, %s not Dublin Core, %s claiming a handle another record claims",
        run_id,
        set_id,
        info.get("name"),
        summary["members"],
        summary["ok"],
        summary["needs_copy"],
        summary["missing"],
        summary["malformed"],
        summary["wrong_format"],
        summary["duplicates"],
    )
    return summary
