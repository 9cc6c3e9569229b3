"""The sandbox as one Starlette app on one port.

- Alma under ``/almaws/v1`` (:mod:`sandbox.alma_routes`)
- the Handle proxy ``/api/handles/{handle}`` and target pages (:mod:`sandbox.proxy_routes`)
- the Handle server admin API under ``/handle-server`` (:mod:`sandbox.handle_server`)
- control routes under ``/sandbox`` (:mod:`sandbox.control_routes`)

A background ticker finishes due job instances even when nobody asks (requests also do it lazily).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

from config.settings import SANDBOX_HANDLE_SERVER_AUTH_ID, SANDBOX_HANDLE_SERVER_SECRET
from sandbox.alma_routes import alma_routes
from sandbox.config import SandboxConfig
from sandbox.control_routes import control_routes
from sandbox.handle_server import handle_server_routes
from sandbox.proxy_routes import proxy_routes
from sandbox.state import SandboxState
from sandbox.webhooks import WebhookSender

TICK_SECONDS = 0.1


def create_app(config: SandboxConfig | None = None, **switches: Any) -> Starlette:
    """A fresh sandbox app; ``switches`` override fields of ``config`` (see :class:`SandboxConfig`)."""
    config = SandboxConfig(**(config or SandboxConfig()).as_dict())
    if switches:
        config.update(switches)
    state = SandboxState(config)
    state.on_instance_end = WebhookSender(state).instance_ended  # JOB_END events, when switched on

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def ticker() -> None:
            while True:
                await asyncio.sleep(TICK_SECONDS)
                state.tick()

        task = asyncio.create_task(ticker())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    server_routes = handle_server_routes(
        state.registry,
        auth_id=SANDBOX_HANDLE_SERVER_AUTH_ID,
        secret=SANDBOX_HANDLE_SERVER_SECRET,
        prefix=config.handle_prefix,
    )
    routes = [
        *alma_routes(),
        *proxy_routes(),
        *control_routes(),
        Mount("/handle-server", routes=server_routes),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sandbox = state
    return app


def serve(host: str = "127.0.0.1", port: int = 8780, **switches: Any) -> None:
    """Run the sandbox in the foreground (``handles sandbox``)."""
    import uvicorn

    public_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    switches.setdefault("base_url", f"http://{public_host}:{port}")
    uvicorn.run(create_app(**switches), host=host, port=port, log_level="warning")
