"""Handle server requests end to end: the CLI, Redis, real Celery workers, the sandbox over HTTP."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta

import httpx
import pytest
from celery import Celery

from sandbox.handle_server import HandleServerFaults
from sandbox.testing import running_sandbox
from store.db import make_engine, session_scope, upgrade_schema
from store.models import HandleRequest, Outcome, Record, Run, RunState, utcnow
from tests.support import handles, sandbox_env, stop_process, wait_for, worker_process

pytestmark = pytest.mark.integration


@pytest.fixture
def sandbox():
    with running_sandbox() as url:
        yield url


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'requests.db'}"
    engine = make_engine(url)
    upgrade_schema(engine)
    yield engine, url
    engine.dispose()


def request_row(engine, request_id: int) -> HandleRequest:
    with session_scope(engine) as session:
        return session.get(HandleRequest, request_id)


def finished(engine, request_id: int):  # type: ignore[no-untyped-def]
    row = request_row(engine, request_id)
    return row if row.status in ("success", "error") else None


def resolve(sandbox: str, handle: str) -> str | None:
    """What the sandbox's public proxy says the handle points to (None when it does not resolve)."""
    r = httpx.get(f"{sandbox}/api/handles/{handle}", timeout=10)
    if r.status_code != 200:
        return None
    return next((v["data"]["value"] for v in r.json().get("values", []) if v["type"] == "URL"), None)


def faults(sandbox: str, **switches) -> None:  # type: ignore[no-untyped-def]
    httpx.post(f"{sandbox}/handle-server/_faults", json=switches, timeout=10).raise_for_status()


def server_log(sandbox: str, handle: str) -> list[tuple[str, int]]:
    entries = httpx.get(f"{sandbox}/handle-server/_log", timeout=10).json()
    return [(e["method"], e["status"]) for e in entries if (e["handle"] or "").lower() == handle.lower()]


