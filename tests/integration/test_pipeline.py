"""The migration pipeline end to end: real Redis broker, real worker processes, the sandbox over HTTP.

Order and exactly-once are read from the sandbox's own log of ``op=run`` calls, not from our
database, so a test fails if a job was submitted twice or out of order whatever we recorded.
"""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from sandbox.testing import reset
from tests.integration.pipeline_support import (
    COPY,
    DEMO_SET,
    MIGRATION,
    PROFILE,
    SEED_SET,
    run_state,
    status_json,
    submissions,
)
from tests.support import (
    free_port,
    handles,
    require_binary,
    stop_process,
    wait_for,
    worker_process,
)

pytestmark = pytest.mark.integration


def test_three_jobs_run_in_order_once_each_and_every_record_is_accounted_for(
    sandbox: str, env: dict[str, str], tmp_path: Path
) -> None:
    # given a worker that keeps the profile set it makes (ALMA_KEEP_SETS), so the test can read it
    env = dict(env, ALMA_KEEP_SETS="true")
    with worker_process(env, log_path=tmp_path / "worker.log"):
        # when
        result = handles(env, "migrate", SEED_SET, "--wait")
    # then
    assert result.returncode == 0, result.stderr
    run_id = int(result.stdout.strip())
    sent = submissions(sandbox)
    assert [e["job_id"] for e in sent] == [COPY, MIGRATION, PROFILE]
    assert [e["set_id"] for e in sent[:2]] == [SEED_SET, SEED_SET]
    # the profile runs on the set less grinnell:32100, which the migration could not take:
    # otherwise Alma would mint a sequential handle for it (seed 000)
    members = httpx.get(
        f"{sandbox}/almaws/v1/conf/sets/{sent[2]['set_id']}/members",
        headers={"Authorization": "apikey sandbox-key", "Accept": "application/json"},
        timeout=10,
    ).json()
    assert sorted(m["id"] for m in members["member"]) == ["991011507293904641", "991011589491704641"]
    record = httpx.get(f"{sandbox}/sandbox/records/991011507142104641", timeout=10).json()
    assert not record.get("alma_handle")
    state = run_state(env["DATABASE_URL"], run_id)
    assert state["state"] == "succeeded"
    assert {k: s for k, (s, _) in state["steps"].items()} == {
        "copy": "succeeded",
        "migration": "succeeded",
        "profile": "succeeded",
        "verify": "succeeded",
    }
    assert [state["steps"][k][1] for k in ("copy", "migration", "profile")] == [
        e["instance_id"] for e in sent
    ]
    assert len(state["outcomes"]) == 3
    assert state["outcomes"]["991011507142104641"] == "malformed_identifier"  # grinnell:32100, xsi:type
    status = status_json(env, run_id)
    assert [s["instance_id"] for s in status["steps"][:3]] == [e["instance_id"] for e in sent]


def test_a_failed_migration_stops_the_chain(sandbox: str, env: dict[str, str], tmp_path: Path) -> None:
    # given Alma fails the migration job
    reset(sandbox, fail_job={MIGRATION: "FAILED"})
    worker_log = tmp_path / "worker.log"
    with worker_process(env, log_path=worker_log):
        result = handles(env, "migrate", SEED_SET, "--wait")
        # the worker has ended the chain (a stray profile submission would come before this line)
        wait_for(
            lambda: "raised expected: RunStopped" in worker_log.read_text(),
            timeout=30,
            what="the worker to stop the chain",
        )
    assert result.returncode == 1
    assert "FAILED" in result.stderr
    assert [e["job_id"] for e in submissions(sandbox)] == [COPY, MIGRATION]
    state = run_state(env["DATABASE_URL"], int(result.stdout.strip()))
    assert state["state"] == "failed"
    assert state["steps"]["profile"][0] == "skipped" and state["steps"]["profile"][1] is None


