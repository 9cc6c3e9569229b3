"""What the service tests share: a container's clean environment, the commands its services run, and
looks at their logs and at the broker's queue."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

QUEUE = "handles"
LOCK_KEY = "handles:redbeat:lock"
HANDLES = Path(sys.executable).with_name("handles")
# Lines our logging setup writes ("2026-01-01 12:00:00,000 INFO name: …") or Celery's banner.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING) ")


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
