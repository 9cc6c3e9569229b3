"""sandbox.webhooks: signed JOB_END events in Alma's shape, and the drop/delay/duplicate/reorder switches."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sandbox.config import SandboxConfig
from sandbox.jobs import JOBS_BY_ID, Instance
from sandbox.state import SandboxState
from sandbox.webhooks import WebhookSender, signature
from tests.support import wait_for

SECRET = "sandbox-hook-test"


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[float, dict, str]]]]:
    """A plain HTTP server that keeps (arrival time, JSON body, X-Exl-Signature check) of every POST."""
    got: list[tuple[float, dict, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            ok = "good" if self.headers.get("X-Exl-Signature") == signature(SECRET, body) else "bad"
            got.append((time.monotonic(), json.loads(body), ok))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", got
    server.shutdown()
    server.server_close()


def ended(state: SandboxState, sender: WebhookSender, n: int) -> list[str]:
    job = next(iter(JOBS_BY_ID.values()))
    ids = []
    for i in range(n):
        inst = Instance(
            id=f"760100{i:010d}",
            job=job,
            name=f"test {i}",
            set_id="1",
            parameters=[],
            submitted_by={"value": "exl_api", "desc": "API"},
            via_api=True,
            submit_time=time.time() - 5,
            duration=1.0,
            final_status="COMPLETED_SUCCESS",
            end_time=time.time() - 4,
        )
        state.instances[inst.id] = inst
        sender.instance_ended(inst)
        ids.append(inst.id)
    return ids


def make(url: str, **switches: object) -> tuple[SandboxState, WebhookSender]:
    state = SandboxState(SandboxConfig(webhook_url=url, webhook_secret=SECRET, **switches))  # type: ignore[arg-type]
    return state, WebhookSender(state)


def test_events_are_signed_in_alma_shape(collector) -> None:  # type: ignore[no-untyped-def]
    url, got = collector
    state, sender = make(url)
    ids = ended(state, sender, 2)
    wait_for(lambda: len(got) == 2, timeout=10, what="two events")
    assert [g[2] for g in got] == ["good", "good"]
    event = got[0][1]
    assert set(event) == {"id", "action", "institution", "time", "job_instance"}
    assert event["action"] == "JOB_END" and event["institution"]["value"]
    instance = event["job_instance"]
    assert [g[1]["job_instance"]["id"] for g in got] == ids
    # each delivery is noted on its instance (the /sandbox/log shows it)
    wait_for(lambda: sender.sent == 2, timeout=10, what="both deliveries noted")
    assert [len(state.instances[x].events_sent) for x in ids] == [1, 1]
    assert instance["status"]["value"] == "COMPLETED_SUCCESS" and instance["job_info"]["id"]
    assert "/instances/" in instance["link"]


def test_drop_sends_nothing(collector) -> None:  # type: ignore[no-untyped-def]
    url, got = collector
    state, sender = make(url, webhook_drop=True)
    ended(state, sender, 2)
    assert sender.dropped == 2 and sender._thread is None and got == []


def test_delay_duplicate_reorder(collector) -> None:  # type: ignore[no-untyped-def]
    url, got = collector
    state, sender = make(url, webhook_delay=0.5)
    start = time.monotonic()
    ended(state, sender, 1)
    wait_for(lambda: len(got) == 1, timeout=10, what="the delayed event")
    assert got[0][0] - start >= 0.5
    got.clear()
    state.config.update({"webhook_delay": 0, "webhook_duplicate": True})
    ids = ended(state, sender, 1)
    wait_for(lambda: len(got) == 2, timeout=10, what="the event twice")
    assert [g[1]["job_instance"]["id"] for g in got] == ids * 2
    got.clear()
    state.config.update({"webhook_duplicate": False, "webhook_reorder": True})
    ids = ended(state, sender, 2)
    wait_for(lambda: len(got) == 2, timeout=10, what="the pair")
    assert [g[1]["job_instance"]["id"] for g in got] == ids[::-1]


def test_an_unreachable_listener_is_counted_not_retried() -> None:
    state, sender = make("http://127.0.0.1:9/")
    ended(state, sender, 1)
    wait_for(lambda: sender.failed == 1, timeout=10, what="the failed delivery")
    assert sender.sent == 0


def test_the_log_counts_instance_gets_while_running_and_after_the_end() -> None:
    from starlette.testclient import TestClient

    from sandbox.app import create_app

    with TestClient(create_app(job_seconds=0.3)) as client:
        key = {"Authorization": "apikey sandbox-key", "Accept": "application/json"}
        body = {"parameter": [{"name": {"value": "set_id"}, "value": "7600000000004641"}]}
        posted = client.post("/almaws/v1/conf/jobs/M48401", params={"op": "run"}, json=body, headers=key)
        link = posted.json()["additional_info"]["link"]
        path = "/almaws/v1" + link.split("/almaws/v1", 1)[1]
        assert client.get(path, headers=key).json()["status"]["value"] != "COMPLETED_SUCCESS"

        def ended() -> bool:
            return client.get("/sandbox/log").json()[0]["end_time"] is not None

        wait_for(ended, timeout=10, what="the instance's end")
        for _ in range(2):
            assert client.get(path, headers=key).json()["status"]["value"] == "COMPLETED_SUCCESS"
        [entry] = client.get("/sandbox/log").json()
    assert (entry["gets_running"], entry["gets_ended"], entry["events_sent"]) == (1, 2, [])
    assert entry["end_time"] > entry["time"]
