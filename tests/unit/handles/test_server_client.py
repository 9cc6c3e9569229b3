"""The Handle server admin client: requests it sends, and how answers map to typed errors."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from config.settings import load_settings
from handles.server import (
    HandleAuthError,
    HandleExists,
    HandleNotFound,
    HandleRequestInvalid,
    HandleServerClient,
    HandleServerUnavailable,
    basic_username,
)

SECRET = "s3cret-value"
RECORD = {
    "responseCode": 1,
    "handle": "11084/99",
    "values": [
        {
            "index": 100,
            "type": "HS_ADMIN",
            "data": {
                "format": "admin",
                "value": {"handle": "0.NA/11084", "index": 200, "permissions": "011111111111"},
            },
        },
        {"index": 1, "type": "URL", "data": {"format": "string", "value": "https://old.example/99"}},
    ],
}


def make(handler, **kwargs) -> HandleServerClient:
    return HandleServerClient(
        "https://hs.example:8000",
        auth_id="300:0.NA/11084",
        secret=SECRET,
        transport=httpx.MockTransport(handler),
        **kwargs,
    )


def test_username_is_percent_encoded():
    assert basic_username("300:0.NA/11084") == "300%3A0.NA/11084"
    assert basic_username("300:0.NA/a%b") == "300%3A0.NA/a%25b"


def test_create_puts_url_and_hs_admin_without_overwrite():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"responseCode": 1, "handle": "11084/99"})

    with make(handler) as client:
        body = client.create("11084/99", "https://t.example/99")
    request = seen[0]
    assert request.method == "PUT"
    assert request.url.path == "/api/handles/11084/99"
    assert request.url.params["overwrite"] == "false"
    user, _, password = base64.b64decode(request.headers["authorization"].split()[1]).decode().partition(":")
    assert (user, password) == ("300%3A0.NA/11084", SECRET)
    values = json.loads(request.content)["values"]
    assert {v["type"] for v in values} == {"URL", "HS_ADMIN"}
    assert next(v for v in values if v["type"] == "URL")["data"]["value"] == "https://t.example/99"
    assert body["http_status"] == 201


def test_update_replaces_only_the_url_value_keeping_hs_admin():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "GET":
            return httpx.Response(200, json=RECORD)
        return httpx.Response(200, json={"responseCode": 1, "handle": "11084/99"})

    with make(handler) as client:
        body = client.update("11084/99", "https://new.example/99")
    put = seen[-1]
    assert put.method == "PUT" and put.url.params["index"] == "1"
    assert json.loads(put.content)["values"] == [
        {"index": 1, "type": "URL", "data": {"format": "string", "value": "https://new.example/99"}}
    ]
    assert body["previous_url"] == "https://old.example/99"


def test_special_characters_in_the_suffix_are_encoded():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=RECORD)

    with make(handler) as client:
        client.get("11084/a?b#c d")
    assert seen[0].url.raw_path == b"/api/handles/11084/a%3Fb%23c%20d"


@pytest.mark.parametrize(
    ("status", "rc", "kind"),
    [
        (409, 101, HandleExists),
        (404, 100, HandleNotFound),
        (401, 402, HandleAuthError),
        (403, 403, HandleAuthError),
        (400, 102, HandleRequestInvalid),
        (500, 2, HandleServerUnavailable),
        (503, 3, HandleServerUnavailable),
        (501, 5, HandleServerUnavailable),  # every 5xx: worth another try later
    ],
)
def test_response_codes_map_to_typed_errors(status, rc, kind):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"responseCode": rc, "message": "nope"})

    with make(handler) as client, pytest.raises(kind) as info:
        client.delete("11084/99")
    assert info.value.status_code == status and info.value.response_code == rc
    assert type(info.value) is kind
    assert SECRET not in str(info.value)


def test_transport_failure_is_transient_and_secret_free():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with make(handler) as client, pytest.raises(HandleServerUnavailable) as info:
        client.create("11084/99", "https://t.example/99")
    assert info.value.transient
    assert SECRET not in str(info.value) and SECRET not in repr(client)


def test_from_settings_uses_the_configured_identity(monkeypatch):
    monkeypatch.setenv("HANDLE_SERVER_URL", "https://hs.example:8000")
    monkeypatch.setenv("HANDLE_SERVER_SECRET", SECRET)
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=RECORD)

    client = HandleServerClient.from_settings(load_settings(), transport=httpx.MockTransport(handler))
    assert client.get("11084/99").url == "https://old.example/99"
    assert str(seen[0].url).startswith("https://hs.example:8000/api/handles/")
    assert SECRET not in repr(client)


def test_a_client_needs_a_secret_or_a_certificate():
    with pytest.raises(ValueError):
        HandleServerClient("https://hs.example", auth_id="300:0.NA/11084")
