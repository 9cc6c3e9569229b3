"""Alma's JOB_END webhook end to end: the sandbox sends signed events to a real ``handles webhook``
process (the docker-compose service's command) while a real worker runs a migration.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sandbox.testing import configure, reset, running_sandbox
from tests.support import ROOT, free_port, handles, sandbox_env, stop_process, wait_for, worker_process
from tests.support import webhook_listener as listener

pytestmark = pytest.mark.integration

DEMO_SET = "7600000000004641"
SECRET = "webhook-test-secret-42"
ALMA_STEPS = ("copy", "migration", "profile")


@pytest.fixture(scope="module")
def sandbox():  # type: ignore[no-untyped-def]
    with running_sandbox(job_seconds=1.0, profile_api=True) as url:  # step 3 by API here
        yield url


def migrate(env: dict[str, str]) -> dict:
    result = handles(env, "migrate", DEMO_SET, "--wait")
    assert result.returncode == 0, result.stderr
    status = handles(env, "status", result.stdout.strip(), "--json")
    assert status.returncode == 0, status.stderr
    return json.loads(status.stdout)


def run_instances(sandbox: str, run_id: int) -> list[dict]:
    """The sandbox's log entries (one per op=run) of run ``run_id``, with their instance GET counts."""
    log = httpx.get(sandbox + "/sandbox/log", timeout=10).json()
    return [e for e in log if e["job_name"].startswith(f"handles run {run_id} ")]


def test_a_migration_moves_on_by_webhook(sandbox: str, redis_url: str, tmp_path: Path) -> None:
    # the webhook configured: the fallback poll (WEBHOOK_FALLBACK_POLL_SECONDS, 600 s by default)
    # comes long after the test's end, so only the webhook can end a step
    env = sandbox_env(
        sandbox,
        database_url=f"sqlite:///{tmp_path / 'handles.db'}",
        broker_url=redis_url,
        REDIS_URL=redis_url,
        ALMA_WEBHOOK_SECRET=SECRET,
    )
    reset(sandbox, events_api=True)  # the migration's events by API: no wait for an operator
    assert handles(env, "db", "upgrade").returncode == 0
    with worker_process(env, log_path=tmp_path / "worker.log"), listener(env, tmp_path / "hook.log") as url:
        configure(sandbox, webhook_url=url, webhook_secret=SECRET, webhook_duplicate=True)
        snap = migrate(env)
    assert snap["state"] == "succeeded", snap
    ended = {s["step"]: s["ended_via"] for s in snap["steps"]}
    assert [ended[k] for k in ALMA_STEPS] == ["webhook"] * 3, snap["steps"]
    log = (tmp_path / "hook.log").read_text()
    assert "moved on" in log and SECRET not in log
    assert "end learned: copy by webhook" in handles(env, "status", str(snap["run_id"])).stdout
    # done when: no instance GET between submission and end (nor after): Alma told us
    entries = run_instances(sandbox, snap["run_id"])
    assert [e["job_name"].split(" - ")[0].split()[-1] for e in entries] == list(ALMA_STEPS)
    assert [(e["gets_running"], e["gets_ended"]) for e in entries] == [(0, 0)] * 3, entries
    assert all(len(e["events_sent"]) == 2 for e in entries)  # each event came twice (duplicate)


def test_the_older_chain_yields_to_the_listeners(sandbox: str, redis_url: str, tmp_path: Path) -> None:
    # a short fallback: the run's own chain (and each listener chain) has a visit pending for the
    # step it submitted, which fires after the webhook ended that step; it must end quietly, with
    # no Alma call, no second run_step for the next step and no second finish
    env = sandbox_env(
        sandbox,
        database_url=f"sqlite:///{tmp_path / 'handles.db'}",
        broker_url=redis_url,
        REDIS_URL=redis_url,
        ALMA_WEBHOOK_SECRET=SECRET,
        WEBHOOK_FALLBACK_POLL_SECONDS="4",
    )
    reset(sandbox, events_api=True, job_seconds=1.0)
    assert handles(env, "db", "upgrade").returncode == 0
    worker_log = tmp_path / "worker.log"
    with worker_process(env, log_path=worker_log), listener(env, tmp_path / "hook.log") as url:
        configure(sandbox, webhook_url=url, webhook_secret=SECRET)
        snap = migrate(env)
        run_id = snap["run_id"]

        def yielded() -> int:
            lines = worker_log.read_text().splitlines()
            return sum(1 for line in lines if f"run {run_id}: " in line and "ended by webhook;" in line)

        # the copy (the run's own chain), migration and profile (the listeners' chains) visits
        wait_for(lambda: yielded() >= 3, timeout=30, what="the three older visits to end quietly")
    assert snap["state"] == "succeeded", snap
    text = worker_log.read_text()
    assert text.count(f"run {run_id}: finished:") == 1
    entries = run_instances(sandbox, run_id)
    assert len(entries) == 3  # one op=run per step
    assert sum(e["gets_ended"] for e in entries) == 0  # no older visit asked Alma about an ended step
    assert yielded() == 3


