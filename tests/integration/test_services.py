"""The services of docker-compose.yml, each run with the very command its container runs (no Docker).

worker: starts and consumes a task · beat: two at once against one Redis, only the RedBeat lock
holder sends, the other takes over when it stops · Flower: 401 without and 200 with its
credentials, tasks shown as ``handles.<verb>`` with id-only arguments, refuses to start without
credentials · ``handles db upgrade`` twice on SQLite and PostgreSQL · ``handles sandbox``.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import socket
import subprocess
import sys
import types
import typing
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, free_port, stop_process, wait_for

pytestmark = pytest.mark.integration

QUEUE = "handles"
LOCK_KEY = "handles:redbeat:lock"
FLOWER_USER, FLOWER_PASSWORD = "ops", "flower-test-secret"
HANDLES = Path(sys.executable).with_name("handles")
# Lines our logging setup writes ("2026-01-01 12:00:00,000 INFO name: …") or Celery's banner.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING) ")


@pytest.fixture
def broker(redis_url: str) -> str:
    """A real Redis database, empty before and after (the conftest's)."""
    return redis_url


def service_env(tmp_path: Path, broker_url: str | None = None, **extra: str) -> dict[str, str]:
    """A clean environment: only what a container of docker-compose.yml would get."""
    drop = ("ALMA_", "HANDLE_", "CELERY_", "FLOWER_", "DATABASE_", "REDIS_", "RESUME_", "LOG_LEVEL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'services.db'}", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1"
    )
    if broker_url:
        env["CELERY_BROKER_URL"] = broker_url
    env.update(extra)
    return env


def handles_cmd(*args: str) -> list[str]:
    if HANDLES.exists():
        return [str(HANDLES), *args]
    return [sys.executable, "-m", "cli.main", *args]


def celery_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "workers.app", *args]


