"""The handle request service: validation, CAS status transitions, retries, ordering, idempotency."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from starlette.testclient import TestClient

from config.settings import load_settings
from handles import requests as svc
from handles.server import HandleServerClient
from store.db import session_scope
from store.models import HandleRequest, utcnow
from tests.unit.handles.conftest import AUTH_ID, SECRET


class Counting:
    """Forwards to the sandbox app and counts the requests sent."""

    def __init__(self, http: TestClient) -> None:
        self.http, self.sent = http, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        r = self.http.request(
            request.method,
            request.url.raw_path.decode(),
            headers=dict(request.headers),
            content=request.content,
        )
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)


@pytest.fixture
def counter(http) -> Counting:
    return Counting(http)


def make_client(counter: Counting, secret: str = SECRET) -> HandleServerClient:
    return HandleServerClient(
        "http://testserver/handle-server",
        auth_id=AUTH_ID,
        secret=secret,
        transport=httpx.MockTransport(counter),
    )


@pytest.fixture
def client(counter) -> HandleServerClient:
    return make_client(counter)


@pytest.fixture
def settings():
    return load_settings()


def queue(engine, settings, op, handle, url=None) -> int:
    with session_scope(engine) as session:
        return svc.queue_request(session=session, op=op, handle=handle, url=url, settings=settings).id


def run(engine, client, settings, request_id, **kw) -> HandleRequest:
    return svc.run_request(engine=engine, request_id=request_id, client=client, settings=settings, **kw)


def test_create_runs_once_and_records_the_answer(engine, client, settings, registry):
    rid = queue(engine, settings, "create", "hdl:11084/99", "https://t.example/99")
    row = run(engine, client, settings, rid)
    assert (row.status, row.attempts, row.handle, row.error) == ("success", 1, "11084/99", None)
    assert '"responseCode": 1' in row.response
    assert registry.get("11084/99").url() == "https://t.example/99"
    again = run(engine, client, settings, rid)  # a duplicate message changes nothing
    assert (again.status, again.attempts) == ("success", 1)


@pytest.mark.parametrize(
    ("op", "handle", "url", "reason"),
    [
        ("create", "99", "https://t.example/", "no prefix/suffix"),
        ("create", "11084/a\x01b", "https://t.example/", "control characters"),
        ("create", "11084/a b", "https://t.example/", "white space"),
        ("create", "10107/1", "https://t.example/", "not under prefix 11084"),
        ("create", "11084/1", "ftp://t.example/", "http:// or https://"),
        ("update", "11084/1", "javascript:alert(1)", "http:// or https://"),
        ("update", "11084/1", None, "needs a URL"),
        ("delete", "11084/1", "https://t.example/", "takes no URL"),
        ("rename", "11084/1", "https://t.example/", "unknown op"),
    ],
)
def test_bad_input_is_stored_as_error_and_never_sent(
    engine, client, settings, counter, op, handle, url, reason
):
    rid = queue(engine, settings, op, handle, url)
    row = run(engine, client, settings, rid)
    assert row.status == "error" and reason in row.error and row.attempts == 0
    assert counter.sent == []


def test_create_fails_when_the_handle_exists_elsewhere_but_is_idempotent_for_the_same_url(
    engine, client, settings, registry
):
    run(engine, client, settings, queue(engine, settings, "create", "11084/5", "https://t.example/5"))
    same = run(engine, client, settings, queue(engine, settings, "create", "11084/5", "https://t.example/5"))
    assert same.status == "success" and "nothing was changed" in same.response
    other = run(engine, client, settings, queue(engine, settings, "create", "11084/5", "https://x.example/"))
    assert other.status == "error" and "already exists" in other.error
    assert registry.get("11084/5").url() == "https://t.example/5"


def test_update_and_delete_fail_when_missing_or_deleted_and_the_record_is_kept(
    engine, client, settings, registry
):
    missing = run(
        engine, client, settings, queue(engine, settings, "update", "11084/m", "https://t.example/")
    )
    assert missing.status == "error" and "missing or deleted" in missing.error
    run(engine, client, settings, queue(engine, settings, "create", "11084/d", "https://t.example/d"))
    deleted = run(engine, client, settings, queue(engine, settings, "delete", "11084/d"))
    assert deleted.status == "success" and "https://t.example/d" in deleted.response
    assert registry.get_any("11084/d").deleted and registry.get("11084/d") is None
    for op, url in (("delete", None), ("update", "https://t.example/z")):
        row = run(engine, client, settings, queue(engine, settings, op, "11084/d", url))
        assert row.status == "error" and "missing or deleted" in row.error
    with session_scope(engine) as session:
        assert len(svc.list_requests(session)) == 5  # every request row is kept


def test_requests_differing_only_in_case_name_the_same_handle(engine, client, settings, registry):
    run(engine, client, settings, queue(engine, settings, "create", "11084/AbC", "https://t.example/1"))
    dup = run(engine, client, settings, queue(engine, settings, "create", "11084/abc", "https://t.example/2"))
    assert dup.status == "error"
    upd = run(engine, client, settings, queue(engine, settings, "update", "11084/ABC", "https://t.example/2"))
    assert upd.status == "success"
    assert registry.get("11084/abc").url() == "https://t.example/2"
    assert len(registry.list("11084")) == 1


def test_a_later_request_waits_for_an_earlier_one_on_the_same_handle(engine, client, settings, registry):
    first = queue(engine, settings, "create", "11084/o", "https://t.example/1")
    second = queue(engine, settings, "update", "11084/O", "https://t.example/2")
    with pytest.raises(svc.RequestDeferred):
        run(engine, client, settings, second)
    with session_scope(engine) as session:
        assert svc.get_request(session, second).attempts == 0
    assert run(engine, client, settings, first).status == "success"
    assert run(engine, client, settings, second).status == "success"
    assert registry.get("11084/o").url() == "https://t.example/2"


def test_transient_failure_is_retried_then_succeeds(engine, client, settings, http, registry):
    rid = queue(engine, settings, "create", "11084/t", "https://t.example/t")
    http.post("/handle-server/_faults", json={"fail_next": 1, "fail_status": 500})
    with pytest.raises(svc.RequestDeferred):
        run(engine, client, settings, rid)
    with session_scope(engine) as session:
        row = svc.get_request(session, rid)
    assert (row.status, row.attempts) == ("queued", 1) and "HTTP 500" in row.error
    row = run(engine, client, settings, rid)
    assert (row.status, row.attempts) == ("success", 2)


def test_gives_up_after_max_attempts(engine, client, settings, http):
    rid = queue(engine, settings, "create", "11084/g", "https://t.example/g")
    http.post("/handle-server/_faults", json={"fail_next": 5, "fail_status": 503})
    with pytest.raises(svc.RequestDeferred):
        run(engine, client, settings, rid, max_attempts=2)
    row = run(engine, client, settings, rid, max_attempts=2)
    assert row.status == "error" and "gave up after 2 attempts" in row.error


def test_wrong_password_is_an_error_without_the_secret(engine, counter, settings, registry):
    rid = queue(engine, settings, "create", "11084/w", "https://t.example/w")
    row = run(engine, make_client(counter, secret="wrong-password-xyz"), settings, rid)
    assert row.status == "error" and "HTTP 401" in row.error and "AUTH_ID" in row.error
    assert "wrong-password-xyz" not in row.error
    assert registry.get_any("11084/w") is None


def test_a_stalled_request_is_requeued_and_completes_once(engine, client, settings, registry):
    rid = queue(engine, settings, "create", "11084/k", "https://t.example/k")
    # a worker claimed it, sent the create (it landed), then died before recording the answer
    with session_scope(engine) as session:
        row = svc.get_request(session, rid)
    assert svc._claim(engine, row) == 1
    registry.set_url("11084/k", "https://t.example/k", source="server", prefix="11084")
    assert svc.dispatch_requests(engine=engine, stale_after=60) == []  # not stale yet
    with session_scope(engine) as session:
        svc.get_request(session, rid).updated_at = utcnow() - timedelta(minutes=5)
    assert svc.dispatch_requests(engine=engine, stale_after=60) == [rid]
    row = run(engine, client, settings, rid)
    assert (row.status, row.attempts) == ("success", 2) and "nothing was changed" in row.response
    # the dead worker's late answer for attempt 1 cannot overwrite attempt 2's result
    svc._finish(engine, rid, 1, status="error", response=None, error="late")
    with session_scope(engine) as session:
        assert svc.get_request(session, rid).status == "success"


def test_a_retried_delete_whose_first_attempt_landed_succeeds(engine, client, settings, registry):
    run(engine, client, settings, queue(engine, settings, "create", "11084/r", "https://t.example/r"))
    rid = queue(engine, settings, "delete", "11084/r")
    with session_scope(engine) as session:
        row = svc.get_request(session, rid)
    svc._claim(engine, row)
    svc._set(engine, rid, 1, response=svc._FOUND_NOTE + "https://t.example/r")
    registry.delete("11084/r")  # the DELETE landed; its answer was lost with the worker
    with session_scope(engine) as session:
        svc.get_request(session, rid).updated_at = utcnow() - timedelta(minutes=5)
    svc.dispatch_requests(engine=engine, stale_after=60)
    row = run(engine, client, settings, rid)
    assert row.status == "success" and "earlier attempt" in row.response


def test_unknown_request_id(engine, client, settings):
    with pytest.raises(svc.UnknownRequest):
        run(engine, client, settings, 424242)
