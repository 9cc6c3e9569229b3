"""Shared fixtures: real Redis, real PostgreSQL (and SQLite), the sandbox over real HTTP.

Real services are required under CI (``CI=true``): a missing one fails the test there and only
skips it on a developer's machine.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

from config.settings import get_settings

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), 0.5):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if not _port_open(host, port):
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not reachable at {host}:{port}, and CI requires it")
        pytest.skip(f"{name} not reachable at {host}:{port}")


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[None]:
    """Every test gets its own SQLite database and fresh cached settings/resources."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'handles.db'}")
    # the sandbox named, as an operator would: the "using the built-in sandbox" notice is for hosts
    # that lost their settings (tests/integration/test_cli_runs.py checks it with a bare environment)
    monkeypatch.setenv("ALMA_API_BASE_URL", "http://127.0.0.1:8780")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    from workers import resources

    resources.reset()
    yield
    resources.reset()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    from sqlalchemy import create_engine, text

    name = f"handles_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """Persistence tests run on both SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'param.db'}"
    url = request.getfixturevalue("pg_url")
    # each test gets empty tables
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    eng.dispose()
    return url


@pytest.fixture
def engine(db_url: str):  # type: ignore[no-untyped-def]
    from store.db import make_engine, upgrade_schema

    eng = make_engine(db_url)
    upgrade_schema(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A real Redis database, emptied before and after the test."""
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    client.flushdb()
    yield REDIS_TEST_URL
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    """The built-in sandbox, served over real HTTP on a free port for the whole session."""
    from sandbox.testing import running_sandbox

    with running_sandbox() as url:
        yield url
