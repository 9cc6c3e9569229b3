"""The services of docker-compose.yml, each run with the very command its container runs (no Docker).

worker: starts and consumes a task · beat: two at once against one Redis, only the RedBeat lock
holder sends, the other takes over when it stops · Flower: 401 without and 200 with its
credentials, tasks shown as ``handles.<verb>`` with id-only arguments, refuses to start without
credentials (test_flower.py) · ``handles db upgrade`` twice on SQLite and PostgreSQL · ``handles sandbox``.
"""

from __future__ import annotations

import inspect
import re
import socket
import subprocess
import types
import typing
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.services import (
    LOCK_KEY,
    QUEUE,
    alive,
    celery_cmd,
    client_app,
    handles_cmd,
    log_of,
    queued,
    service_env,
    spawn,
)
from tests.support import ROOT, free_port, stop_process, wait_for

pytestmark = pytest.mark.integration


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
