"""The Alma sandbox served from the benchmark's own process, behind a counter of every request.

Used by ``bench/pipeline.py``: uvicorn in a thread, and a small ASGI wrapper that counts Alma
requests by kind and by answer (and the rest by area), with the time of each, so the benchmark can
print calls per set and the peak requests in one second. The sandbox itself is unchanged.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

API = "/almaws/v1"


def _kind(method: str, path: str, query: str) -> str:
    """A short name for one Alma request."""
    rest = path[len(API) :]
    if method == "POST" and re.fullmatch(r"/conf/jobs/[^/]+", rest) and "op=run" in query:
        return "op=run"
    if re.fullmatch(r"/conf/jobs/[^/]+/instances/[^/]+/events", rest):
        return "events GET"
    if re.fullmatch(r"/conf/jobs/[^/]+/instances/[^/]+", rest):
        return "instance GET"
    if re.fullmatch(r"/conf/jobs/[^/]+/instances", rest):
        return "instance list"
    if re.fullmatch(r"/conf/sets/[^/]+/members", rest):
        return "set members page"
    if method == "GET" and re.fullmatch(r"/conf/sets/[^/]+", rest):
        return "set GET"
    if rest == "/bibs":
        return "bibs batch"
    if method == "POST" and rest == "/conf/sets":
        return "set create"
    if method == "DELETE" and re.fullmatch(r"/conf/sets/[^/]+", rest):
        return "set DELETE"
    if method == "POST" and re.fullmatch(r"/conf/sets/[^/]+", rest):
        op = re.search(r"op=(\w+)", query)
        return f"set {op.group(1) if op else 'POST'}"
    return f"{method} {rest}"


class CountingApp:
    """ASGI wrapper: counts Alma requests (by kind and by answer) and the rest by area."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.alma: Counter[str] = Counter()
        self.answers: Counter[int] = Counter()
        self.other: Counter[str] = Counter()
        self.times: list[float] = []  # monotonic time of every Alma request

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        query = scope.get("query_string", b"").decode("latin-1")
        status = [0]

        async def send_counted(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        await self.app(scope, receive, send_counted)
        with self.lock:
            if path.startswith(API):
                self.alma[_kind(method, path, query)] += 1
                self.answers[status[0]] += 1
                self.times.append(time.monotonic())
            else:
                self.other[path.split("/")[1] or "/"] += 1

    def snapshot(self) -> tuple[Counter[str], Counter[int], Counter[str], int]:
        with self.lock:
            return Counter(self.alma), Counter(self.answers), Counter(self.other), len(self.times)

    def peak_per_second(self, since: int) -> int:
        """The most Alma requests in any one-second window, from request number ``since`` on."""
        with self.lock:
            times = self.times[since:]
        peak, first = 0, 0
        for last, t in enumerate(times):
            while times[first] <= t - 1.0:
                first += 1
            peak = max(peak, last - first + 1)
        return peak


@contextmanager
def serving_sandbox(**switches: Any) -> Iterator[tuple[str, CountingApp]]:
    """The sandbox on a free port in a thread (as ``sandbox.testing.running_sandbox``), counted."""
    import socket

    import uvicorn

    from sandbox.app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    url = f"http://127.0.0.1:{port}"
    app = CountingApp(create_app(base_url=url, **switches))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="bench-sandbox", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sandbox did not start")
            time.sleep(0.01)
        yield url, app
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# seed 000's mix first (already migrated, conflict, xsi:type that the migration skips), then the rest
