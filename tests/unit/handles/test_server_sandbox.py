"""The sandbox's Handle server admin API, driven by the real client through Starlette's test client."""

from __future__ import annotations

import httpx
import pytest
from starlette.testclient import TestClient

from handles.server import (
    HandleAuthError,
    HandleExists,
    HandleNotFound,
    HandleRequestInvalid,
    HandleServerClient,
    HandleServerUnavailable,
)
from tests.unit.handles.conftest import AUTH_ID, SECRET


def client_for(http: TestClient, secret: str = SECRET) -> HandleServerClient:
    def forward(request: httpx.Request) -> httpx.Response:
        r = http.request(
            request.method,
            request.url.raw_path.decode(),
            headers=dict(request.headers),
            content=request.content,
        )
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)

    return HandleServerClient(
        "http://testserver/handle-server",
        auth_id=AUTH_ID,
        secret=secret,
        transport=httpx.MockTransport(forward),
    )


def test_create_then_409_on_second_create(http, registry):
    client = client_for(http)
    assert client.create("11084/99", "https://t.example/99")["http_status"] == 201
    assert registry.get("11084/99").url() == "https://t.example/99"
    with pytest.raises(HandleExists) as info:
        client.create("11084/99", "https://other.example/")
    assert (info.value.status_code, info.value.response_code) == (409, 101)
    assert registry.get("11084/99").url() == "https://t.example/99"


def test_handles_are_ascii_case_insensitive(http, registry):
    client = client_for(http)
    client.create("11084/AbC", "https://t.example/abc")
    with pytest.raises(HandleExists):
        client.create("11084/abc", "https://t.example/other")
    assert client.get("11084/ABC").url == "https://t.example/abc"


def test_update_keeps_hs_admin_and_404s_when_missing(http, registry):
    client = client_for(http)
    client.create("11084/5", "https://t.example/old")
    client.update("11084/5", "https://t.example/new")
    record = client.get("11084/5")
    assert record.url == "https://t.example/new"
    assert record.admin["data"]["value"]["handle"] == "0.NA/11084"
    with pytest.raises(HandleNotFound) as info:
        client.update("11084/missing", "https://t.example/x")
    assert info.value.response_code == 100


def test_delete_then_update_and_delete_fail_but_the_record_is_kept(http, registry):
    client = client_for(http)
    client.create("11084/7", "https://t.example/7")
    client.delete("11084/7")
    for call in (
        lambda: client.delete("11084/7"),
        lambda: client.update("11084/7", "https://t.example/8"),
        lambda: client.get("11084/7"),
    ):
        with pytest.raises(HandleNotFound):
            call()
    assert registry.get_any("11084/7").deleted
    client.create("11084/7", "https://t.example/again")  # a deleted handle can be created again
    assert registry.get("11084/7").url() == "https://t.example/again"


def test_wrong_secret_is_refused_and_nothing_written(http, registry):
    with pytest.raises(HandleAuthError) as info:
        client_for(http, secret="wrong").create("11084/9", "https://t.example/9")
    assert (info.value.status_code, info.value.response_code) == (401, None)
    assert "Identity not verified" in str(info.value) and "wrong" not in str(info.value)
    assert registry.get_any("11084/9") is None


def test_unauthenticated_write_gets_401_rc_402_with_the_challenge(http, registry):
    value = {"index": 1, "type": "URL", "data": {"format": "string", "value": "https://x/"}}
    r = http.put("/handle-server/api/handles/11084/9", json={"values": [value]})
    assert r.status_code == 401 and r.json() == {
        "responseCode": 402,
        "handle": "11084/9",
        "message": "Authentication needed",
    }
    challenges = r.headers.get_list("www-authenticate")
    assert challenges[0] == 'Basic realm="handle"'
    assert challenges[1].startswith('Handle sessionId="') and ', nonce="' in challenges[1]
    assert registry.get_any("11084/9") is None


def test_unencoded_username_is_refused_by_the_filter_with_an_empty_401(http, registry):
    r = http.put(
        "/handle-server/api/handles/11084/9",
        auth=(AUTH_ID, SECRET),
        json={"values": [{"index": 1, "type": "URL", "data": {"format": "string", "value": "x"}}]},
    )
    assert r.status_code == 401 and r.content == b""
    assert 'error="Identity not verified"' in r.headers.get_list("www-authenticate")[1]
    assert registry.get_any("11084/9") is None


def test_bad_handles_get_400_rc_102_and_foreign_prefix_rc_301(http):
    client = client_for(http)
    with pytest.raises(HandleRequestInvalid) as info:
        client.create("nosuffix", "https://t.example/")
    assert info.value.response_code == 102
    with pytest.raises(HandleRequestInvalid) as info:
        client.create("99999/1", "https://t.example/")
    assert info.value.response_code == 301


def test_put_rejects_duplicate_indexes_and_non_json(http):
    auth = ("300%3A0.NA/11084", SECRET)
    value = {"index": 1, "type": "URL", "data": {"format": "string", "value": "https://x/"}}
    r = http.put("/handle-server/api/handles/11084/d", auth=auth, json=[value, value])
    assert r.status_code == 409 and r.json()["responseCode"] == 201
    r = http.put(
        "/handle-server/api/handles/11084/d", auth=auth, content=b"x", headers={"content-type": "text/plain"}
    )
    assert r.status_code == 400


def test_overwrite_without_hs_admin_drops_it_as_the_real_server_does(http, registry):
    auth = ("300%3A0.NA/11084", SECRET)
    value = {"index": 1, "type": "URL", "data": {"format": "string", "value": "https://x/"}}
    assert http.put("/handle-server/api/handles/11084/o", auth=auth, json=[value]).status_code == 201
    assert any(v["type"] == "HS_ADMIN" for v in registry.get("11084/o").values)  # added on create
    assert http.put("/handle-server/api/handles/11084/o", auth=auth, json=[value]).status_code == 200
    assert not any(v["type"] == "HS_ADMIN" for v in registry.get("11084/o").values)


def test_fault_switch_fails_the_next_writes_then_recovers(http, registry):
    http.post("/handle-server/_faults", json={"fail_next": 1, "fail_status": 503})
    client = client_for(http)
    with pytest.raises(HandleServerUnavailable):
        client.create("11084/f", "https://t.example/f")
    client.create("11084/f", "https://t.example/f")
    assert [e["status"] for e in http.get("/handle-server/_log").json()] == [503, 201]