@pytest.mark.parametrize(
    "bad, message",
    [
        ("12ab", "not an Alma set id"),
        ("999999999", "does not exist"),
        ("7600000000000001", "is empty"),
        ("7600000000000002", "not titles"),
    ],
)
def test_bad_sets_are_refused_before_any_job(
    sandbox: str, env: dict[str, str], bad: str, message: str
) -> None:
    result = handles(env, "migrate", bad)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert submissions(sandbox) == []


def copy_of_set(sandbox: str, set_id: str) -> str:
    """A new itemized set in the sandbox's Alma holding the members of ``set_id``."""
    headers = {"Authorization": "apikey sandbox-key", "Accept": "application/json"}
    api = f"{sandbox}/almaws/v1/conf/sets"
    members = httpx.get(f"{api}/{set_id}/members", headers=headers, timeout=10).json()["member"]
    body = {
        "name": f"copy of {set_id}",
        "type": {"value": "ITEMIZED"},
        "content": {"value": "IEP"},
        "private": {"value": "false"},
        "status": {"value": "ACTIVE"},
    }
    created = httpx.post(api, headers=headers, json=body, timeout=10)
    created.raise_for_status()
    new_id = str(created.json()["id"])
    added = httpx.post(
        f"{api}/{new_id}",
        headers=headers,
        params={"op": "add_members"},
        json={"members": {"member": [{"id": m["id"]} for m in members]}},
        timeout=10,
    )
    added.raise_for_status()
    return new_id


def test_runs_wait_for_the_job_budget_in_order(sandbox: str, env: dict[str, str], tmp_path: Path) -> None:
    # given a budget of one API job at a time, jobs slow enough to watch the queue, and a tenant that
    # serves the events by API (the demo set's failed record would otherwise hold its profile step)
    env = {**env, "ALMA_MAX_API_JOBS_RUNNING": "1"}
    reset(sandbox, job_seconds=1.0, events_api=True)
    # three sets: a set has one open run at a time (issue 15), so the third is a copy of the demo set
    sets = [DEMO_SET, SEED_SET, copy_of_set(sandbox, DEMO_SET)]
    # the three runs are queued before a worker comes, so their migrations ask for the one slot
    # together: two must wait, however slowly this machine runs the commands
    ids = [int(handles(env, "migrate", set_id, "--skip-copy").stdout) for set_id in sets]
    log_path = tmp_path / "worker.log"
    with worker_process(env, log_path=log_path, concurrency=2):
        wait_for(
            lambda: all(run_state(env["DATABASE_URL"], i)["state"] in ("succeeded", "failed") for i in ids),
            timeout=240,
            interval=0.5,
            what="all runs to finish",
        )
    # then some run waited for the budget and said so (the worker logs each new wait reason, the
    # reason `handles status` shows while it lasts)
    assert "waiting: 1 API-started Alma jobs are running (Alma allows 1)" in log_path.read_text()
    assert all(run_state(env["DATABASE_URL"], i)["state"] == "succeeded" for i in ids)
    sent = submissions(sandbox)
    # never more than one job running at once: each submission came after the previous one ended
    assert len(sent) == len({(e["job_id"], e["set_id"], e["instance_id"]) for e in sent})
    instances = [
        httpx.get(
            f"{sandbox}/almaws/v1/conf/jobs/{e['job_id']}/instances/{e['instance_id']}",
            headers={"Authorization": "apikey sandbox-key", "Accept": "application/json"},
            timeout=10,
        ).json()
        for e in sent
    ]
    spans = sorted((i["submit_time"], i["end_time"]) for i in instances)
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


def test_worker_killed_while_polling_resumes_and_submits_nothing_twice(
    sandbox: str, env: dict[str, str], tmp_path: Path
) -> None:
    # given slow jobs, so the worker is killed while the migration is being polled
    reset(sandbox, job_seconds=2.0)
    with worker_process(env, log_path=tmp_path / "worker1.log") as first:
        run_id = int(handles(env, "migrate", SEED_SET).stdout)
        wait_for(
            lambda: run_state(env["DATABASE_URL"], run_id)["steps"]["migration"][0] == "running",
            timeout=60,
            what="the migration to be polled",
        )
        # when
        stop_process(first, kill=True)
    # then a new worker picks the run up from the database
    with worker_process(env, log_path=tmp_path / "worker2.log"):
        wait_for(
            lambda: run_state(env["DATABASE_URL"], run_id)["state"] in ("succeeded", "failed"),
            timeout=120,
            interval=0.5,
            what="the run to finish after the kill",
        )
    assert run_state(env["DATABASE_URL"], run_id)["state"] == "succeeded"
    assert [e["job_id"] for e in submissions(sandbox)] == [COPY, MIGRATION, PROFILE]


