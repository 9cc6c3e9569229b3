"""Fixtures of the integration tests beyond tests/conftest.py's.

``sandbox`` and ``env`` are the pipeline tests' defaults; a module that needs another sandbox or
environment defines its own fixture of the same name, which pytest then uses for that module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.testing import running_sandbox
from tests.integration.pipeline_support import pipeline_env


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    """A sandbox for the module: jobs of 0.5 s, the profile's job runnable by API."""
    with running_sandbox(job_seconds=0.5, profile_api=True) as url:
        yield url


@pytest.fixture
def env(sandbox: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return pipeline_env(sandbox, redis_url, tmp_path)


@pytest.fixture
def broker(redis_url: str) -> str:
    """The task broker of a service test: a real Redis database, empty before and after."""
    return redis_url
