"""A database the way the product fills it, for the web page's tests.

:func:`drive_runs` runs the pipeline's own code in this process against the sandbox over real HTTP
(no Celery: the same ``preflight`` → ``drive_step`` × 3 → ``finish_run`` the tasks call, with the
retries the tasks would schedule done in a loop): the demo's sample set to the end (every outcome,
Alma instance ids and counters, verification history), and seed 000's set in operator mode left
waiting for the operator. :func:`small_database` is the cheap version for route tests: runs made by
``create_run`` and rows shaped as preflight and classification write them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from pipeline.runs import create_run
from store.db import session_scope
from store.models import HandleCheck, HandleRequest, Record, RunState, StepKind, StepStatus, utcnow
from store.runs import run_steps

DEMO_SET = "7600000000004641"
SEED_SET = "7593466560004641"


@dataclass
class Built:
    finished_run: int
    waiting_run: int


def _drive(ctx, run_id: int, kind: str, *, until_operator: bool = False, timeout: float = 60.0) -> str:  # type: ignore[no-untyped-def]
    from pipeline.steps import drive_step
    from store.db import session_scope
    from store.runs import get_run

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = drive_step(ctx, run_id=run_id, kind=kind)
        if result.action != "retry":
            return result.action
        if until_operator:
            with session_scope(ctx.engine) as session:
                if get_run(session, run_id).state == RunState.WAITING_OPERATOR:
                    return "waiting"
        time.sleep(min(result.countdown, 0.2))  # the task's retry countdown, shortened
    raise AssertionError(f"run {run_id}: the {kind} step did not end within {timeout}s")


def drive_runs(engine: Engine, settings, alma) -> Built:  # type: ignore[no-untyped-def]
    """The demo set run to the end, and seed 000's set waiting for the operator (profile step)."""
    from pipeline.budget import LocalJobBudget
    from pipeline.finish import finish_run
    from pipeline.preflight import preflight
    from pipeline.steps import PipelineContext

    ctx = PipelineContext(engine=engine, alma=alma, settings=settings, budget=LocalJobBudget(max_per_hour=50))
    with session_scope(engine) as session:
        finished = create_run(session=session, set_id=DEMO_SET).id
        waiting = create_run(session=session, set_id=SEED_SET, profile_mode="operator").id
    assert finished is not None and waiting is not None
    # the waiting run first: once paused it is not visited again, so it cannot take the other
    # run's profile instance for the one its operator started
    preflight(engine=engine, alma=alma, settings=settings, run_id=waiting)
    for kind in (StepKind.COPY, StepKind.MIGRATION):
        assert _drive(ctx, waiting, kind) == "continue", kind
    assert _drive(ctx, waiting, StepKind.PROFILE, until_operator=True) == "waiting"
    preflight(engine=engine, alma=alma, settings=settings, run_id=finished)
    for kind in (StepKind.COPY, StepKind.MIGRATION, StepKind.PROFILE):
        assert _drive(ctx, finished, kind) == "continue", kind
    finish_run(ctx=ctx, run_id=finished)
    return Built(finished_run=finished, waiting_run=waiting)


# --- cheap: for the route tests -------------------------------------------------------------------

MMS = [f"99101{n:04d}0104641" for n in range(250)]


def small_database(engine: Engine) -> Built:
    """Run 1 ended (250 records, several outcomes, checks, a request); run 2 waits for the operator."""
    with session_scope(engine) as session:
        run = create_run(session=session, set_id=DEMO_SET, set_name="Digital collections sample")
        assert run.id is not None
        run.member_count = len(MMS)
        for step in run_steps(session, run.id):
            if step.kind != StepKind.VERIFY:
                step.alma_job_id = {"copy": "M48401", "migration": "M48402", "profile": "M48403"}[step.kind]
                step.instance_id = f"6012345{step.position}0004641"
                step.alma_status = "COMPLETED_SUCCESS"
                step.alma_status_desc = "Completed Successfully"
                step.progress = 100
                step.counters = {"Records processed": str(len(MMS)), "Records with exceptions": "3"}
            step.status = StepStatus.SUCCEEDED
            step.submitted_at = step.started_at = step.ended_at = utcnow()
            session.add(step)
        for position, mms_id in enumerate(MMS):
            outcome = "conflict" if position < 3 else "failed" if position < 5 else "migrated"
            handle = f"11084/{1000 + position}"
            session.add(
                Record(
                    run_id=run.id,
                    position=position,
                    mms_id=mms_id,
                    pid=f"grinnell:{1000 + position}",
                    expected_handle=handle,
                    alma_handle="11084/1742400039" if outcome == "conflict" else handle,
                    outcome=outcome,
                    verification="wrong_target" if outcome == "conflict" else "ok",
                    detail="already has a handle identifier 11084/1742400039"
                    if outcome == "conflict"
                    else None,
                )
            )
            session.add(
                HandleCheck(
                    handle=handle,
                    handle_key=handle.upper(),
                    mms_id=mms_id,
                    run_id=run.id,
                    verification="wrong_target" if outcome == "conflict" else "ok",
                    regression=position == 0,
                )
            )
        run.state, run.finished_at = RunState.SUCCEEDED, utcnow()
        session.add(run)
        session.add(
            HandleRequest(
                op="update",
                handle="11084/1000",
                handle_key="11084/1000",
                url="http://127.0.0.1:8780/discovery/fulldisplay/alma991010000104641/01GCL_INST:GCL",
                status="error",
                attempts=3,
                error="the Handle server refused the secret key",
                run_id=run.id,
                mms_id=MMS[0],
            )
        )
        waiting = create_run(session=session, set_id=SEED_SET, profile_mode="operator")
        waiting.state = RunState.WAITING_OPERATOR
        waiting.wait_reason = (
            "waiting for the operator: in Alma, open Configuration > General > Integration Profiles"
        )
        session.add(waiting)
        finished_id, waiting_id = run.id, waiting.id
    assert waiting_id is not None
    return Built(finished_run=finished_id, waiting_run=waiting_id)
