"""The sandbox's Handle server admin API (Handle.Net v9 JSON API), mounted under /handle-server.

Filled in with the Handle server request queue (issue 6); the sandbox app mounts what
:func:`handle_server_routes` returns.
"""

from __future__ import annotations

from typing import Any

from sandbox.registry import HandleRegistry


def handle_server_routes(registry: HandleRegistry, *, auth_id: str, secret: str, prefix: str) -> list[Any]:
    """Starlette routes of the admin API, relative to the mount point (``/api/handles/...``)."""
    return []
