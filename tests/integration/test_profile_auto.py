"""Step 3 in ``auto`` mode against a sandbox that refuses ``op=run`` on the profile, as Alma does, and a
refused API key: real Redis broker, real worker processes, the sandbox over HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sandbox.testing import running_sandbox
from tests.integration.pipeline_support import (
    COPY,
    MIGRATION,
    PROFILE,
    SEED_SET,
    operator_pause,
    pipeline_env,
    run_state,
    submissions,
)
from tests.support import ROOT, handles, worker_process

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sandbox():  # type: ignore[no-untyped-def]
    with running_sandbox(job_seconds=0.5, profile_api=False) as url:
        yield url


@pytest.fixture
def env(sandbox: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    # the profile's job refused by API (402248), whatever the default
    return pipeline_env(
        sandbox, redis_url, tmp_path, switches={"profile_api": False}, ALMA_PROFILE_MODE="auto"
    )


def test_auto_mode_pauses_at_step_3_when_alma_refuses_it_and_completes_after_the_ui_run(
    sandbox: str, env: dict[str, str], tmp_path: Path
) -> None:
    log_path = tmp_path / "worker.log"
    with worker_process(env, log_path=log_path):
        migrate = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "migrate", SEED_SET, "--wait"],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert migrate.stdout is not None
            run_id = int(migrate.stdout.readline())
            # the profile is tried by API, refused with 402248: the run waits for the operator
            snap = operator_pause(env, run_id)
            reason = snap["wait_reason"]
            assert reason.startswith("waiting for the operator (Alma refused the profile by API, 402248)")
            assert "Create and Update" in reason and f"handles confirm {run_id}" in reason
            assert snap["error"] is None
            assert [e["job_id"] for e in submissions(sandbox)] == [COPY, MIGRATION]
            profile_set = reason.split("(set ")[1].split(")")[0]
            # the operator runs the profile in Alma's UI
            httpx.post(
                f"{sandbox}/sandbox/ui/run-profile", json={"set_id": profile_set}, timeout=10
            ).raise_for_status()
            _, err = migrate.communicate(timeout=120)
        finally:
            if migrate.poll() is None:
                migrate.kill()
    assert migrate.returncode == 0, err
    state = run_state(env["DATABASE_URL"], run_id)
    assert state["state"] == "succeeded"
    ui_run = submissions(sandbox)[-1]
    assert ui_run["job_id"] == PROFILE
    assert state["steps"]["profile"] == ("succeeded", ui_run["instance_id"])
    log = log_path.read_text(errors="replace")
    assert "switching this run to the operator path" in log and "402248" in log
    assert "Traceback" not in log


def test_a_refused_api_key_ends_the_run_with_one_line_and_no_traceback(
    sandbox: str, env: dict[str, str], tmp_path: Path
) -> None:
    wrong = {**env, "ALMA_API_KEY": "wrong"}
    # the command line's own check refuses at once, and stores nothing
    started = time.monotonic()
    refused = handles(wrong, "migrate", SEED_SET)
    assert refused.returncode != 0 and refused.stdout == ""
    [line] = refused.stderr.strip().splitlines()
    assert "ALMA_API_KEY" in line and "Traceback" not in refused.stderr

    # a worker whose key Alma refuses (the key was changed after the run was recorded)
    log_path = tmp_path / "worker.log"
    with worker_process(wrong, log_path=log_path):
        result = handles(env, "migrate", SEED_SET, "--wait", timeout=90)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "failed" in last and "ALMA_API_KEY" in last
    run_id = int(result.stdout.strip())
    state = run_state(env["DATABASE_URL"], run_id)
    assert state["state"] == "failed" and "ALMA_API_KEY" in (state["error"] or "")
    assert submissions(sandbox) == []
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log and "Retry in" not in log
    assert elapsed < 60