def test_with_events_dropped_the_migration_completes_by_polling(
    sandbox: str, redis_url: str, tmp_path: Path
) -> None:
    # the webhook configured but its events lost: the fallback polls (here every 2 s) end each step
    env = sandbox_env(
        sandbox,
        database_url=f"sqlite:///{tmp_path / 'handles.db'}",
        broker_url=redis_url,
        REDIS_URL=redis_url,
        ALMA_WEBHOOK_SECRET=SECRET,
        WEBHOOK_FALLBACK_POLL_SECONDS="2",
    )
    reset(sandbox, events_api=True)  # the migration's events by API: no wait for an operator
    assert handles(env, "db", "upgrade").returncode == 0
    with worker_process(env, log_path=tmp_path / "worker.log"), listener(env, tmp_path / "hook.log") as url:
        configure(sandbox, webhook_url=url, webhook_secret=SECRET, webhook_drop=True)
        snap = migrate(env)
    assert snap["state"] == "succeeded", snap
    assert [s["ended_via"] for s in snap["steps"] if s["step"] in ALMA_STEPS] == ["poll"] * 3
    entries = run_instances(sandbox, snap["run_id"])
    assert all(e["events_sent"] == [] for e in entries)
    assert all(e["gets_ended"] == 1 for e in entries), entries  # one fallback poll saw each end


def test_the_listener_refuses_to_start_without_its_secret(tmp_path: Path) -> None:
    env = sandbox_env(
        "http://127.0.0.1:9", database_url=f"sqlite:///{tmp_path / 'h.db'}", broker_url="memory://"
    )
    env.pop("ALMA_WEBHOOK_SECRET", None)
    done = handles(env, "webhook", "--port", str(free_port()), timeout=60)
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert lines == [
        "handles: error: set ALMA_WEBHOOK_SECRET (the secret of Alma's Webhooks integration profile) first"
    ]


def test_compose_runs_the_listener_with_this_command() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert '["handles", "webhook", "--host", "0.0.0.0", "--port", "8791"]' in text
    assert "ALMA_WEBHOOK_SECRET:" in text


def test_an_operator_points_the_sandbox_at_the_listener(tmp_path: Path) -> None:
    env = sandbox_env(
        "http://127.0.0.1:9", database_url=f"sqlite:///{tmp_path / 'h.db'}", broker_url="memory://"
    )
    env["ALMA_WEBHOOK_SECRET"] = SECRET
    assert handles(env, "db", "upgrade").returncode == 0
    port = free_port()
    sandbox_url = f"http://127.0.0.1:{port}"
    with listener(env, tmp_path / "hook.log") as url:
        with open(tmp_path / "sandbox.log", "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "sandbox", "--port", str(port), "--job-seconds", "0.3"]
                + ["--webhook-url", url, "--webhook-secret", SECRET],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:

            def up() -> bool:
                try:
                    return httpx.get(sandbox_url + "/sandbox/health", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(up, timeout=30, what="the sandbox to answer")
            body = {"parameter": [{"name": {"value": "set_id"}, "value": DEMO_SET}]}
            headers = {"Authorization": "apikey sandbox-key", "Accept": "application/json"}
            ran = httpx.post(
                sandbox_url + "/almaws/v1/conf/jobs/M48401",
                params={"op": "run"},
                json=body,
                headers=headers,
                timeout=10,
            )
            assert ran.status_code == 200, ran.text

            def delivered() -> bool:
                log = httpx.get(sandbox_url + "/sandbox/log", timeout=5).json()
                return bool(log and log[0]["events_sent"])

            wait_for(delivered, timeout=30, what="the JOB_END event to reach the listener")
        finally:
            stop_process(proc)
    hook_log = (tmp_path / "hook.log").read_text()
    assert "nothing to do (not followed" in hook_log  # signed correctly, for an instance nobody follows
    assert "refused" not in hook_log
    out = (tmp_path / "sandbox.log").read_text()
    assert f"JOB_END events go to {url}" in out and SECRET not in out + hook_log


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--webhook-url", "http://127.0.0.1:8791/"], "--webhook-url needs --webhook-secret"),
        (["--webhook-url", "ftp://x", "--webhook-secret", "s"], "--webhook-url: give the listener's"),
    ],
)
def test_the_sandbox_refuses_a_webhook_it_cannot_send_to(
    args: list[str], message: str, tmp_path: Path
) -> None:
    env = sandbox_env(
        "http://127.0.0.1:9", database_url=f"sqlite:///{tmp_path / 'h.db'}", broker_url="memory://"
    )
    done = handles(env, "sandbox", "--port", str(free_port()), *args, timeout=60)
    assert done.returncode == 2
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], lines
