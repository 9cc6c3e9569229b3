"""Verification end to end: the sandbox resolver over HTTP, Redis, and a real Celery worker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, func, select

from sandbox.testing import configure, running_sandbox
from store.db import make_engine, upgrade_schema
from store.models import HandleCheck, Record, Run, RunState, utcnow
from tests.support import ROOT, sandbox_env, wait_for, worker_process

pytestmark = pytest.mark.integration
VIEW = "01GCL_INST:GCL"
N = 12


@pytest.fixture
def sandbox():
    with running_sandbox() as url:
        yield url


def target(url: str, mms: str) -> str:
    return f"{url}/discovery/fulldisplay/alma{mms}/{VIEW}"


def register(url: str, handle: str, to: str | None) -> None:
    body = {"handle": handle, "delete": True} if to is None else {"handle": handle, "url": to}
    httpx.post(f"{url}/sandbox/registry", json=body, timeout=10).raise_for_status()


def count_checks(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(HandleCheck)).one()


@pytest.fixture
def world(sandbox, tmp_path):
    """N records whose handles resolve: 0..9 correctly, 10 to another record, 11 not at all."""
    db_url = f"sqlite:///{tmp_path / 'verify.db'}"
    engine = make_engine(db_url)
    upgrade_schema(engine)
    with Session(engine) as session:
        # a finished migration: a worker's recovery resumes unfinished runs (a queued run here would
        # be migrated from the sandbox's seed set ~6 s after the worker starts, adding its checks)
        run = Run(set_id="7593466560004641", state=RunState.SUCCEEDED, finished_at=utcnow())
        session.add(run)
        session.flush()
        for i in range(N):
            session.add(Record(run_id=run.id, position=i, mms_id=f"99{i}", expected_handle=f"11084/v{i}"))
        session.commit()
        run_id = run.id
    for i in range(N - 2):
        register(sandbox, f"11084/v{i}", target(sandbox, f"99{i}"))
    register(sandbox, f"11084/v{N - 2}", target(sandbox, "12345"))
    yield engine, db_url, run_id
    engine.dispose()


def test_beat_slices_run_once_per_slot_by_a_real_worker_and_regressions_found(
    world, sandbox, redis_url, tmp_path
):
    from celery import Celery

    engine, db_url, _ = world
    configure(sandbox, resolver_fail_every=4)  # every 4th lookup is a 500: retried, never not_found
    env = sandbox_env(sandbox, database_url=db_url, broker_url=redis_url, VERIFY_SLICE_SIZE="5")
    sender = Celery(broker=redis_url)
    log_path = tmp_path / "worker.log"
    slot = "2025-03-10T02:00Z"
    with worker_process(env, log_path=log_path, concurrency=2):
        for _ in range(2):  # two beats dispatching the same slot
            sender.send_task("handles.verify_known", kwargs={"slot": slot}, queue="handles")
        wait_for(
            lambda: count_checks(engine) >= N and "already planned" in log_path.read_text(),
            timeout=60,
            what="the slot's slices",
        )
        wait_for(
            lambda: log_path.read_text().count(f"verify_slice: slot {slot} slice") >= 3,
            timeout=30,
            what="three slice log lines",
        )
        with Session(engine) as session:
            checks = session.exec(select(HandleCheck)).all()
        # the second dispatch did nothing; on failure, say which checks and what the worker did
        assert len(checks) == N, (
            [(c.id, c.handle, c.verification, c.checked_at.isoformat()) for c in checks],
            log_path.read_text()[-6000:],
        )
        verdicts = {c.handle: c.verification for c in checks}
        assert verdicts[f"11084/v{N - 2}"] == "wrong_target" and verdicts[f"11084/v{N - 1}"] == "not_found"
        assert [v for h, v in verdicts.items() if h not in {f"11084/v{N - 2}", f"11084/v{N - 1}"}] == [
            "ok"
        ] * (N - 2)
        with Session(engine) as session:
            records = session.exec(select(Record).order_by(Record.position)).all()
        assert records[0].verification == "ok" and records[0].target_url == target(sandbox, "990")

        # the next night: v3 was deleted from the Handle server → a regression
        register(sandbox, "11084/v3", None)
        sender.send_task("handles.verify_known", kwargs={"slot": "2025-03-11T02:00Z"}, queue="handles")
        wait_for(lambda: count_checks(engine) >= 2 * N, timeout=60, what="the second night's checks")
        assert "handle regression: 11084/v3 was ok, now not_found" in log_path.read_text()
    from handles.verify import regressions

    with Session(engine) as session:
        assert [c.handle for c in regressions(session)] == ["11084/v3"]
    assert count_checks(engine) == 2 * N


def test_cli_verify_run_and_file_against_the_sandbox(world, sandbox, tmp_path):
    _, db_url, run_id = world
    env = sandbox_env(sandbox, database_url=db_url, broker_url="memory://")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", "verify", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = cli("--run", str(run_id), "--json")
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)["summary"]
    assert (summary["ok"], summary["wrong_target"], summary["not_found"]) == (N - 2, 1, 1)
    good = Path(tmp_path / "good.txt")
    good.write_text("11084/v0\nhttp://hdl.handle.net/11084/v1\nhdl:11084/v2\n")
    done = cli("--file", str(good))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no MMS id" in done.stdout
    empty = Path(tmp_path / "empty.txt")
    empty.write_text("")
    done = cli("--file", str(empty))
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "empty" in done.stderr
