"""The JOB_END listener over Starlette's TestClient: challenge, signature, every bad input."""

from __future__ import annotations

import json
import logging

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from pipeline.runs import create_run
from store.db import make_engine, session_scope, upgrade_schema
from store.models import RunState, StepStatus
from store.runs import step_of
from tests.unit.pipeline.test_job_end import instance_json
from webhook.app import create_app, sign

SECRET = "alma-profile-secret-0123"


@pytest.fixture
def world(tmp_path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'hook.db'}")
    upgrade_schema(engine)
    with session_scope(engine) as session:
        run = create_run(session=session, set_id="7600000000004641")
        step = step_of(session, run.id, "copy")  # type: ignore[arg-type]
        step.status, step.alma_job_id, step.instance_id = StepStatus.RUNNING, "M50173", "1001"
        run.state = RunState.RUNNING
        session.add_all([step, run])
        run_id = run.id
    sent: list[tuple[int, str]] = []
    app = create_app(
        secret=SECRET, engine=engine, send=lambda r, k: sent.append((r, k)), max_body=1024 * 1024
    )
    client = TestClient(app)
    yield client, engine, run_id, sent
    client.close()
    engine.dispose()


def event(instance_id: str = "1001", action: str = "JOB_END") -> bytes:
    body = {
        "id": "ev-1",
        "action": action,
        "institution": {"value": "01TEST_INST"},
        "time": "2026-11-30T10:00:06Z",
        "job_instance": instance_json(instance_id),
    }
    return json.dumps(body).encode()


def post(client: TestClient, body: bytes, signature: str | None = "good") -> int:
    headers = {"Content-Type": "application/json"}
    if signature == "good":
        headers["X-Exl-Signature"] = sign(SECRET, body)
    elif signature is not None:
        headers["X-Exl-Signature"] = signature
    return client.post("/", content=body, headers=headers).status_code


def copy_status(engine, run_id: int) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        step = step_of(session, run_id, "copy")
        return step.status, step.ended_via


def hook_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "handles.webhook"]


def test_the_challenge_is_echoed(world) -> None:  # type: ignore[no-untyped-def]
    client, *_ = world
    answer = client.get("/", params={"challenge": "abc-123"})
    assert answer.status_code == 200 and answer.json() == {"challenge": "abc-123"}
    assert client.get("/webhook", params={"challenge": "x"}).json() == {"challenge": "x"}


def test_a_signed_job_end_ends_the_step_and_drives_it(world, caplog) -> None:  # type: ignore[no-untyped-def]
    client, engine, run_id, sent = world
    caplog.set_level(logging.INFO, "handles.webhook")
    assert post(client, event()) == 200
    assert copy_status(engine, run_id) == (StepStatus.SUCCEEDED, "webhook")
    assert sent == [(run_id, "copy")]
    assert len(hook_lines(caplog)) == 1


BAD = {
    "unsigned": (lambda: event(), None, 401),
    "wrongly signed": (lambda: event(), sign("another-secret", event()), 401),
    "signature of another body": (lambda: event(), sign(SECRET, event("2002")), 401),
    "truncated": (lambda: event()[:-40], "good", 400),
    "non-JSON": (lambda: b"<xml>not json</xml>", "good", 400),
    "JSON list": (lambda: b"[1, 2]", "good", 400),
    "no job_instance": (lambda: json.dumps({"action": "JOB_END"}).encode(), "good", 400),
    "10 MB": (lambda: b"{" + b" " * (10 * 1024 * 1024) + b"}", "good", 413),
    "wrong action": (lambda: event(action="USER_UPDATED"), "good", 202),
    "unknown instance": (lambda: event("999999"), "good", 200),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_one_line_no_change_still_up(world, caplog, case) -> None:  # type: ignore[no-untyped-def]
    client, engine, run_id, sent = world
    make, signature, expected = BAD[case]
    body = make()
    caplog.set_level(logging.INFO, "handles.webhook")
    caplog.clear()
    assert post(client, body, signature) == expected
    lines = hook_lines(caplog)
    assert len(lines) == 1, lines
    assert SECRET not in lines[0] and "01TEST_INST" not in lines[0]
    assert copy_status(engine, run_id) == (StepStatus.RUNNING, None) and sent == []
    # still up, and a good event still works
    assert client.get("/", params={"challenge": "ok"}).json() == {"challenge": "ok"}
    assert post(client, event()) == 200 and sent == [(run_id, "copy")]


def test_a_replayed_event_changes_nothing(world, caplog) -> None:  # type: ignore[no-untyped-def]
    client, engine, run_id, sent = world
    assert post(client, event()) == 200
    with Session(engine) as session:
        ended_at = step_of(session, run_id, "copy").ended_at
    caplog.set_level(logging.INFO, "handles.webhook")
    caplog.clear()  # only the replay's lines
    assert post(client, event()) == 200
    assert len(hook_lines(caplog)) == 1 and sent == [(run_id, "copy")]
    with Session(engine) as session:
        assert step_of(session, run_id, "copy").ended_at == ended_at


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        create_app(secret="", engine=None, send=lambda r, k: None)  # type: ignore[arg-type]