def spawn(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def log_of(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def alive(proc: subprocess.Popen, log_path: Path) -> None:
    if proc.poll() is not None:
        raise AssertionError(f"{proc.args[3:6]} exited ({proc.returncode}):\n{log_of(log_path)[-3000:]}")


def queued(broker_url: str, task: str) -> list[dict]:
    """Headers of the messages of ``task`` waiting in the queue (nothing consumes them here)."""
    import redis

    client = redis.Redis.from_url(broker_url)
    try:
        messages = [json.loads(raw) for raw in client.lrange(QUEUE, 0, -1)]
    finally:
        client.close()
    return [m["headers"] for m in messages if m["headers"].get("task") == task]


def client_app(broker_url: str):  # type: ignore[no-untyped-def]
    from celery import Celery

    return Celery("test-client", broker=broker_url, set_as_current=False)


# --- worker -----------------------------------------------------------------------------------------


def test_worker_starts_consumes_a_task_and_answers_its_healthcheck(tmp_path: Path, broker: str) -> None:
    env = service_env(tmp_path, broker)
    log_path = tmp_path / "worker.log"
    name = f"svc-{uuid.uuid4().hex[:8]}"
    # the compose command, with a known node name and one process
    proc = spawn(
        celery_cmd("worker", "--loglevel=INFO", "--concurrency=1", f"--hostname={name}@%h"), env, log_path
    )
    try:
        wait_for(
            lambda: alive(proc, log_path) or " ready." in log_of(log_path), timeout=30, what="worker ready"
        )
        app = client_app(broker)
        task_id = app.send_task("handles.resume_stalled", kwargs={"force": False}, queue=QUEUE).id
        wait_for(
            lambda: (
                alive(proc, log_path) or f"handles.resume_stalled[{task_id}] succeeded" in log_of(log_path)
            ),
            timeout=20,
            what="the task to be consumed",
        )
        # docker-compose.yml's healthcheck of the worker
        ping = subprocess.run(
            celery_cmd(
                "inspect", "ping", "--destination", f"{name}@{socket.gethostname()}", "--timeout", "10"
            ),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert "pong" in ping.stdout
    finally:
        stop_process(proc)
    assert "Traceback" not in log_of(log_path)


# --- beat -------------------------------------------------------------------------------------------


def test_two_beats_at_once_only_the_redbeat_lock_holder_sends(tmp_path: Path, broker: str) -> None:
    import redis

    # RESUME_INTERVAL_SECONDS=1: handles.resume_stalled every second; --max-interval=1: the waiting
    # beat retries the lock every second (the compose command plus these two).
    env = service_env(tmp_path, broker, RESUME_INTERVAL_SECONDS="1")
    beats = []
    for n in (1, 2):
        log_path = tmp_path / f"beat{n}.log"
        cmd = celery_cmd(
            "beat", "--loglevel=INFO", "--max-interval=1", f"--schedule={tmp_path}/beat{n}-schedule"
        )
        beats.append((spawn(cmd, env, log_path), log_path))
    try:

        def holder() -> tuple[subprocess.Popen, Path] | None:
            for proc, log_path in beats:
                alive(proc, log_path)
            owners = [(p, lp) for p, lp in beats if "beat: Acquired lock" in log_of(lp)]
            assert len(owners) <= 1, "both beats acquired the lock"
            return owners[0] if owners else None

        first, first_log = wait_for(holder, timeout=30, what="one beat to acquire the RedBeat lock")
        other, other_log = next(b for b in beats if b[0] is not first)
        assert redis.Redis.from_url(broker).exists(LOCK_KEY), f"no lock key {LOCK_KEY}"

        wait_for(
            lambda: len(queued(broker, "handles.resume_stalled")) >= 3,
            timeout=15,
            what="three handles.resume_stalled sent",
        )
        assert holder() == (first, first_log)
        origins = {h["origin"].split("@")[0] for h in queued(broker, "handles.resume_stalled")}
        assert origins == {f"gen{first.pid}"}, origins
        assert "beat: Acquired lock" not in log_of(other_log)

        # the holder stops (docker stop / restart): it releases the lock, the other one takes over
        stop_process(first)
        assert "beat: Releasing lock" in log_of(first_log)
        wait_for(
            lambda: alive(other, other_log) or "beat: Acquired lock" in log_of(other_log),
            timeout=20,
            what="the second beat to take the lock over",
        )
        wait_for(
            lambda: (
                f"gen{other.pid}"
                in {h["origin"].split("@")[0] for h in queued(broker, "handles.resume_stalled")}
            ),
            timeout=15,
            what="the second beat to send",
        )
    finally:
        for proc, _ in beats:
            stop_process(proc)
    for _, log_path in beats:
        assert "Traceback" not in log_of(log_path)


# --- Flower -----------------------------------------------------------------------------------------


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


def test_flower_refuses_to_start_without_credentials(tmp_path: Path, broker: str) -> None:
    env = service_env(tmp_path, broker)
    done = subprocess.run(
        celery_cmd("flower", f"--port={free_port()}"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    # one line of its own (whatever INFO lines the app's import logs before it)
    lines = [line for line in output.splitlines() if line.strip() and not LOG_LINE.match(line)]
    assert len(lines) == 1, output
    assert "FLOWER_BASIC_AUTH" in lines[0] and "refusing to start" in lines[0]


def test_flower_refuses_a_malformed_credential(tmp_path: Path, broker: str) -> None:
    env = service_env(tmp_path, broker, FLOWER_BASIC_AUTH="just-a-password")
    done = subprocess.run(
        celery_cmd("flower", f"--port={free_port()}"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "just-a-password" not in output
    lines = [line for line in output.splitlines() if line.strip() and not LOG_LINE.match(line)]
    assert lines == ["flower: FLOWER_BASIC_AUTH entry 1 is not user:password"], output


# --- handles db upgrade -------------------------------------------------------------------------------


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    from store.db import make_engine
    from store.schema import alembic_config

    engine = make_engine("sqlite://")
    try:
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    finally:
        engine.dispose()
    assert head
    return head


def _upgrade_twice(env: dict[str, str], database_url: str) -> None:
    from sqlalchemy import inspect as sa_inspect
    from sqlalchemy import text

    from store.db import make_engine

    head = _head_revision()
    outputs = []
    for _ in range(2):
        done = subprocess.run(
            handles_cmd("db", "upgrade"), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        outputs.append(done.stdout)
    assert "upgraded from empty" in outputs[0] and head in outputs[0]
    assert "already current" in outputs[1] and head in outputs[1]
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
        from sqlmodel import SQLModel

        import store.models  # noqa: F401  (registers the tables)

        assert set(SQLModel.metadata.tables) <= set(sa_inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_db_upgrade_on_sqlite_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'handles.db'}"
    _upgrade_twice(service_env(tmp_path, DATABASE_URL=url), url)


def test_db_upgrade_on_postgresql_twice(tmp_path: Path, pg_url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    _upgrade_twice(service_env(tmp_path, DATABASE_URL=pg_url), pg_url)


def test_db_upgrade_failure_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://handles:pw-{uuid.uuid4().hex}@127.0.0.1:{free_port()}/handles"
    done = subprocess.run(
        handles_cmd("db", "upgrade"),
        cwd=ROOT,
        env=service_env(tmp_path, DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr and url.split(":")[2].split("@")[0] not in done.stderr


# --- the sandbox ------------------------------------------------------------------------------------


def test_sandbox_serves_alma_jobs_with_the_sandbox_key(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "sandbox.log"
    proc = spawn(handles_cmd("sandbox", "--port", str(port)), service_env(tmp_path), log_path)
    url = f"http://127.0.0.1:{port}/almaws/v1/conf/jobs"

    def answer() -> httpx.Response | None:
        alive(proc, log_path)
        try:
            return httpx.get(
                url, headers={"Authorization": "apikey sandbox-key", "Accept": "application/json"}, timeout=5
            )
        except httpx.HTTPError:
            return None

    try:
        response = wait_for(answer, timeout=30, what="the sandbox to answer")
        assert response.status_code == 200, response.text
        assert "M48401" in response.text
        assert httpx.get(url, headers={"Authorization": "apikey wrong-key"}, timeout=5).status_code != 200
    finally:
        stop_process(proc)


# --- what Flower shows: task names and arguments ------------------------------------------------------

_PRIMITIVES = (int, str, bool, float, type(None))
_SECRETISH = re.compile(r"key|secret|password|token|auth|credential", re.IGNORECASE)


def _primitive(annotation: object) -> bool:
    if annotation in _PRIMITIVES:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return all(_primitive(arg) for arg in typing.get_args(annotation))
    return False


def test_every_task_is_named_handles_verb_and_takes_ids_or_primitives_only() -> None:
    from workers.app import app

    app.loader.import_default_modules()
    ours = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
    assert {"handles.preflight", "handles.run_step", "handles.finish_run", "handles.resume_stalled"} <= set(
        ours
    )
    for name, task in ours.items():
        assert re.fullmatch(r"handles\.[a-z][a-z_]*", name), name
        hints = typing.get_type_hints(task.run)
        for param in inspect.signature(task.run).parameters.values():
            assert not _SECRETISH.search(param.name), f"{name}({param.name}): looks like a secret"
            assert param.name in hints, f"{name}({param.name}): not annotated"
            assert _primitive(hints[param.name]), (
                f"{name}({param.name}: {hints[param.name]}) is not an id/primitive"
            )


# --- docker-compose.yml says what these tests run -----------------------------------------------------


def test_compose_file_runs_these_commands_with_required_secrets() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for command in (
        '["handles", "db", "upgrade"]',
        '"celery", "-A", "workers.app", "worker"',
        '"celery", "-A", "workers.app", "beat"',
        '"celery", "-A", "workers.app", "flower"',
        '"--max_tasks=10000"',
        '["handles", "sandbox", "--host", "0.0.0.0", "--port", "8780"]',
    ):
        assert command in text, command
    assert "${POSTGRES_PASSWORD:?" in text and "${FLOWER_BASIC_AUTH:?" in text
    assert "postgresql+psycopg://" in text and "CELERY_BROKER_URL: redis://redis:6379/0" in text
    assert "restart: unless-stopped" in text and "service_completed_successfully" in text
    assert not re.search(r"^\s*FLOWER_UNAUTHENTICATED_API\s*:", text, re.MULTILINE)
    for published in re.findall(r'^\s*-\s*"([^"]*:\d+)"\s*$', text, re.MULTILINE):
        assert published.startswith("127.0.0.1:"), f"published beyond the loopback: {published}"
    assert "FROM python:3.11-slim" in (ROOT / "Dockerfile").read_text()
