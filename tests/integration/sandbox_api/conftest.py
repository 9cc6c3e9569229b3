"""One sandbox per module of this folder, reset before each test; an Alma client on it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox.testing import reset, running_sandbox
from tests.integration.sandbox_api.support import KEY


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_sandbox(job_seconds=0.3, profile_api=True) as url:
        yield url


@pytest.fixture
def url(base: str) -> str:
    reset(base)
    return base


@pytest.fixture
def alma(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url + "/almaws/v1", headers=KEY, timeout=10) as client:
        yield client
