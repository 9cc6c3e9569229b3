"""The sandbox's JOB_END webhook: a signed event for every instance it ends, like Alma's.

When the switch ``webhook_url`` is set, each ended instance is POSTed there as
``{"id", "action": "JOB_END", "institution": {"value"}, "time", "job_instance": {…}}``, the
instance in the very shape ``GET …/instances/{id}`` serves, signed with ``X-Exl-Signature`` =
base64(HMAC-SHA256(``webhook_secret``, body)). A background thread sends them, so ending an
instance never waits for the listener; a failed delivery is counted, not retried (Alma retries
only hours later). Switches: ``webhook_drop`` (send nothing), ``webhook_delay`` (seconds),
``webhook_duplicate`` (twice each), ``webhook_reorder`` (pairs sent later end first; a lone event
goes after one second).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx

from sandbox.jobs import Instance

__all__ = ["INSTITUTION", "WebhookSender", "job_end_event", "signature"]

log = logging.getLogger("handles.sandbox.webhooks")

INSTITUTION = "01GCL_INST"
REORDER_HOLD_SECONDS = 1.0


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def job_end_event(job_instance: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "action": "JOB_END",
        "institution": {"value": INSTITUTION},
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "job_instance": job_instance,
    }


class WebhookSender:
    """Queues and sends the events of one sandbox (``state.on_instance_end``)."""

    def __init__(self, state: Any) -> None:
        self._state = state
        self._queue: queue.Queue[tuple[float, str, str, bytes, bool, Instance]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.sent = self.dropped = self.failed = 0

    def instance_ended(self, inst: Instance) -> None:
        """Called (under the sandbox's lock) as ``inst`` ends: build the event now, send it later."""
        config = self._state.config
        if not config.webhook_url:
            return
        if config.webhook_drop:
            self.dropped += 1
            return
        from sandbox.alma_routes import instance_json  # the GET shape, whatever it becomes

        shim = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(sandbox=self._state)))
        body = json.dumps(job_end_event(instance_json(shim, inst, self._state.clock()))).encode()  # type: ignore[arg-type]
        due = time.monotonic() + config.webhook_delay
        for _ in range(2 if config.webhook_duplicate else 1):
            self._queue.put(
                (due, config.webhook_url, config.webhook_secret, body, config.webhook_reorder, inst)
            )
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        held: tuple[str, str, bytes, Instance] | None = None
        held_at = 0.0
        with httpx.Client(timeout=5.0) as client:
            while True:
                try:
                    due, url, secret, body, reorder, inst = self._queue.get(timeout=0.1)
                except queue.Empty:
                    if held is not None and time.monotonic() - held_at >= REORDER_HOLD_SECONDS:
                        self._post(client, *held)
                        held = None
                    continue
                time.sleep(max(0.0, due - time.monotonic()))
                if not reorder:
                    self._post(client, url, secret, body, inst)
                elif held is None:
                    held, held_at = (url, secret, body, inst), time.monotonic()
                else:
                    self._post(client, url, secret, body, inst)
                    self._post(client, *held)
                    held = None

    def _post(self, client: httpx.Client, url: str, secret: str, body: bytes, inst: Instance) -> None:
        headers = {"Content-Type": "application/json", "X-Exl-Signature": signature(secret, body)}
        try:
            answer = client.post(url, content=body, headers=headers)
            ok = answer.status_code < 300
        except httpx.HTTPError as exc:
            ok, answer = False, exc  # type: ignore[assignment]
        if ok:
            self.sent += 1
            with self._state.lock:
                inst.events_sent.append(self._state.clock())  # the /sandbox/log shows it
        else:
            self.failed += 1
            log.warning("sandbox: JOB_END event to %s not delivered: %s", url, answer)
