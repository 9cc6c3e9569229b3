"""Run the sandbox for tests: ``with running_sandbox(job_seconds=0.5) as url: …``.

The sandbox is served by uvicorn in a background thread on a free 127.0.0.1 port, with fresh state
each time. Switch it at run time with :func:`configure` / :func:`reset` (plain HTTP, so a test in
another process can do the same with ``POST {url}/sandbox/config``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

__all__ = ["configure", "reset", "running_sandbox"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_sandbox(**config: Any) -> Iterator[str]:
    """Yield the base URL (``http://127.0.0.1:PORT``) of a fresh sandbox configured with ``config``."""
    import uvicorn

    from sandbox.app import create_app

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    config.setdefault("base_url", url)
    app = create_app(**config)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False)
    )
    thread = threading.Thread(target=server.run, name=f"sandbox-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox did not start on port {port}")
            time.sleep(0.01)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def configure(url: str, **switches: Any) -> dict[str, Any]:
    """Change switches of the sandbox at ``url``; returns the whole config."""
    response = httpx.post(f"{url}/sandbox/config", json=switches, timeout=10)
    response.raise_for_status()
    return response.json()


def reset(url: str, **switches: Any) -> dict[str, Any]:
    """Back to the seed and the start-up switches (plus ``switches``)."""
    response = httpx.post(f"{url}/sandbox/reset", json=switches, timeout=10)
    response.raise_for_status()
    return response.json()["config"]
