"""Exactly once against Alma's real naming, and 429 bursts as weather (issue 10).

Real worker processes, a real Redis broker, the sandbox over HTTP. What Alma was asked is read
from the sandbox's own log of ``op=run`` calls (``GET /sandbox/log``), not from our database.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sandbox.testing import configure, reset
from tests.integration.pipeline_support import (
    COPY,
    MIGRATION,
    PROFILE,
    SEED_SET,
    run_state,
    submissions,
)
from tests.support import handles, stop_process, wait_for, worker_process

pytestmark = pytest.mark.integration

HOLD_SECONDS = 8.0


def instance_status(sandbox: str, job_id: str, instance_id: str) -> str:
    answer = httpx.get(
        f"{sandbox}/almaws/v1/conf/jobs/{job_id}/instances/{instance_id}",
        headers={"Authorization": "apikey sandbox-key", "Accept": "application/json"},
        timeout=10,
    )
    return str(answer.json()["status"]["value"])


def test_worker_killed_while_alma_holds_the_run_answer_submits_each_job_once(
    sandbox: str, env: dict[str, str], tmp_path: Path
) -> None:
    # given Alma starts each job but answers op=run late
    reset(sandbox, hold_run_answer_seconds=HOLD_SECONDS)
    with worker_process(env, log_path=tmp_path / "worker1.log") as first:
        run_id = int(handles(env, "migrate", SEED_SET).stdout)
        wait_for(lambda: submissions(sandbox), timeout=60, interval=0.1, what="the copy's op=run")
        # when the worker dies in that window: Alma has started the job, the worker never heard
        stop_process(first, kill=True)
    sent = submissions(sandbox)
    assert [e["job_id"] for e in sent] == [COPY]
    assert run_state(env["DATABASE_URL"], run_id)["steps"]["copy"][0] == "submitting"
    # Alma names the instance "<job_name> - <date time>", not "<job_name>"
    assert sent[0]["instance_name"].startswith(sent[0]["job_name"] + " - ")
    configure(sandbox, hold_run_answer_seconds=0)
    # then a new worker adopts the instance Alma started, and the run completes
    with worker_process(env, log_path=tmp_path / "worker2.log"):
        wait_for(
            lambda: run_state(env["DATABASE_URL"], run_id)["state"] in ("succeeded", "failed"),
            timeout=150,
            interval=0.5,
            what="the run to finish after the kill",
        )
    state = run_state(env["DATABASE_URL"], run_id)
    assert state["state"] == "succeeded", state
    sent = submissions(sandbox)
    assert [e["job_id"] for e in sent] == [COPY, MIGRATION, PROFILE]  # each job once, in order
    assert [state["steps"][k][1] for k in ("copy", "migration", "profile")] == [
        e["instance_id"] for e in sent
    ]
    assert all(instance_status(sandbox, e["job_id"], e["instance_id"]) == "COMPLETED_SUCCESS" for e in sent)


def test_a_burst_of_429_longer_than_four_tries_does_not_fail_migrate(
    sandbox: str, env: dict[str, str], tmp_path: Path
) -> None:
    # given Alma refuses the next five requests with 429 PER_SECOND_THRESHOLD: a blip is tried four
    # times, so only the per-second limit's own patience can wait this burst out
    reset(sandbox, burst_429=5)
    with worker_process(env, log_path=tmp_path / "worker.log"):
        # when
        result = handles(env, "migrate", SEED_SET, "--wait", timeout=180)
    # then the refusals were waited out and the run completed, each job posted once
    assert result.returncode == 0, result.stderr
    assert httpx.get(f"{sandbox}/sandbox/config", timeout=10).json()["burst_429"] == 0
    assert run_state(env["DATABASE_URL"], int(result.stdout.strip()))["state"] == "succeeded"
    assert [e["job_id"] for e in submissions(sandbox)] == [COPY, MIGRATION, PROFILE]
