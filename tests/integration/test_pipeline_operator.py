"""Step 3 in Alma's UI, end to end: operator mode pauses with what to click and follows the profile
run made there; ``handles confirm``; a migration whose exceptions Alma does not serve by API holds
the profile until the Events Report is imported or waived."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.pipeline_support import (
    COPY,
    DEMO_SET,
    MIGRATION,
    PROFILE,
    SEED_SET,
    operator_pause,
    run_state,
    submissions,
)
from tests.support import (
    handles,
    wait_for,
    worker_process,
)

pytestmark = pytest.mark.integration


def test_operator_mode_pauses_with_instructions_and_follows_the_profile_run_made_in_alma(
    sandbox: str, env: dict[str, str], tmp_path: Path
) -> None:
    # given step 3 is the operator's
    env = {**env, "ALMA_PROFILE_MODE": "operator"}
    with worker_process(env, log_path=tmp_path / "worker.log"):
        run_id = int(handles(env, "migrate", SEED_SET).stdout)
        snap = operator_pause(env, run_id)
        # then the instructions say exactly what to run, and on which set
        reason = snap["wait_reason"]
        assert "Create and Update" in reason and "Do not add to metadata" in reason
        profile_set = reason.split("(set ")[1].split(")")[0]
        assert [e["job_id"] for e in submissions(sandbox)] == [COPY, MIGRATION]
        # when the operator runs the profile in Alma's UI
        httpx.post(
            f"{sandbox}/sandbox/ui/run-profile", json={"set_id": profile_set}, timeout=10
        ).raise_for_status()
        # then the run adopts that instance and finishes
        wait_for(
            lambda: run_state(env["DATABASE_URL"], run_id)["state"] in ("succeeded", "failed"),
            timeout=90,
            what="the run to finish",
        )
    state = run_state(env["DATABASE_URL"], run_id)
    assert state["state"] == "succeeded"
    ui_run = submissions(sandbox)[-1]
    assert ui_run["job_id"] == PROFILE and state["steps"]["profile"][1] == ui_run["instance_id"]


def test_operator_confirm_lets_the_run_go_on(sandbox: str, env: dict[str, str], tmp_path: Path) -> None:
    env = {**env, "ALMA_PROFILE_MODE": "operator"}
    # too early: the run is queued and no worker has started it, so nothing waits for the operator
    run_id = int(handles(env, "migrate", SEED_SET).stdout)
    refused = handles(env, "confirm", str(run_id))
    assert refused.returncode != 0 and "not waiting for the operator" in refused.stderr
    with worker_process(env, log_path=tmp_path / "worker.log"):
        operator_pause(env, run_id)
        confirmed = handles(env, "confirm", str(run_id))
        assert confirmed.returncode == 0, confirmed.stderr
        wait_for(
            lambda: run_state(env["DATABASE_URL"], run_id)["state"] in ("succeeded", "failed"),
            timeout=90,
            what="the run to finish",
        )
    assert run_state(env["DATABASE_URL"], run_id)["state"] == "succeeded"
    assert handles(env, "confirm", str(run_id)).returncode != 0  # not waiting any more


@pytest.mark.parametrize("answer", ["import", "confirm"])
def test_migration_exceptions_without_events_api_hold_the_profile_until_the_events_report(
    sandbox: str, env: dict[str, str], tmp_path: Path, answer: str
) -> None:
    # given the demo set, where one record's migration fails ("locked") and Alma serves no events
    locked = "992000000003404641"
    with worker_process(env, log_path=tmp_path / "worker.log"):
        run_id = int(handles(env, "migrate", DEMO_SET).stdout)
        snap = operator_pause(env, run_id, what="the hold before the profile")
        # then the profile waits, and says why and what to do
        assert snap["wait_reason"].startswith("waiting for the Events Report")
        assert [e["job_id"] for e in submissions(sandbox)] == [COPY, MIGRATION]
        # when the operator imports the Events Report exported from Alma's UI (or waives it)
        if answer == "import":
            migration = next(s for s in snap["steps"] if s["step"] == "migration")
            report = tmp_path / "events.csv"
            report.write_bytes(
                httpx.get(
                    f"{sandbox}/sandbox/events-report/{MIGRATION}/{migration['instance_id']}.csv", timeout=10
                ).content
            )
            assert handles(env, "events", "import", str(run_id), str(report)).returncode == 0
        else:
            assert handles(env, "confirm", str(run_id)).returncode == 0
        wait_for(
            lambda: run_state(env["DATABASE_URL"], run_id)["state"] in ("succeeded", "failed"),
            timeout=120,
            what="the run to finish",
        )
    assert run_state(env["DATABASE_URL"], run_id)["state"] == "succeeded"
    minted = httpx.get(f"{sandbox}/sandbox/records/{locked}", timeout=10).json().get("alma_handle")
    if answer == "import":
        assert not minted  # kept out of the profile: no sequential handle for it
    else:
        assert minted and minted.startswith("11084/17")  # what the hold exists to prevent
