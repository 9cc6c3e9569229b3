"""Shared fixtures: real Redis, real PostgreSQL (and SQLite), the sandbox over real HTTP.

Real services are required under CI (``CI=true``): a missing one fails the test there and only
skips it on a developer's machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import get_settings

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _redis_test_url() -> str:
    """``TEST_REDIS_URL`` (database 13 unless set); each pytest-xdist worker takes the next database
    up (gw0 13, gw1 14, ...), so workers running side by side never empty each other's queues."""
    base = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return base
    prefix, _, db = base.rpartition("/")
    return f"{prefix}/{(int(db or 0) + int(worker[2:])) % 16}"


REDIS_TEST_URL = _redis_test_url()


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


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file upgraded to head by Alembic once per session; ``engine`` tests get a copy."""
    from store.db import make_engine, upgrade_schema

    path = tmp_path_factory.mktemp("template") / "head.db"
    eng = make_engine(f"sqlite:///{path}")
    upgrade_schema(eng)
    eng.dispose()  # the last connection checkpoints the WAL into the file
    return path


_PG_FINGERPRINT = """
    SELECT 'c', table_name, column_name || ' ' || data_type || ' ' || is_nullable
           || ' ' || coalesce(column_default, '')
      FROM information_schema.columns WHERE table_schema = 'public'
    UNION ALL SELECT 'i', tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL SELECT 's', sequence_name, '' FROM information_schema.sequences
     WHERE sequence_schema = 'public'
    UNION ALL SELECT 'v', 'alembic_version', version_num FROM alembic_version
    ORDER BY 1, 2, 3
"""


def _pg_fingerprint(conn) -> tuple | None:  # type: ignore[no-untyped-def]
    """Tables, columns, indexes, sequences and Alembic's revision; None without alembic_version."""
    from sqlalchemy import inspect, text

    if "alembic_version" not in inspect(conn).get_table_names():
        return None
    return tuple(tuple(row) for row in conn.execute(text(_PG_FINGERPRINT)))


_pg_head: dict[str, tuple] = {}  # pg_url -> fingerprint right after a fresh upgrade to head


def _pg_upgraded_and_empty(url: str) -> None:
    """Leave ``url`` exactly like a fresh database upgraded to head.

    Alembic runs once per session on a fresh schema; later tests get that schema back with every
    row deleted (children first) and every sequence restarted, which is what a fresh upgrade holds.
    DELETE, not TRUNCATE: on tables this small TRUNCATE costs as much as a new upgrade. Should a
    test have changed the schema itself (dropped it, upgraded on its own, altered a table), the
    fingerprint differs and the schema is dropped and upgraded anew.
    """
    from sqlalchemy import create_engine, inspect, text
    from sqlmodel import SQLModel

    import store.models  # noqa: F401 - registers the tables on SQLModel.metadata
    from store.db import upgrade_schema

    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            tables = list(reversed(SQLModel.metadata.sorted_tables))  # children before parents
            same = (
                url in _pg_head
                and _pg_fingerprint(conn) == _pg_head[url]
                and {t.name for t in tables} == set(inspect(conn).get_table_names()) - {"alembic_version"}
            )
            if same:
                for table in tables:
                    conn.execute(table.delete())
                sequences = [row[1] for row in _pg_head[url] if row[0] == "s"]
                for sequence in sequences:
                    conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
            else:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        if not same:
            upgrade_schema(eng)
            with eng.connect() as conn:
                _pg_head[url] = _pg_fingerprint(conn)  # type: ignore[assignment]
    finally:
        eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """Persistence tests run on both SQLite and PostgreSQL.

    Alone, an empty database. For a test that also takes ``engine``, a database already at head
    that holds no rows (a copy of a once-upgraded SQLite file; on PostgreSQL the once-upgraded
    schema, emptied): running Alembic for each test was a large share of the suite's time.
    """
    wants_head = "engine" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "param.db"
        if wants_head:
            shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_url")
    if wants_head:
        _pg_upgraded_and_empty(url)
        return url
    # each test gets an empty schema
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
    upgrade_schema(eng)  # a no-op at head, kept so the fixture's promise does not rest on db_url
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
