"""Fixtures for the Handle server tests: the sandbox's admin API in-process, on a fresh registry."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from sandbox.handle_server import handle_server_routes
from sandbox.registry import HandleRegistry

AUTH_ID = "300:0.NA/11084"
SECRET = "sandbox-handle-secret"
MOUNT = "/handle-server"


@pytest.fixture
def registry() -> HandleRegistry:
    return HandleRegistry()


@pytest.fixture
def http(registry: HandleRegistry) -> TestClient:
    routes = handle_server_routes(registry, auth_id=AUTH_ID, secret=SECRET, prefix="11084")
    return TestClient(Starlette(routes=[Mount(MOUNT, routes=routes)]))
