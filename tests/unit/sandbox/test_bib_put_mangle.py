"""The sandbox's ``bib_put_mangle`` switch: a bib PUT stored with ``ns0:`` prefixes, N times or always."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from sandbox.app import create_app
from sandbox.config import SandboxConfig

MMS = "991011507142104641"
HEADERS = {
    "Authorization": "apikey sandbox-key",
    "Accept": "application/xml",
    "Content-Type": "application/xml",
}


def put_same_bib(client: TestClient) -> str:
    bib = client.get(f"/almaws/v1/bibs/{MMS}", headers=HEADERS).text
    assert "ns0:" not in bib
    answer = client.put(f"/almaws/v1/bibs/{MMS}", content=bib.encode(), headers=HEADERS)
    assert answer.status_code == 200, answer.text
    return client.get(f"/almaws/v1/bibs/{MMS}", headers=HEADERS).text


def test_the_next_put_is_stored_with_ns0_prefixes_then_the_sandbox_behaves() -> None:
    app = create_app(bib_put_mangle="ns0", bib_put_mangle_times=1)
    with TestClient(app) as client:
        bib = client.get(f"/almaws/v1/bibs/{MMS}", headers=HEADERS).text
        client.put(f"/almaws/v1/bibs/{MMS}", content=bib.encode(), headers=HEADERS)
        stored = client.get(f"/almaws/v1/bibs/{MMS}", headers=HEADERS).text
        assert "<ns0:record" in stored
        config = client.get("/sandbox/config").json()
        assert (config["bib_put_mangle"], config["bib_put_mangle_times"]) == ("", 0)


def test_without_the_switch_a_put_is_stored_as_sent() -> None:
    with TestClient(create_app()) as client:
        assert "<record" in put_same_bib(client)


def test_the_switch_takes_only_known_values() -> None:
    with pytest.raises(ValueError, match="bib_put_mangle"):
        SandboxConfig().update({"bib_put_mangle": "ns9"})
