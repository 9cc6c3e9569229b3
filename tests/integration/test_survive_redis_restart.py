"""A worker and a beat outlive a Redis restart by themselves (issue 13 item 10).

No supervisor here: a process that dies stays dead and the test fails. The broker is a private
``redis-server`` on a free port (the machine's shared Redis is left alone), stopped with
``SHUTDOWN NOSAVE`` in the middle of a migration and started again, empty, on the same port.
Exactly-once is read from the sandbox's own log of ``op=run`` calls.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from sandbox.testing import running_sandbox
from tests.support import (
    ROOT,
    beat_process,
    free_port,
    handles,
    require_binary,
    sandbox_env,
    stop_process,
    wait_for,
    worker_process,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED_SET = "7593466560004641"
JOBS = ("M48401", "M48402", "M48403")  # copy, migration, profile


class PrivateRedis:
    """``redis-server`` on its own port, with an eviction policy the product must warn about."""

    def __init__(self, binary: str, tmp_path: Path) -> None:
        self.binary, self.port, self.dir = binary, free_port(), tmp_path
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=1)

    def answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except Exception:  # noqa: BLE001 - any failure means "not answering"
            return False

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--maxmemory-policy",
                "allkeys-lru",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(self.answers, timeout=10, what="redis-server to answer")

    def shutdown(self) -> None:
        import redis

        try:
            self.client().shutdown(nosave=True)
        except redis.exceptions.ConnectionError:
            pass  # the server closes the connection as it goes
        assert self.proc is not None
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, kill=True)


def _log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _state(db_url: str, run_id: int) -> str:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("select state from run where id = :id"), {"id": run_id}).scalar())
    finally:
        engine.dispose()


def _ping_worker(env: dict[str, str], worker_log: Path) -> subprocess.CompletedProcess[str]:
    """``celery inspect ping`` of the test's worker by name: it answers at the first reply (without a
    destination, inspect waits its whole timeout for workers it cannot know of)."""
    node = re.search(r"(\S+@\S+) ready\.", _log(worker_log))
    assert node, "the worker did not say its name"
    command = ["inspect", "ping", "--destination", node[1], "--timeout", "5"]
    return subprocess.run(
        [sys.executable, "-m", "celery", "-A", "workers.app", *command],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
    )


def test_worker_and_beat_outlive_a_redis_restart_and_the_run_submits_each_job_once(
    tmp_path: Path,
) -> None:
    redis_server = PrivateRedis(require_binary("redis-server"), tmp_path)
    redis_server.start()
    with running_sandbox(job_seconds=1.0, profile_api=True) as sandbox:
        env = sandbox_env(
            sandbox,
            database_url=f"sqlite:///{tmp_path / 'handles.db'}",
            broker_url=redis_server.url,
            REDIS_URL=redis_server.url,
            STALL_SECONDS="4",
            RESUME_INTERVAL_SECONDS="2",  # beat sends a check every 2 s: it ticks at least that often
        )
        worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
        try:
            with (
                worker_process(env, log_path=worker_log) as worker,
                beat_process(env, log_path=beat_log, schedule=tmp_path / "celerybeat-schedule") as beat,
            ):
                heartbeat = tmp_path / "celerybeat-schedule.heartbeat"
                wait_for(heartbeat.exists, timeout=15, what="beat's first heartbeat")
                # the eviction policy is named at start-up, by both
                assert "maxmemory-policy allkeys-lru" in _log(beat_log)
                assert "maxmemory-policy allkeys-lru" in _log(worker_log)

                started = handles(env, "migrate", SEED_SET)
                assert started.returncode == 0, started.stderr
                run_id = int(started.stdout.strip())
                wait_for(
                    lambda: [e["job_id"] for e in _submissions(sandbox)][:1] == [JOBS[0]],
                    timeout=60,
                    what="the copy job to be submitted",
                )

                # when Redis goes away in the middle of the run ...
                worker_mark, beat_mark = len(_log(worker_log)), len(_log(beat_log))
                redis_server.shutdown()
                wait_for(
                    lambda: "Cannot connect to redis" in _log(worker_log)[worker_mark:],
                    timeout=30,
                    what="the worker to notice the broker is gone",
                )
                wait_for(
                    lambda: "beat: Redis does not answer" in _log(beat_log)[beat_mark:],
                    timeout=30,
                    what="beat to notice Redis is gone",
                )
                assert worker.poll() is None and beat.poll() is None, "died while Redis was down"
                # ... and comes back empty on the same port
                redis_server.start()

                # then both are alive and serving, with no supervisor
                wait_for(
                    lambda: "beat: Redis answers again" in _log(beat_log)[beat_mark:],
                    timeout=60,
                    what="beat to take its lock again",
                )

                def beat_since_recovery() -> str:
                    return _log(beat_log)[beat_mark:].split("beat: Redis answers again", 1)[1]

                wait_for(
                    lambda: "Sending due task handles.resume_stalled" in beat_since_recovery(),
                    timeout=30,
                    what="beat to send a task after the restart",
                )
                assert redis_server.client().exists("handles:redbeat:lock")
                stamp = heartbeat.stat().st_mtime
                wait_for(lambda: heartbeat.stat().st_mtime > stamp, timeout=15, what="a fresh heartbeat")

                def worker_since_reconnection() -> str:
                    return _log(worker_log)[worker_mark:].partition("Connected to redis")[2]

                wait_for(
                    lambda: (
                        "Task handles.resume_stalled[" in worker_since_reconnection()
                        and "] received" in worker_since_reconnection()
                    ),
                    timeout=60,
                    what="the worker to consume a task after the restart",
                )
                ping = _ping_worker(env, worker_log)
                assert ping.returncode == 0 and "pong" in ping.stdout, ping.stdout + ping.stderr

                # and the run completes, each job submitted exactly once
                wait_for(
                    lambda: _state(env["DATABASE_URL"], run_id) in ("succeeded", "failed"),
                    timeout=180,
                    interval=0.5,
                    what="the run to finish after the Redis restart",
                )
                assert _state(env["DATABASE_URL"], run_id) == "succeeded"
                assert [e["job_id"] for e in _submissions(sandbox)] == list(JOBS)
                assert worker.poll() is None and beat.poll() is None
                assert "Traceback" not in _log(beat_log), _log(beat_log)[-3000:]
                assert "Unrecoverable error" not in _log(worker_log)
        finally:
            redis_server.stop()
    assert "beat: Releasing lock" in _log(beat_log) or "could not release the lock" in _log(beat_log)


def _submissions(sandbox: str) -> list[dict]:
    log = httpx.get(f"{sandbox}/sandbox/log", timeout=10).json()
    entries = log["entries"] if isinstance(log, dict) else log
    return [e for e in entries if e.get("job_id") in JOBS]


def test_beat_health_check_reads_the_heartbeat_next_to_the_schedule(tmp_path: Path) -> None:
    schedule = tmp_path / "celerybeat-schedule"
    check = [sys.executable, "-m", "workers.health", "beat", str(schedule)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    assert subprocess.run(check, cwd=ROOT, env=env, capture_output=True).returncode == 1  # never ticked
    Path(f"{schedule}.heartbeat").touch()
    assert subprocess.run(check, cwd=ROOT, env=env, capture_output=True).returncode == 0
    os.utime(f"{schedule}.heartbeat", (1, 1))  # stale
    stale = subprocess.run(check, cwd=ROOT, env=env, capture_output=True, text=True)
    assert stale.returncode == 1 and stale.stderr.count("\n") == 1