def test_cli_requests_run_by_a_worker_feed_the_resolver(sandbox, db, redis_url, tmp_path):
    engine, db_url = db
    env = sandbox_env(sandbox, database_url=db_url, broker_url=redis_url)
    handle = f"11084/Req-{uuid.uuid4().hex[:8]}"
    with worker_process(env, log_path=tmp_path / "worker.log"):
        created = handles(env, "request", "create", handle, "https://example.org/one")
        assert created.returncode == 0, created.stderr
        rid = int(created.stdout.strip())
        row = wait_for(lambda: finished(engine, rid), timeout=30, what="the create")
        assert (row.status, row.attempts) == ("success", 1), row.error
        assert resolve(sandbox, handle) == "https://example.org/one"

        # the same handle in another case is the same handle
        dup = handles(env, "request", "create", handle.upper(), "https://example.org/two")
        row = wait_for(lambda: finished(engine, int(dup.stdout)), timeout=30, what="the duplicate create")
        assert row.status == "error" and "already exists" in row.error
        upd = handles(env, "request", "update", handle.lower(), "https://example.org/two")
        row = wait_for(lambda: finished(engine, int(upd.stdout)), timeout=30, what="the update")
        assert row.status == "success", row.error
        assert resolve(sandbox, handle) == "https://example.org/two"

        gone = handles(env, "request", "delete", handle, "--yes")
        row = wait_for(lambda: finished(engine, int(gone.stdout)), timeout=30, what="the delete")
        assert row.status == "success", row.error
        assert resolve(sandbox, handle) is None
        again = handles(env, "request", "delete", handle, "--yes")
        row = wait_for(lambda: finished(engine, int(again.stdout)), timeout=30, what="the second delete")
        assert row.status == "error" and "missing or deleted" in row.error

    status = handles(env, "request", "status", str(rid), "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["status"] == "success"
    listed = json.loads(handles(env, "request", "list", "--status", "error", "--json").stdout)
    assert len(listed) == 2
    assert handles(env, "request", "status", "9999").returncode != 0


def test_bad_input_and_wrong_password_are_errors_and_nothing_is_written(sandbox, db, redis_url, tmp_path):
    engine, db_url = db
    env = sandbox_env(sandbox, database_url=db_url, broker_url=redis_url)
    for args in (
        ("create", "99", "https://example.org/"),
        ("create", "11084/a\x01b", "https://example.org/"),
        ("update", "11084/x", "file:///etc/passwd"),
    ):
        bad = handles(env, "request", *args)
        assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "refused" in bad.stderr
    assert all(r["status"] == "error" for r in json.loads(handles(env, "request", "list", "--json").stdout))

    wrong = dict(env, HANDLE_SERVER_SECRET="not-the-secret")
    handle = f"11084/pw-{uuid.uuid4().hex[:8]}"
    with worker_process(wrong, log_path=tmp_path / "worker.log"):
        rid = int(handles(wrong, "request", "create", handle, "https://example.org/pw").stdout)
        row = wait_for(lambda: finished(engine, rid), timeout=30, what="the refused create")
    assert row.status == "error" and "HTTP 401" in row.error and row.attempts == 1
    assert "not-the-secret" not in (tmp_path / "worker.log").read_text() + row.error
    assert resolve(sandbox, handle) is None
    assert server_log(sandbox, handle) == [("PUT", 401)]


def test_transient_server_errors_are_retried_until_success(sandbox, db, redis_url, tmp_path):
    engine, db_url = db
    env = sandbox_env(sandbox, database_url=db_url, broker_url=redis_url)
    handle = f"11084/tr-{uuid.uuid4().hex[:8]}"
    faults(sandbox, fail_next=2, fail_status=500)
    with worker_process(env, log_path=tmp_path / "worker.log"):
        rid = int(handles(env, "request", "create", handle, "https://example.org/tr").stdout)
        row = wait_for(lambda: finished(engine, rid), timeout=30, what="the retried create")
    assert (row.status, row.attempts) == ("success", 3), row.error
    assert server_log(sandbox, handle) == [("PUT", 500), ("PUT", 500), ("PUT", 201)]
    assert resolve(sandbox, handle) == "https://example.org/tr"


def writes_arriving(monkeypatch) -> threading.Event:  # type: ignore[no-untyped-def]
    """Set when an authenticated write reaches the in-process sandbox's Handle server (before its delay)."""
    arrived = threading.Event()
    take_failure = HandleServerFaults.take_failure

    def noted(self: HandleServerFaults) -> int | None:
        arrived.set()
        return take_failure(self)

    monkeypatch.setattr(HandleServerFaults, "take_failure", noted)
    return arrived


def claim_older_than(engine, request_id: int, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    """The request's last change is more than ``seconds`` old: dispatch_requests may take it again."""
    return request_row(engine, request_id).updated_at < utcnow() - timedelta(seconds=seconds)


def test_worker_killed_mid_request_the_request_completes_once(sandbox, db, redis_url, tmp_path, monkeypatch):
    engine, db_url = db
    stall = 0.5  # STALL_SECONDS: how old a running request's claim must be before dispatch re-queues it
    env = sandbox_env(sandbox, database_url=db_url, broker_url=redis_url, STALL_SECONDS=str(stall))
    handle = f"11084/kill-{uuid.uuid4().hex[:8]}"
    arrived = writes_arriving(monkeypatch)
    faults(sandbox, delay_seconds=2.0)  # the create is held in flight long enough to kill the worker
    with worker_process(env, log_path=tmp_path / "first.log") as first:
        rid = int(handles(env, "request", "create", handle, "https://example.org/kill").stdout)
        wait_for(lambda: request_row(engine, rid).status == "running", timeout=30, what="the claim")
        wait_for(arrived.is_set, timeout=30, what="the create to reach the Handle server")
        stop_process(first, kill=True)
    assert request_row(engine, rid).status == "running"
    faults(sandbox, delay_seconds=0)
    wait_for(
        lambda: claim_older_than(engine, rid, stall), timeout=30, what="the dead worker's claim to go stale"
    )
    with worker_process(env, log_path=tmp_path / "second.log"):
        Celery(broker=redis_url).send_task("handles.dispatch_requests", queue="handles")
        row = wait_for(lambda: finished(engine, rid), timeout=30, what="the re-queued request")
    assert (row.status, row.attempts) == ("success", 2), row.error
    assert [s for m, s in server_log(sandbox, handle) if m == "PUT"].count(201) == 1
    assert resolve(sandbox, handle) == "https://example.org/kill"


def test_repair_conflicts_dry_run_then_apply(sandbox, db, redis_url, tmp_path):
    engine, db_url = db
    env = sandbox_env(sandbox, database_url=db_url, broker_url=redis_url)
    mms = "991011507293904641"
    with session_scope(engine) as session:
        # a finished migration: a worker's recovery resumes unfinished runs (a queued run here would
        # be migrated from the sandbox's seed set ~6 s after the worker starts, adding its checks)
        run = Run(set_id="7593466560004641", state=RunState.SUCCEEDED, finished_at=utcnow())
        session.add(run)
        session.flush()
        session.add(
            Record(
                run_id=run.id,
                mms_id=mms,
                expected_handle="11084/99",
                alma_handle="11084/1742400039",
                outcome=Outcome.CONFLICT,
            )
        )
        run_id = run.id
    target = env["HANDLE_TARGET_TEMPLATE"].replace("{mms_id}", mms)
    dry = handles(env, "repair-conflicts", str(run_id))
    assert dry.returncode == 0, dry.stderr
    assert "would queue" in dry.stdout and resolve(sandbox, "11084/99") != target
    with worker_process(env, log_path=tmp_path / "worker.log"):
        applied = handles(env, "repair-conflicts", str(run_id), "--apply", "--json")
        assert applied.returncode == 0, applied.stderr
        item = json.loads(applied.stdout)["items"][0]
        assert item["action"] in ("create", "update") and item["request_id"]
        row = wait_for(lambda: finished(engine, item["request_id"]), timeout=30, what="the repair")
    assert row.status == "success", row.error
    assert resolve(sandbox, "11084/99") == target
    after = json.loads(handles(env, "repair-conflicts", str(run_id), "--json").stdout)
    assert after["items"][0]["action"] == "none"