def test_redis_restarted_mid_run_loses_no_run_and_submits_nothing_twice(
    sandbox: str, env: dict[str, str], tmp_path: Path
) -> None:
    # given a private Redis (restarting the shared one would disturb other tests)
    redis_server = require_binary("redis-server")
    port = free_port()

    def start_redis() -> subprocess.Popen:
        proc = subprocess.Popen(
            [redis_server, "--port", str(port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(lambda: _ping(port), timeout=10, what="redis to start")
        return proc

    redis_proc = start_redis()
    broker = f"redis://127.0.0.1:{port}/0"
    env = {**env, "CELERY_BROKER_URL": broker, "REDIS_URL": broker}
    reset(sandbox, job_seconds=2.0)
    try:
        worker_log = tmp_path / "worker.log"
        with worker_process(env, log_path=worker_log) as worker:
            run_id = int(handles(env, "migrate", SEED_SET).stdout)
            wait_for(
                lambda: run_state(env["DATABASE_URL"], run_id)["steps"]["copy"][0] == "running",
                timeout=60,
                what="the copy to be polled",
            )
            received = re.compile(r"Task handles\.resume_stalled\[[^\]]+\] received")
            resume_checks = lambda: len(received.findall(worker_log.read_text()))  # noqa: E731
            checks_before = resume_checks()
            # when Redis restarts empty: every queued and scheduled message is gone
            stop_process(redis_proc, kill=True)
            redis_proc = start_redis()
            # a worker that died with its broker is restarted by its supervisor; do the same here.
            # A surviving worker reconnects, which sends a fresh resume check: wait for either.
            wait_for(
                lambda: worker.poll() is not None or resume_checks() > checks_before,
                timeout=60,
                what="the worker to reconnect (or exit) after the Redis restart",
            )
            if worker.poll() is not None:
                second = worker_process(env, log_path=tmp_path / "worker2.log")
                second.__enter__()
            else:
                second = None
            try:
                wait_for(
                    lambda: run_state(env["DATABASE_URL"], run_id)["state"] in ("succeeded", "failed"),
                    timeout=150,
                    interval=0.5,
                    what="the run to finish after the Redis restart",
                )
            finally:
                if second is not None:
                    second.__exit__(None, None, None)
        assert run_state(env["DATABASE_URL"], run_id)["state"] == "succeeded"
        assert [e["job_id"] for e in submissions(sandbox)] == [COPY, MIGRATION, PROFILE]
    finally:
        stop_process(redis_proc, kill=True)


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def test_every_broker_reconnection_looks_for_stalled_runs(env: dict[str, str], tmp_path: Path) -> None:
    """A worker that survives a broker restart must not wait for beat to find runs whose messages died."""
    import redis

    redis_server = require_binary("redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [redis_server, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: _ping(port), timeout=10, what="redis to start")
        broker = f"redis://127.0.0.1:{port}/0"
        env = {**env, "CELERY_BROKER_URL": broker, "REDIS_URL": broker}
        log = tmp_path / "worker.log"
        with worker_process(env, log_path=log):
            checks = lambda: log.read_text().count("Task handles.resume_stalled[")  # noqa: E731
            wait_for(lambda: checks() >= 1, timeout=20, what="the start-up check")
            before = checks()
            # when the broker drops every client connection
            redis.Redis.from_url(broker).client_kill_filter(_type="normal", skipme=True)
            # then the reconnected consumer enqueues a new check
            wait_for(lambda: checks() > before, timeout=30, what="a check after the reconnection")
    finally:
        stop_process(proc, kill=True)
