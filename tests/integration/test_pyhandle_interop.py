"""EUDAT's pyhandle, written against real HANDLE.NET servers, drives the sandbox's Handle server.

Over real HTTP against ``sandbox.testing.running_sandbox()``. pyhandle does not insist on HTTPS:
its REST client takes a plain ``http://`` base URL (``handle_server_url``) and only passes
``HTTPS_verify`` on to ``requests``, so no TLS is set up here. The one kindness this relies on is
the sandbox's own (documented in ``sandbox/handle_server_auth.py``): it accepts Basic credentials
over plain http, where a real server would ignore them and answer 403.

pyhandle checks its identity handle first (``GET 0.NA/11084``) and checks that every answer
echoes the handle as it was asked; both are exercised by the calls below.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

pyhandle_client = pytest.importorskip("pyhandle.client.resthandleclient")
from pyhandle.handleexceptions import (  # noqa: E402
    HandleAlreadyExistsException,
    HandleNotFoundException,
)
from pyhandle.handlesystemconnector import HandleSystemConnector  # noqa: E402

from config.settings import SANDBOX_HANDLE_SERVER_AUTH_ID, SANDBOX_HANDLE_SERVER_SECRET  # noqa: E402
from sandbox.testing import running_sandbox  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture
def sandbox():
    with running_sandbox() as url:
        yield url


def resolved(sandbox: str, handle: str) -> httpx.Response:
    """The sandbox's public proxy (``/api/handles``), which reads what the Handle server wrote."""
    return httpx.get(f"{sandbox}/api/handles/{handle}", timeout=10)


def server_log(sandbox: str, handle: str) -> list[tuple[str, int]]:
    entries = httpx.get(f"{sandbox}/handle-server/_log", timeout=10).json()
    return [(e["method"], e["status"]) for e in entries if e["handle"].upper() == handle.upper()]


def test_pyhandle_creates_is_refused_an_overwrite_modifies_and_deletes(sandbox):
    base = f"{sandbox}/handle-server"
    client = pyhandle_client.RESTHandleClient.instantiate_with_username_and_password(
        base, SANDBOX_HANDLE_SERVER_AUTH_ID, SANDBOX_HANDLE_SERVER_SECRET
    )
    handle = f"11084/pyhandle-{uuid.uuid4().hex[:8]}"

    # create
    assert client.register_handle(handle, "https://t.example/first") == handle
    record = resolved(sandbox, handle).json()
    assert [v["data"]["value"] for v in record["values"] if v["type"] == "URL"] == ["https://t.example/first"]
    admin = next(v for v in record["values"] if v["type"] == "HS_ADMIN")["data"]["value"]
    assert admin == {"handle": "0.NA/11084", "index": 200, "permissions": "011111110011"}

    # overwrite refused: pyhandle's own check (the echo of an upper-cased handle must match it) ...
    with pytest.raises(HandleAlreadyExistsException):
        client.register_handle(handle.upper(), "https://t.example/other")
    # ... and the server's, through pyhandle's connector (PUT ?overwrite=false)
    connector = HandleSystemConnector(
        handle_server_url=base,
        username=SANDBOX_HANDLE_SERVER_AUTH_ID,
        password=SANDBOX_HANDLE_SERVER_SECRET,
    )
    value = {"index": 1, "type": "URL", "data": "https://t.example/other"}
    response, _ = connector.send_handle_put_request(handle=handle, list_of_entries=[value], overwrite=False)
    assert response.status_code == 409 and response.json() == {
        "responseCode": 101,
        "handle": handle,
        "message": "Handle already exists",
    }

    # modify one value (PUT ?index=1&overwrite=true); HS_ADMIN stays
    assert client.modify_handle_value(handle, URL="https://t.example/second") == handle
    assert client.get_value_from_handle(handle, "URL") == "https://t.example/second"
    after = resolved(sandbox, handle).json()["values"]
    assert {v["type"] for v in after} == {"URL", "HS_ADMIN"}

    # delete, then it is gone for pyhandle and for the proxy
    assert client.delete_handle(handle) == handle
    assert client.retrieve_handle_record_json(handle) is None
    assert resolved(sandbox, handle).status_code == 404
    with pytest.raises(HandleNotFoundException):
        client.delete_handle(handle)

    writes = [entry for entry in server_log(sandbox, handle) if entry[0] in ("PUT", "DELETE")]
    assert writes == [("PUT", 201), ("PUT", 409), ("PUT", 200), ("DELETE", 200), ("DELETE", 404)]
