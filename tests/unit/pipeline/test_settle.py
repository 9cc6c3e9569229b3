"""Exactly once: a submission whose answer was lost is settled from Alma's instance list."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from alma.naming import instance_matches
from pipeline.context import Next, job_name_for
from pipeline.steps import drive_step
from store.models import StepKind, StepStatus
from tests.unit.pipeline.conftest import World, instance, instances, posted

COPY = StepKind.COPY.value


def _lost_answer(world: World) -> tuple[int, str]:
    """A copy step whose POST timed out, with nothing in Alma's list yet: left SUBMITTING."""
    run_id = world.new_run()
    name = job_name_for(world.run(run_id), COPY)
    world.fake.on("POST", f"/conf/jobs/{world.job(COPY)}", httpx.ReadTimeout("read timed out"))
    world.fake.on("GET", f"/conf/jobs/{world.job(COPY)}/instances", instances())
    nxt = drive_step(world.ctx, run_id=run_id, kind=COPY)
    assert nxt == Next.retry(world.settings.poll_min_seconds, "submission unsettled")
    step = world.step(run_id, COPY)
    assert (step.status, step.instance_id, step.job_name) == (StepStatus.SUBMITTING, None, name)
    assert [s.result for s in world.submissions(run_id)] == ["unsettled"]
    assert world.posts(COPY) == 1
    return run_id, name


def test_an_instance_found_after_an_ambiguous_failure_is_adopted_not_posted_again(world: World) -> None:
    run_id, name = _lost_answer(world)
    world.fake.on(
        "GET",
        f"/conf/jobs/{world.job(COPY)}/instances",
        instances(
            instance("4441", name="someone else's run", submitted=world.clock[0]),
            instance("4442", name=name, submitted=world.clock[0]),
        ),
    )

    nxt = drive_step(world.ctx, run_id=run_id, kind=COPY)

    assert nxt == Next.retry(world.settings.poll_min_seconds)
    step = world.step(run_id, COPY)
    assert (step.status, step.instance_id) == (StepStatus.RUNNING, "4442")
    assert [(s.result, s.instance_id) for s in world.submissions(run_id)] == [
        ("unsettled", None),
        ("adopted", "4442"),
    ]
    assert world.posts(COPY) == 1


def test_an_adopted_instance_is_looked_at_soon_even_with_the_webhook(world: World) -> None:
    # its JOB_END event may have come while the step was SUBMITTING (nothing to match it to then):
    # the first look is not left to the webhook's fallback, ten minutes away
    world.settings = world.ctx.settings = world.settings.model_copy(
        update={"alma_webhook_secret": SecretStr("s3cret"), "webhook_fallback_poll_seconds": 600.0}
    )
    run_id, name = _lost_answer(world)
    world.fake.on(
        "GET",
        f"/conf/jobs/{world.job(COPY)}/instances",
        instances(instance("4442", name=name, submitted=world.clock[0])),
    )

    nxt = drive_step(world.ctx, run_id=run_id, kind=COPY)

    assert nxt == Next.retry(world.settings.poll_min_seconds)
    assert world.step(run_id, COPY).instance_id == "4442"


def test_nothing_found_within_the_grace_period_means_wait(world: World) -> None:
    run_id, _ = _lost_answer(world)
    world.advance(world.ctx.submit_grace.total_seconds() - 1)

    nxt = drive_step(world.ctx, run_id=run_id, kind=COPY)

    assert nxt == Next.retry(world.settings.poll_min_seconds, "submission in progress")
    assert world.step(run_id, COPY).status == StepStatus.SUBMITTING
    assert world.posts(COPY) == 1


def test_nothing_found_after_the_grace_period_means_post_again_once(world: World) -> None:
    run_id, name = _lost_answer(world)
    world.advance(world.ctx.submit_grace.total_seconds() + 1)
    world.fake.on("POST", f"/conf/jobs/{world.job(COPY)}", httpx.Response(200, json=posted("4443")))

    nxt = drive_step(world.ctx, run_id=run_id, kind=COPY)

    assert nxt == Next.retry(world.settings.poll_min_seconds)
    step = world.step(run_id, COPY)
    assert (step.status, step.instance_id, step.job_name) == (StepStatus.RUNNING, "4443", name)
    assert [s.result for s in world.submissions(run_id)] == ["unsettled", "posted"]
    assert world.posts(COPY) == 2
    # and once only: the next visit polls the instance
    world.fake.on("GET", f"/conf/jobs/{world.job(COPY)}/instances/4443", instance("4443"))
    drive_step(world.ctx, run_id=run_id, kind=COPY)
    assert world.posts(COPY) == 2


def test_an_instance_is_ours_by_our_name_bare_or_with_almas_date() -> None:
    name = "handles run 7 copy - set 12"
    assert instance_matches(name, name)
    assert instance_matches(name + " - 2025-10-05 4:11 AM", name)  # as Alma names it (S01)
    assert not instance_matches("handles run 71 copy - set 12", name)
    assert not instance_matches("handles run 7 copy - set 123 - 2025-10-05 4:11 AM", name)
    assert not instance_matches("", name)
