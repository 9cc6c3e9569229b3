"""A run whose chain keeps failing with an error no task foresaw stops, instead of being resumed by
the stalled-run check, failing the same way and spending Alma's calls, every STALL_SECONDS for ever.

A real worker and a real beat (sending the stalled-run check every second), the sandbox over HTTP.
The run's migration names an instance Alma does not know (a purged instance, a wrong id): every look
at it is answered 404, which no task maps.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from pipeline.runs import create_run
from store.db import make_engine, session_scope, upgrade_schema
from store.models import RunState, StepKind, StepStatus, utcnow
from store.runs import step_of
from tests.integration.pipeline_support import COPY, MIGRATION, SEED_SET, run_state, submissions
from tests.support import beat_process, wait_for, worker_process

pytestmark = pytest.mark.integration


def received(log: Path, task: str) -> int:
    """How many messages of ``task`` (its name, or the run's step as Flower shows it) the worker
    received, from its log."""
    return len(re.findall(rf"Task {re.escape(task)}\[[^\]]+\] received", log.read_text()))


UNKNOWN_INSTANCE = "7600000999990004641"


def test_a_run_that_fails_the_same_way_stops_at_the_third_try(
    sandbox: str, env: dict[str, str], tmp_path: Path
) -> None:
    # given a run silent for ten minutes, its migration "running" as an instance Alma does not know
    env = dict(env, STALL_SECONDS="1", RESUME_INTERVAL_SECONDS="1")
    engine = make_engine(env["DATABASE_URL"])
    upgrade_schema(engine)
    with session_scope(engine) as session:
        run = create_run(session=session, set_id=SEED_SET, profile_mode="api")
        run.state, run.heartbeat_at = RunState.RUNNING, utcnow() - timedelta(minutes=10)
        assert run.id is not None
        run_id = run.id
        copy, migration = (
            step_of(session, run_id, StepKind.COPY),
            step_of(session, run_id, StepKind.MIGRATION),
        )
        copy.status, copy.alma_job_id, copy.instance_id = StepStatus.SUCCEEDED, COPY, "7600000111110004641"
        migration.status, migration.alma_job_id = StepStatus.RUNNING, MIGRATION
        migration.instance_id, migration.submitted_at = UNKNOWN_INSTANCE, utcnow() - timedelta(minutes=10)
    engine.dispose()
    worker_log = tmp_path / "worker.log"

    # when a worker and a beat look after it
    with (
        worker_process(env, log_path=worker_log),
        beat_process(env, log_path=tmp_path / "beat.log", schedule=tmp_path / "celerybeat-schedule"),
    ):
        wait_for(
            lambda: run_state(env["DATABASE_URL"], run_id)["state"] == "failed",
            timeout=90,
            what="the run to stop after its third unexpected error",
        )
        # the beat keeps sending the stalled-run check: the failed run is not resumed again
        checks = received(worker_log, "handles.resume_stalled")
        wait_for(
            lambda: received(worker_log, "handles.resume_stalled") >= checks + 3,
            timeout=30,
            what="three more stalled-run checks",
        )
    # tried three times (the worker's own check at start, then the beat's), and no more
    assert received(worker_log, f"run {run_id} migration on set {SEED_SET}") == 3

    # then: failed with one line that names what happened; nothing was submitted to Alma
    state = run_state(env["DATABASE_URL"], run_id)
    assert state["error"].startswith("the migration step: stopped after 3 unexpected errors (the last: Alma")
    assert "\n" not in state["error"] and "worker log" in state["error"]
    assert state["steps"]["profile"][0] == "skipped"
    assert submissions(sandbox) == []
    assert "unexpected error 2 of 3" in worker_log.read_text()
