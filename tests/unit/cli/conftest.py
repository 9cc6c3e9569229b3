"""A run that looks like a real one: 18-digit MMS ids, long handles, Alma instance ids, long notes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline.runs import create_run
from store.db import session_scope
from store.models import HandleCheck, Record, RunState, Step, utcnow
from workers import resources

LONG_NOTE = " ".join(["Alma says the job ended with exceptions for some records"] * 12)
OUTCOMES = ["migrated", "malformed_identifier", "conflict", "unknown", "failed", "missing_identifier"]


def mms(n: int) -> str:
    return f"991011{n:07d}04641"  # 18 digits, as Alma's


def handle(n: int) -> str:
    return f"11084/174240{n:04d}39-long-suffix"


@pytest.fixture
def big_run(monkeypatch):  # type: ignore[no-untyped-def]
    """(run_id, records): 60 records, most of them problems, in a succeeded run with its steps done."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("HANDLES_TIMEZONE", "Europe/London")
    resources.ensure_schema()
    with session_scope(resources.engine()) as session:
        run = create_run(session=session, set_id="7593466560004641", set_name="Grinnell digital titles " * 5)
        run.state = RunState.SUCCEEDED
        run.finished_at = utcnow()
        session.add(run)
        for n, step in enumerate(session.query(Step).filter(Step.run_id == run.id).all()):
            step.status = "succeeded"
            step.alma_job_id = f"S{n}7134930004641"
            step.instance_id = f"{n}8290133900004641"
            step.alma_status = "COMPLETED_SUCCESS"
            step.progress = 100
            step.error = LONG_NOTE
            session.add(step)
        records = []
        for n in range(60):
            outcome = OUTCOMES[n % len(OUTCOMES)]
            records.append((mms(n), handle(n), outcome))
            session.add(
                Record(
                    run_id=run.id,
                    position=n,
                    mms_id=mms(n),
                    expected_handle=handle(n),
                    alma_handle=handle(n + 1000) if outcome == "conflict" else None,
                    outcome=outcome,
                    verification="wrong_target" if n % 4 == 0 else "ok",
                    detail=LONG_NOTE,
                )
            )
            if n % 4 == 0:
                for when, verdict in ((utcnow() - timedelta(days=1), "ok"), (utcnow(), "not_found")):
                    session.add(
                        HandleCheck(
                            handle=handle(n),
                            handle_key=handle(n).upper(),
                            mms_id=mms(n),
                            run_id=run.id,
                            checked_at=when,
                            verification=verdict,
                            target="https://example.org/discovery/fulldisplay/alma" + mms(n),
                            detail=LONG_NOTE,
                            regression=verdict == "not_found",
                        )
                    )
        run_id = run.id
    return run_id, records
