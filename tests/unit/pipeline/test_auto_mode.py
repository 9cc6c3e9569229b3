"""ALMA_PROFILE_MODE=auto: step 3 by API, and the operator path when Alma refuses it; the daily
quota hold; a refused API key stops the run once and for all."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session

from alma.errors import AlmaAuthError
from pipeline.budget import LocalJobBudget
from pipeline.context import QUOTA_WAIT, Next
from pipeline.holds import stop_key_refused
from pipeline.operator import API_REFUSED, confirm_operator
from pipeline.recovery import claim_stalled_runs
from pipeline.steps import drive_step
from store.models import Run, RunState, StepKind, StepStatus, utcnow
from tests.unit.alma.fakes import alma_error
from tests.unit.pipeline.conftest import World, instance, instances, posted

COPY = StepKind.COPY.value
MIGRATION = StepKind.MIGRATION.value
PROFILE = StepKind.PROFILE.value

NOT_BY_API = [
    ("402248", "Cannot submit scheduled job."),
    ("402249", "Job is not submittable by API."),
    ("402231", "Only single-task jobs can be run."),
]


def _ready_for_profile(world: World, mode: str, answer: httpx.Response | dict) -> int:
    """A run in ``mode`` whose copy and migration succeeded; Alma answers ``op=run`` with ``answer``."""
    run_id = world.new_run(done=(COPY, MIGRATION), profile_mode=mode)
    migration = world.step(run_id, MIGRATION)
    world.fake.on(
        "GET",
        f"/conf/jobs/{world.job(MIGRATION)}/instances/{migration.instance_id}/events",
        alma_error(400, "60332", "events are only for USERS/SIS jobs"),
    )
    world.fake.on("POST", f"/conf/jobs/{world.job(PROFILE)}", answer)
    older = instance("8880", name="last week's run", submitted=world.clock[0] - timedelta(days=1))
    world.fake.on("GET", f"/conf/jobs/{world.job(PROFILE)}/instances", instances(older))
    return run_id


@pytest.mark.parametrize(("code", "message"), NOT_BY_API, ids=[c for c, _ in NOT_BY_API])
def test_auto_a_profile_alma_will_not_run_by_api_goes_to_the_operator(
    world: World, code: str, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    world.use_budget(LocalJobBudget(max_running=1))
    run_id = _ready_for_profile(world, "auto", alma_error(400, code, message))

    nxt = drive_step(world.ctx, run_id=run_id, kind=PROFILE)

    # the run waits for the operator, as operator mode does; it is not failed
    assert nxt == Next.retry(world.settings.poll_max_seconds, "waiting for the operator")
    run = world.run(run_id)
    assert run.state == RunState.WAITING_OPERATOR and run.error is None
    assert run.profile_mode == "operator" and run.operator_paused_at == world.clock[0]
    reason = run.wait_reason or ""
    assert reason.startswith(f"waiting for the operator ({API_REFUSED}, {code}): in Alma, open ")
    assert "'Create and Update'" in reason and f"(set {run.set_id})" in reason
    assert f"`handles confirm {run_id}`" in reason and f"new run of job {world.job(PROFILE)}" in reason
    step = world.step(run_id, PROFILE)
    assert (step.status, step.intent_at, step.instance_id) == (StepStatus.PENDING, None, None)
    assert step.error == f"{API_REFUSED}, {code}: {message.rstrip('.')}; run in Alma's UI instead"
    [sub] = world.submissions(run_id)
    assert sub.result == "refused" and code in (sub.detail or "")
    switched = [r.getMessage() for r in caplog.records if "switching this run" in r.getMessage()]
    assert len(switched) == 1 and code in switched[0]
    # the refusal does not keep the budget slot
    assert world.budget.try_reserve("step:someone-else", world.job(PROFILE)).granted

    # visited again: still waiting with the same words, never posted again
    world.advance(60)
    assert drive_step(world.ctx, run_id=run_id, kind=PROFILE).reason == "waiting for the operator"
    assert world.run(run_id).wait_reason == reason
    assert world.posts(PROFILE) == 1

    # the operator runs the profile in Alma's UI: the run adopts that instance and goes on
    ui_run = instance("8881", name="Persistent handles", submitted=world.clock[0])
    world.fake.on("GET", f"/conf/jobs/{world.job(PROFILE)}/instances", instances(ui_run))
    assert drive_step(world.ctx, run_id=run_id, kind=PROFILE) == Next.retry(world.settings.poll_min_seconds)
    world.fake.on(
        "GET",
        f"/conf/jobs/{world.job(PROFILE)}/instances/8881",
        instance("8881", status="COMPLETED_SUCCESS", ended=world.clock[0]),
    )
    assert drive_step(world.ctx, run_id=run_id, kind=PROFILE) == Next.cont()
    assert world.step(run_id, PROFILE).status == StepStatus.SUCCEEDED
    assert world.run(run_id).state == RunState.RUNNING and world.posts(PROFILE) == 1


def test_auto_a_switched_run_goes_on_after_handles_confirm(world: World) -> None:
    run_id = _ready_for_profile(world, "auto", alma_error(400, "402248", "Cannot submit scheduled job."))
    drive_step(world.ctx, run_id=run_id, kind=PROFILE)

    with Session(world.engine) as session:
        assert confirm_operator(session, run_id) == "the profile was run in Alma's UI"
        session.commit()

    assert drive_step(world.ctx, run_id=run_id, kind=PROFILE) == Next.cont()
    assert world.step(run_id, PROFILE).status == StepStatus.SUCCEEDED
    assert world.posts(PROFILE) == 1


def test_auto_a_profile_alma_runs_by_api_is_followed_as_before(world: World) -> None:
    run_id = _ready_for_profile(world, "auto", posted("6661"))

    assert drive_step(world.ctx, run_id=run_id, kind=PROFILE) == Next.retry(world.settings.poll_min_seconds)

    step = world.step(run_id, PROFILE)
    assert (step.status, step.instance_id, step.error) == (StepStatus.RUNNING, "6661", None)
    run = world.run(run_id)
    assert (run.state, run.profile_mode, run.operator_paused_at) == (RunState.RUNNING, "auto", None)


def test_auto_only_the_profile_switches_an_earlier_refused_step_fails(world: World) -> None:
    run_id = world.new_run(profile_mode="auto")
    world.fake.on("POST", f"/conf/jobs/{world.job(COPY)}", alma_error(400, "402249", "not by API"))

    assert drive_step(world.ctx, run_id=run_id, kind=COPY).action == "stop"
    assert world.run(run_id).state == RunState.FAILED


@pytest.mark.parametrize(("code", "message"), NOT_BY_API[:2], ids=[c for c, _ in NOT_BY_API[:2]])
def test_api_mode_a_refused_profile_still_fails_the_run(world: World, code: str, message: str) -> None:
    world.use_budget(LocalJobBudget(max_running=1))
    run_id = _ready_for_profile(world, "api", alma_error(400, code, message))

    nxt = drive_step(world.ctx, run_id=run_id, kind=PROFILE)

    assert nxt.action == "stop" and code in (nxt.reason or "")
    step = world.step(run_id, PROFILE)
    assert step.status == StepStatus.FAILED and f"Alma refused the job: {code}" in (step.error or "")
    run = world.run(run_id)
    assert (run.state, run.profile_mode, run.operator_paused_at) == (RunState.FAILED, "api", None)
    assert world.budget.try_reserve("step:someone-else", world.job(PROFILE)).granted


def test_a_daily_threshold_answer_holds_the_run_instead_of_failing_it(world: World) -> None:
    world.use_budget(LocalJobBudget(max_running=1))
    run_id = world.new_run()
    world.clock[0] = world.clock[0].replace(minute=20)
    world.fake.on(
        "POST",
        f"/conf/jobs/{world.job(COPY)}",
        alma_error(429, "DAILY_THRESHOLD", "Daily API Request Threshold has been reached"),
    )

    nxt = drive_step(world.ctx, run_id=run_id, kind=COPY)

    # visited again at the next hour (40 minutes away), not in a minute
    assert nxt == Next.retry(40 * 60.0, QUOTA_WAIT)
    run = world.run(run_id)
    assert (run.state, run.wait_reason, run.error) == (RunState.WAITING, QUOTA_WAIT, None)
    step = world.step(run_id, COPY)
    assert (step.status, step.intent_at) == (StepStatus.PENDING, None)
    assert world.budget.try_reserve("step:someone-else", world.job(COPY)).granted


def _silent(world: World, run_id: int, seconds: float) -> None:
    with Session(world.engine) as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.heartbeat_at = utcnow() - timedelta(seconds=seconds)
        session.add(run)
        session.commit()


def test_recovery_leaves_a_quota_held_run_alone_until_its_next_visit_is_overdue(world: World) -> None:
    held, stalled = world.new_run(), world.new_run()
    with Session(world.engine) as session:
        run = session.get(Run, held)
        assert run is not None
        run.state, run.wait_reason = RunState.WAITING, QUOTA_WAIT
        session.add(run)
        session.commit()
    _silent(world, held, 20 * 60)
    _silent(world, stalled, 20 * 60)

    claimed = claim_stalled_runs(engine=world.engine, threshold=timedelta(seconds=300))
    assert [r[0] for r in claimed.runs] == [stalled] and claimed.fresh == 1

    _silent(world, held, 60 * 60)  # the hourly visit did not come: the run has lost its message
    assert [r[0] for r in claim_stalled_runs(engine=world.engine, threshold=timedelta(seconds=300)).runs] == [
        held
    ]


def test_a_refused_key_on_submit_gives_back_the_slot_and_stops_the_run(world: World) -> None:
    world.use_budget(LocalJobBudget(max_running=1))
    run_id = world.new_run()
    world.fake.on(
        "POST",
        f"/conf/jobs/{world.job(COPY)}",
        alma_error(400, "UNAUTHORIZED", "API-key not defined or not configured to allow this API."),
    )

    with pytest.raises(AlmaAuthError) as refused:
        drive_step(world.ctx, run_id=run_id, kind=COPY)
    step = world.step(run_id, COPY)
    assert (step.status, step.intent_at) == (StepStatus.PENDING, None)
    assert [s.result for s in world.submissions(run_id)] == ["refused"]

    # the task's stop mapping: one line, naming the setting; the run failed
    line = stop_key_refused(world.engine, world.budget, run_id, "copy step", refused.value)
    assert "\n" not in line and "ALMA_API_KEY" in line and "UNAUTHORIZED" in line
    run = world.run(run_id)
    assert run.state == RunState.FAILED and run.error == f"copy step: {line}"
    assert world.budget.try_reserve("step:someone-else", world.job(COPY)).granted
    # recovery never resumes it, however long it stays silent; a visit does not post
    _silent(world, run_id, 24 * 3600)
    assert claim_stalled_runs(engine=world.engine, threshold=timedelta(seconds=300)).runs == []
    assert drive_step(world.ctx, run_id=run_id, kind=COPY).action == "stop"
    assert world.posts(COPY) == 1


def test_a_refused_key_while_a_step_runs_releases_its_slot(world: World) -> None:
    world.use_budget(LocalJobBudget(max_running=1))
    run_id = world.new_run()
    world.fake.on("POST", f"/conf/jobs/{world.job(COPY)}", posted("7001"))
    drive_step(world.ctx, run_id=run_id, kind=COPY)
    assert not world.budget.try_reserve("step:someone-else", world.job(COPY)).granted
    world.fake.on("GET", f"/conf/jobs/{world.job(COPY)}/instances/7001", alma_error(401, "UNAUTHORIZED"))

    with pytest.raises(AlmaAuthError) as refused:
        drive_step(world.ctx, run_id=run_id, kind=COPY)
    stop_key_refused(world.engine, world.budget, run_id, "copy step", refused.value)

    assert world.run(run_id).state == RunState.FAILED
    assert world.budget.try_reserve("step:someone-else", world.job(COPY)).granted


def test_auto_is_the_default_of_the_setting_and_of_a_new_run(world: World) -> None:
    from config.settings import Settings
    from pipeline.runs import create_run

    assert Settings().alma_profile_mode == "auto"
    with Session(world.engine) as session:
        assert create_run(session=session, set_id="123").profile_mode == "auto"
        assert Run(set_id="456").profile_mode == "auto"
