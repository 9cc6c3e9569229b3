"""Fixtures of the integration tests beyond tests/conftest.py's."""

from __future__ import annotations

import pytest


@pytest.fixture
def broker(redis_url: str) -> str:
    """The task broker of a service test: a real Redis database, empty before and after."""
    return redis_url
