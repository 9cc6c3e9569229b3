"""Flower, run with the command its container of docker-compose.yml runs: 401 without and 200 with its
credentials, tasks shown as ``handles.<verb>`` with id-only arguments, refuses to start without
credentials or with a malformed one."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.services import (
    LOG_LINE,
    QUEUE,
    alive,
    celery_cmd,
    client_app,
    log_of,
    service_env,
    spawn,
)
from tests.support import ROOT, free_port, stop_process, wait_for

pytestmark = pytest.mark.integration

FLOWER_USER, FLOWER_PASSWORD = "ops", "flower-test-secret"


def start_flower(tmp_path: Path, broker: str, port: int) -> tuple[subprocess.Popen, Path]:
    env = service_env(tmp_path, broker, FLOWER_BASIC_AUTH=f"{FLOWER_USER}:{FLOWER_PASSWORD}")
    log_path = tmp_path / "flower.log"
    proc = spawn(celery_cmd("flower", f"--port={port}", "--max_tasks=10000"), env, log_path)

    def healthy() -> bool:
        alive(proc, log_path)
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthcheck", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, timeout=30, what="Flower to answer")
    except BaseException:
        stop_process(proc)
        raise
    return proc, log_path


def test_flower_answers_401_without_and_200_with_its_credentials(tmp_path: Path, broker: str) -> None:
    port = free_port()
    proc, log_path = start_flower(tmp_path, broker, port)
    base = f"http://127.0.0.1:{port}"
    try:
        for path in ("/", "/api/workers", "/api/tasks"):
            assert httpx.get(base + path, timeout=10).status_code == 401, path
            assert httpx.get(base + path, auth=(FLOWER_USER, "wrong"), timeout=10).status_code == 401, path
            assert (
                httpx.get(base + path, auth=(FLOWER_USER, FLOWER_PASSWORD), timeout=10).status_code == 200
            ), path
        # a task Flower can act on is behind the same authentication
        assert httpx.post(base + "/api/task/revoke/x", timeout=10).status_code in (401, 403)
    finally:
        stop_process(proc)
    log = log_of(log_path)
    assert FLOWER_PASSWORD not in log
    assert f"Visit me at http://127.0.0.1:{port}" in log  # flowerconfig.py: loopback unless --address


def test_flower_shows_tasks_by_stable_name_with_id_only_arguments(tmp_path: Path, broker: str) -> None:
    port = free_port()
    flower, flower_log = start_flower(tmp_path, broker, port)
    worker_log = tmp_path / "worker.log"
    worker = spawn(
        celery_cmd(
            "worker", "--loglevel=INFO", "--concurrency=1", f"--hostname=svc-{uuid.uuid4().hex[:8]}@%h"
        ),
        service_env(tmp_path, broker),
        worker_log,
    )
    auth = (FLOWER_USER, FLOWER_PASSWORD)
    try:
        wait_for(
            lambda: alive(worker, worker_log) or " ready." in log_of(worker_log),
            timeout=30,
            what="worker ready",
        )
        task_id = (
            client_app(broker).send_task("handles.resume_stalled", kwargs={"force": False}, queue=QUEUE).id
        )

        def shown() -> dict | None:
            alive(flower, flower_log)
            tasks = httpx.get(f"http://127.0.0.1:{port}/api/tasks", auth=auth, timeout=10).json()
            task = tasks.get(task_id)
            return task if task and task.get("state") == "SUCCESS" else None

        task = wait_for(shown, timeout=30, what="Flower to show the task")
        assert task["name"] == "handles.resume_stalled"
        assert task["kwargs"] == "{'force': False}"
        workers = httpx.get(f"http://127.0.0.1:{port}/api/workers?refresh=1", auth=auth, timeout=20).json()
        assert workers, "Flower does not see the worker"
    finally:
        stop_process(worker)
        stop_process(flower)


def refused_flower(env: dict[str, str]) -> tuple[str, list[str]]:
    """Start Flower, which must refuse: its whole output, and its lines other than log lines."""
    done = subprocess.run(
        celery_cmd("flower", f"--port={free_port()}"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Traceback" not in output
    # its own lines, whatever INFO lines the app's import logs before them
    return output, [line for line in output.splitlines() if line.strip() and not LOG_LINE.match(line)]


def test_flower_refuses_to_start_without_credentials(tmp_path: Path, broker: str) -> None:
    output, lines = refused_flower(service_env(tmp_path, broker))
    assert len(lines) == 1, output
    assert "FLOWER_BASIC_AUTH" in lines[0] and "refusing to start" in lines[0]


def test_flower_refuses_a_malformed_credential(tmp_path: Path, broker: str) -> None:
    output, lines = refused_flower(service_env(tmp_path, broker, FLOWER_BASIC_AUTH="just-a-password"))
    assert "just-a-password" not in output
    assert lines == ["flower: FLOWER_BASIC_AUTH entry 1 is not user:password"], output


# --- handles db upgrade -------------------------------------------------------------------------------
