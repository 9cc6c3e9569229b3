"""Step 3's set made while the migration runs, so the profile starts with one call (issue 14).

Also: a 60332 refusal of the migration's events is remembered for a day (later runs do not ask),
one maker of the set at a time, and a set made ahead is made again when an Events Report imported
later leaves more records out.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session

from pipeline.context import Next
from pipeline.profile_set import prepare_profile_set_ahead
from pipeline.steps import drive_step
from store.models import EventLine, Record, Run, StepKind, StepStatus
from tests.unit.alma.fakes import alma_error, body
from tests.unit.pipeline.conftest import World, posted
from tests.unit.pipeline.test_holdout import bib
from tests.unit.pipeline.test_holdout import members_added as members

MIGRATION, PROFILE = StepKind.MIGRATION.value, StepKind.PROFILE.value
SET = "7593466560004641"
MADE, MADE_AGAIN = "7700000000024641", "7700000000034641"
TYPED = (
    '<record xmlns="http://alma.exlibrisgroup.com/dc/01GCL_INST" xmlns:dc="http://purl.org/dc/elements/1.1/"'
    ' xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<dc:title>T</dc:title>"
    '<dc:identifier xsi:type="dcterms:URI">http://hdl.handle.net/11084/2</dc:identifier></record>'
)


def migrating_run(world: World, *, events: str = "refused") -> int:
    """A run whose copy is done and whose migration runs: 9901 and 9903 fine, 9902 flagged (xsi:type)."""
    run_id = world.new_run(done=("copy",))
    world.set_step(
        run_id, MIGRATION, status=StepStatus.RUNNING, alma_job_id=world.job(MIGRATION), instance_id="5501"
    )
    with Session(world.engine) as session:
        for position, (mms, problem) in enumerate(
            (("9901", None), ("9902", "malformed: xsi:type"), ("9903", None))
        ):
            session.add(
                Record(
                    run_id=run_id,
                    mms_id=mms,
                    position=position,
                    metadata_problem=problem,
                    expected_handle=f"11084/{position + 1}",
                )
            )
        session.commit()
    events_path = f"/conf/jobs/{world.job(MIGRATION)}/instances/5501/events"
    if events == "refused":
        world.fake.on("GET", events_path, alma_error(400, "60332", "only for USERS/SIS jobs"))
    else:
        world.fake.on("GET", events_path, {"event": [], "total_record_count": 0})
    typed = bib("9902", None)
    typed["anies"] = [TYPED]
    world.fake.on("GET", "/bibs", {"bib": [typed]})
    world.fake.on("POST", "/conf/sets", {"id": MADE}, {"id": MADE_AGAIN})
    world.fake.on("POST", f"/conf/sets/{MADE}", {"id": MADE})
    world.fake.on("POST", f"/conf/sets/{MADE_AGAIN}", {"id": MADE_AGAIN})
    world.fake.on("DELETE", f"/conf/sets/{MADE}", httpx.Response(204))
    world.fake.on("POST", f"/conf/jobs/{world.job(PROFILE)}", posted("6601"))
    return run_id


def end_migration(world: World, run_id: int) -> None:
    world.advance(60)
    world.set_step(
        run_id, MIGRATION, status=StepStatus.SUCCEEDED, ended_at=world.clock[0], ended_via="webhook"
    )


def calls(world: World) -> list[str]:
    return [f"{r.method} {r.url.path.removeprefix('/almaws/v1')}" for r in world.fake.requests]


def profile_posted_on(world: World) -> str:
    [post] = [r for r in world.fake.requests if r.method == "POST" and "/conf/jobs/" in r.url.path]
    return str(post.url.params.get("set_id") or body(post).get("set_id") or post.content.decode())


def test_the_set_is_made_while_the_migration_runs_and_step_3_is_then_one_call(world: World) -> None:
    run_id = migrating_run(world)

    said = prepare_profile_set_ahead(world.ctx, run_id)

    assert said == f"the profile's set is ready while the migration runs: set {MADE}"
    assert calls(world) == [
        f"GET /conf/jobs/{world.job(MIGRATION)}/instances/5501/events",  # answered 60332
        "GET /bibs",
        "POST /conf/sets",
        f"POST /conf/sets/{MADE}",
    ]
    run = world.run(run_id)
    assert (run.profile_set_id, run.profile_excluded, run.profile_set_claimed_at) == (MADE, 1, None)
    assert "60332" in (world.step(run_id, MIGRATION).error or "")
    assert members(world, MADE) == ["9901", "9903"]

    end_migration(world, run_id)
    world.fake.requests.clear()
    assert drive_step(world.ctx, run_id=run_id, kind=PROFILE) == Next.retry(world.settings.poll_min_seconds)

    assert calls(world) == [f"POST /conf/jobs/{world.job(PROFILE)}"]
    assert MADE in profile_posted_on(world)
    assert world.step(run_id, PROFILE).status == StepStatus.RUNNING


def test_a_refusal_of_the_events_is_remembered_for_a_day(world: World) -> None:
    first = migrating_run(world)
    end_migration(world, first)
    drive_step(world.ctx, run_id=first, kind=PROFILE)
    events = f"GET /conf/jobs/{world.job(MIGRATION)}/instances/5501/events"
    assert calls(world).count(events) == 1

    second = migrating_run(world)
    world.set_step(second, MIGRATION, instance_id="5502")
    world.fake.requests.clear()
    assert prepare_profile_set_ahead(world.ctx, second).startswith("the profile's set is ready")
    assert not [c for c in calls(world) if c.endswith("/events")]  # not asked again
    assert "60332" in (world.step(second, MIGRATION).error or "")

    # a day later Alma is asked again
    world.advance(timedelta(days=1, minutes=2).total_seconds())
    third = migrating_run(world)
    world.set_step(third, MIGRATION, instance_id="5503")
    world.fake.on(
        "GET",
        f"/conf/jobs/{world.job(MIGRATION)}/instances/5503/events",
        alma_error(400, "60332", "only for USERS/SIS jobs"),
    )
    world.fake.requests.clear()
    prepare_profile_set_ahead(world.ctx, third)
    assert [c for c in calls(world) if c.endswith("/events")] == [
        f"GET /conf/jobs/{world.job(MIGRATION)}/instances/5503/events"
    ]


def test_nothing_is_made_ahead_when_alma_serves_the_events(world: World) -> None:
    run_id = migrating_run(world, events="served")

    said = prepare_profile_set_ahead(world.ctx, run_id)

    assert said == "the profile's set waits for the migration's end: Alma serves its events by API"
    assert world.run(run_id).profile_set_id is None
    assert not [c for c in calls(world) if c.startswith("POST")]
    assert world.step(run_id, MIGRATION).error is None  # the events are read once it has ended


def test_nothing_is_made_ahead_once_the_migration_has_ended(world: World) -> None:
    run_id = migrating_run(world)
    end_migration(world, run_id)

    assert prepare_profile_set_ahead(world.ctx, run_id).startswith("nothing to prepare")
    assert calls(world) == []


def test_one_maker_at_a_time_and_a_stale_claim_is_taken_over(world: World) -> None:
    run_id = migrating_run(world)
    with Session(world.engine) as session:  # another worker is making the set right now
        run = session.get(Run, run_id)
        assert run is not None
        run.profile_set_claimed_at = world.clock[0]
        session.add(run)
        session.commit()
    end_migration(world, run_id)  # one minute later

    nxt = drive_step(world.ctx, run_id=run_id, kind=PROFILE)

    assert nxt == Next.retry(world.settings.poll_min_seconds, "the profile's set is being made")
    assert not [c for c in calls(world) if c.startswith("POST")]
    assert world.step(run_id, PROFILE).status == StepStatus.PENDING

    world.advance(5 * 60)  # that worker was killed: its claim goes stale
    drive_step(world.ctx, run_id=run_id, kind=PROFILE)
    assert world.run(run_id).profile_set_id == MADE
    assert world.step(run_id, PROFILE).status == StepStatus.RUNNING


def test_an_events_report_imported_later_makes_the_set_again(world: World) -> None:
    run_id = migrating_run(world)
    prepare_profile_set_ahead(world.ctx, run_id)
    end_migration(world, run_id)
    with Session(world.engine) as session:  # the report imported by hand: 9901 was skipped too
        session.add(
            EventLine(
                run_id=run_id, mms_id="9901", kind="no_handle", text="skipped", source="csv", fingerprint="f1"
            )
        )
        session.commit()
    world.fake.requests.clear()

    drive_step(world.ctx, run_id=run_id, kind=PROFILE)

    assert calls(world) == [
        f"DELETE /conf/sets/{MADE}",  # the set made ahead goes first: Alma refuses a second of its name
        "POST /conf/sets",
        f"POST /conf/sets/{MADE_AGAIN}",
        f"POST /conf/jobs/{world.job(PROFILE)}",
    ]
    assert members(world, MADE_AGAIN) == ["9903"]
    run = world.run(run_id)
    assert (run.profile_set_id, run.profile_excluded) == (MADE_AGAIN, 2)
    assert MADE_AGAIN in profile_posted_on(world)


def test_the_migration_s_submission_asks_for_the_set_to_be_made_ahead(world: World) -> None:
    run_id = world.new_run(done=("copy",))
    world.fake.on("POST", f"/conf/jobs/{world.job(MIGRATION)}", posted("5501"))

    nxt = drive_step(world.ctx, run_id=run_id, kind=MIGRATION)

    settings = world.settings
    assert nxt == Next.retry(settings.poll_min_seconds, prepare_after=settings.poll_max_seconds)
    assert world.step(run_id, MIGRATION).instance_id == "5501"
    # the other steps' submissions do not
    other = world.new_run(set_id="7593466560014641")
    world.fake.on("POST", f"/conf/jobs/{world.job('copy')}", posted("4401"))
    assert drive_step(world.ctx, run_id=other, kind="copy").prepare_after is None


def test_a_set_made_but_not_filled_is_removed_and_made_again(world: World) -> None:
    # given the set made ahead, and Redis (the client's rate limiter) gone while its members are
    # added: seen on a worker that outlived a Redis restart, whose run then met 402263 at every visit
    run_id = migrating_run(world)
    world.fake.on("POST", f"/conf/sets/{MADE}", RuntimeError("the rate limiter's Redis went away"))
    with pytest.raises(RuntimeError):
        prepare_profile_set_ahead(world.ctx, run_id)
    run = world.run(run_id)
    assert (run.profile_set_id, run.profile_excluded, run.profile_set_claimed_at) == (MADE, -1, None)

    # when the migration ends and the profile step is visited
    end_migration(world, run_id)
    world.fake.requests.clear()
    drive_step(world.ctx, run_id=run_id, kind=PROFILE)

    # then the half-made set goes first (its name is free again), and the profile runs on a full one
    made = [c for c in calls(world) if "/conf/sets" in c or "/conf/jobs" in c]
    assert made == [
        f"DELETE /conf/sets/{MADE}",
        "POST /conf/sets",
        f"POST /conf/sets/{MADE_AGAIN}",
        f"POST /conf/jobs/{world.job(PROFILE)}",
    ]
    assert members(world, MADE_AGAIN) == ["9901", "9903"]
    assert (world.run(run_id).profile_set_id, world.run(run_id).profile_excluded) == (MADE_AGAIN, 1)
    assert MADE_AGAIN in profile_posted_on(world)


def test_a_set_name_alma_already_holds_gets_a_dated_name(world: World) -> None:
    # given Alma made the set but its answer never came back: the set's id is unknown here
    run_id = migrating_run(world)
    taken = alma_error(400, "402263", "A set with the name 'handles run 1 profile set' already exists.")
    world.fake.on("POST", "/conf/sets", taken, {"id": MADE})

    said = prepare_profile_set_ahead(world.ctx, run_id)

    assert said == f"the profile's set is ready while the migration runs: set {MADE}"
    names = [
        body(r)["name"] for r in world.fake.requests if r.method == "POST" and r.url.path.endswith("/sets")
    ]
    assert names[0] == f"handles run {run_id} profile set"
    assert names[1].startswith(f"handles run {run_id} profile set (20") and names[1] != names[0]
    assert members(world, MADE) == ["9901", "9903"]
    assert not [r for r in world.fake.requests if r.method == "DELETE"]  # the unknown set is left alone
