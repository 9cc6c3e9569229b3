"""Test support: real Celery worker processes, and environments pointing at the sandbox."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sandbox_env(sandbox_url: str, *, database_url: str, broker_url: str, **extra: str) -> dict[str, str]:
    """Environment for a worker or CLI process talking to the sandbox at ``sandbox_url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALMA_", "HANDLE_", "CELERY_"))}
    env.update(
        ALMA_API_BASE_URL=sandbox_url,
        ALMA_API_KEY="sandbox-key",
        HANDLE_RESOLVER_URL=sandbox_url,
        HANDLE_TARGET_TEMPLATE=sandbox_url + "/discovery/fulldisplay/alma{mms_id}/01GCL_INST:GCL",
        HANDLE_SERVER_URL=sandbox_url + "/handle-server",
        HANDLE_SERVER_SECRET="sandbox-handle-secret",
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        POLL_MIN_SECONDS="0.1",  # sandbox jobs last 0.5-2 s: a step learns its end within 0.5 s
        POLL_MAX_SECONDS="0.5",
        VERIFY_RATE_PER_HOST="1000",  # the sandbox's resolver needs no 50-a-second courtesy
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def _celery(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """``celery -A workers.app <command>`` in its own process group, its output in ``log_path``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.app", *command, "--loglevel=INFO"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _started(proc: subprocess.Popen, log_path: Path, says: str, what: str, timeout: float) -> None:
    """Wait until the process's log says ``says``; its log's end when it exits or never says it."""

    def said() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{log_path.read_text()[-3000:]}")
        return says in log_path.read_text()

    try:
        wait_for(said, timeout=timeout, interval=0.05, what=what)
    except AssertionError:
        raise RuntimeError(f"{what} not ready:\n{log_path.read_text()[-3000:]}") from None


@contextmanager
def worker_process(
    env: dict[str, str], *, log_path: Path, concurrency: int = 2, ready_timeout: float = 30.0
) -> Iterator[subprocess.Popen]:
    """A real ``celery -A workers.app worker`` subprocess; waits until it is ready, kills it after.

    Killed (SIGKILL, the whole process group), not stopped warmly: a test waits inside the block for
    everything it checks, and Celery's warm shutdown of an idle prefork pool takes 1.5-2 s (its pool
    threads sleep up to a second between looks), which a suite of thirty workers paid in full. The
    warm shutdown is still run where a test starts a worker of its own (test_services.py).
    """
    name = f"test-{os.getpid()}-{time.monotonic_ns()}@%h"
    proc = _celery(
        [
            "worker",
            f"--concurrency={concurrency}",
            "--pool=prefork",
            "--without-gossip",
            "--without-mingle",
            "-n",
            name,
        ],
        env,
        log_path,
    )
    try:
        _started(proc, log_path, " ready.", "worker", ready_timeout)
        yield proc
    finally:
        stop_process(proc, kill=True)


@contextmanager
def beat_process(env: dict[str, str], *, log_path: Path, schedule: Path) -> Iterator[subprocess.Popen]:
    """A real ``celery -A workers.app beat`` subprocess (RedBeat on the env's Redis); waits until it
    holds its lock, stops it (SIGTERM) after."""
    proc = _celery(["beat", f"--schedule={schedule}"], env, log_path)
    try:
        _started(proc, log_path, "beat: Acquired lock", "beat", 30.0)
        yield proc
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen, *, kill: bool = False, timeout: float = 15.0) -> None:
    """SIGTERM (or SIGKILL) the whole process group and wait."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def require_binary(name: str) -> str:
    """The path of program ``name``; skip the test when it is missing, but fail under ``CI=true``."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed, and CI requires it")
        pytest.skip(f"{name} is not installed")
    return path


def wait_for(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def handles(
    env: dict[str, str], *args: str, cwd: Path = ROOT, timeout: float = 150
) -> subprocess.CompletedProcess[str]:
    """One ``handles`` command as an operator types it: its exit status, stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=cwd,
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout,
    )


@contextmanager
def handles_service(
    env: dict[str, str], *args: str, log_path: Path, cwd: Path = ROOT
) -> Iterator[subprocess.Popen]:
    """A long-running ``handles`` command (``web``, ``webhook``) in its own process group, its output
    in ``log_path``; stopped (SIGTERM) after. The caller waits for it to answer."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", *args],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        stop_process(proc)


@contextmanager
def webhook_listener(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """``handles webhook`` on a free port, as the compose service runs it; its URL once it answers
    Alma's registration challenge."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with handles_service(
        env, "webhook", "--host", "127.0.0.1", "--port", str(port), log_path=log_path
    ) as proc:

        def answers() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"handles webhook exited:\n{log_path.read_text()[-3000:]}")
            try:
                return httpx.get(url, params={"challenge": "c-1"}, timeout=2).json() == {"challenge": "c-1"}
            except httpx.HTTPError:
                return False

        wait_for(answers, timeout=30, what="handles webhook answers the challenge")
        yield url
