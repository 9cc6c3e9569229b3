"""pipeline.job_end.apply_job_end on SQLite and PostgreSQL: an event ends a step as a poll does."""

from __future__ import annotations

import copy

from sqlmodel import Session

from alma.models import JobInstance
from pipeline import job_end
from pipeline.runs import create_run
from store.db import session_scope
from store.models import Run, RunState, Step, StepStatus
from store.runs import step_of

# the shape of Alma's GET instance (reference sample S01, trimmed)
SAMPLE = {
    "id": "9563643080000561",
    "name": "Import Research Assets Files - via API",
    "progress": 100,
    "status": {"value": "COMPLETED_SUCCESS", "desc": "Completed Successfully"},
    "submit_time": "2025-10-05T09:11:32.592Z",
    "start_time": "2025-10-05T09:11:32.658Z",
    "end_time": "2025-10-05T09:11:36.463Z",
    "alert": [{"value": "alert_general_success", "desc": "The job completed successfully."}],
    "counter": [
        {"type": {"value": "iraf.asset_failed", "desc": "Number of assets failed"}, "value": "1"},
    ],
    "job_info": {"id": "M50173", "name": "Import Research Assets Files"},
    "link": "https://api-na.hosted.exlibrisgroup.com/almaws/v1/conf/jobs/M50173/instances/9563643080000561",
}


def instance_json(instance_id: str, status: str = "COMPLETED_SUCCESS", progress: int = 100) -> dict:
    data = copy.deepcopy(SAMPLE)
    data.update(id=instance_id, progress=progress, status={"value": status, "desc": status.title()})
    data["end_time"] = "2026-11-30T10:00:05.000Z"
    data["job_info"]["id"] = "M50173"
    data["link"] = f"https://alma.example/almaws/v1/conf/jobs/M0/instances/{instance_id}"
    return data


def running_run(engine, instance_id: str = "1001", status: str = StepStatus.RUNNING) -> int:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        run = create_run(session=session, set_id="7600000000004641")
        step = step_of(session, run.id, "copy")  # type: ignore[arg-type]
        step.status, step.alma_job_id, step.instance_id = status, "M50173", instance_id
        session.add(step)
        run.state = RunState.RUNNING
        session.add(run)
        return run.id  # type: ignore[return-value]


def apply(engine, data: dict, job_id: str = "M50173") -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return job_end.apply_job_end(session, JobInstance.from_alma(data), job_id)


def copy_step(engine, run_id: int) -> Step:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return step_of(session, run_id, "copy")


def test_an_event_ends_the_step_as_a_poll_does(engine) -> None:  # type: ignore[no-untyped-def]
    run_id = running_run(engine)
    assert apply(engine, instance_json("1001", progress=130)) == [(run_id, "copy")]
    step = copy_step(engine, run_id)
    assert step.status == StepStatus.SUCCEEDED and step.ended_via == "webhook"
    assert step.alma_status == "COMPLETED_SUCCESS" and step.progress == 130  # kept as Alma said it
    assert step.counters.get("Number of assets failed") == "1" and step.alerts == ["alert_general_success"]
    assert step.ended_at is not None and step.ended_at.year == 2026


def test_a_failed_instance_fails_the_run(engine) -> None:  # type: ignore[no-untyped-def]
    run_id = running_run(engine)
    assert apply(engine, instance_json("1001", status="COMPLETED_FAILED")) == [(run_id, "copy")]
    with Session(engine) as session:
        assert session.get(Run, run_id).state == RunState.FAILED  # type: ignore[union-attr]
    assert copy_step(engine, run_id).status == StepStatus.FAILED


def test_replays_and_strangers_change_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    run_id = running_run(engine)
    before = job_end.counts["unknown"]
    assert apply(engine, instance_json("1001")) == [(run_id, "copy")]
    first = copy_step(engine, run_id)
    assert apply(engine, instance_json("1001")) == []  # the same event again
    assert apply(engine, instance_json("999999")) == []  # an instance nobody follows
    assert job_end.counts["unknown"] == before + 1
    again = copy_step(engine, run_id)
    assert (again.status, again.ended_at, again.ended_via) == (first.status, first.ended_at, "webhook")


def test_after_a_poll_saw_the_end_the_poll_keeps_it(engine) -> None:  # type: ignore[no-untyped-def]
    run_id = running_run(engine, status=StepStatus.SUCCEEDED)
    with session_scope(engine) as session:
        step = step_of(session, run_id, "copy")
        step.ended_via = "poll"
        session.add(step)
    assert apply(engine, instance_json("1001")) == []
    assert copy_step(engine, run_id).ended_via == "poll"


def test_before_the_submission_is_recorded_the_event_is_dropped(engine) -> None:  # type: ignore[no-untyped-def]
    run_id = running_run(engine, instance_id=None, status=StepStatus.SUBMITTING)  # type: ignore[arg-type]
    assert apply(engine, instance_json("1001")) == []
    assert copy_step(engine, run_id).status == StepStatus.SUBMITTING


def test_another_job_with_the_same_instance_id_is_not_ours(engine) -> None:  # type: ignore[no-untyped-def]
    run_id = running_run(engine)
    assert apply(engine, instance_json("1001"), job_id="M99999") == []
    assert copy_step(engine, run_id).status == StepStatus.RUNNING


def test_a_non_terminal_instance_only_updates_progress(engine) -> None:  # type: ignore[no-untyped-def]
    run_id = running_run(engine)
    data = instance_json("1001", status="RUNNING", progress=40)
    data["end_time"] = ""
    assert apply(engine, data) == []
    step = copy_step(engine, run_id)
    assert step.status == StepStatus.RUNNING and step.progress == 40 and step.ended_via is None
