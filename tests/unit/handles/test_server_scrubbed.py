"""Issue 13 item 8: what a Handle server answers is scrubbed before it is kept or printed."""

from __future__ import annotations

import httpx
import pytest

from handles.server import HandleServerClient, HandleServerError, HandleServerUnavailable


def test_a_handle_server_message_is_one_safe_line() -> None:
    message = "denied \x1b[31mfor\x1b[0m\nForged: Authorization: Basic dXNlcjpzZWNyZXQ= " + "x" * 2000

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"responseCode": 2, "message": message})

    client = HandleServerClient(
        "https://hs.example:8000",
        auth_id="300:0.NA/11084",
        secret="s3cret-value",
        transport=httpx.MockTransport(answer),
    )
    with pytest.raises(HandleServerError) as info:
        client.get("11084/99")
    text = str(info.value)
    assert "\x1b" not in text and "\n" not in text
    assert "dXNlcjpzZWNyZXQ=" not in text
    assert len(text) < 400


def test_an_unreachable_server_url_is_shown_without_its_password() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    client = HandleServerClient(
        "https://admin:urlpass99@hs.example:8000",
        auth_id="300:0.NA/11084",
        secret="s3cret-value",
        transport=httpx.MockTransport(refuse),
    )
    with pytest.raises(HandleServerUnavailable) as info:
        client.get("11084/99")
    assert "urlpass99" not in str(info.value) and "urlpass99" not in repr(client)
