"""The broker's eviction policy warning, and the beat's heartbeat file (workers/health.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import redis

from workers.health import heartbeat_path, is_fresh, touch, warn_unless_noeviction


class Policy:
    """A Redis client's CONFIG GET answer (fakeredis has no CONFIG; the integration test uses a real one)."""

    def __init__(self, policy: str | bytes) -> None:
        self.policy = policy

    def config_get(self, name: str) -> dict:
        return {name: self.policy}


def test_a_redis_that_may_evict_is_named_in_one_warning_line_without_its_password(caplog) -> None:
    client = Policy(b"allkeys-lru")
    with caplog.at_level(logging.WARNING, logger="handles.worker"):
        policy = warn_unless_noeviction(lambda: client, "redis://:s3cret-pw@redis:6379/0", who="worker")
    assert policy == "allkeys-lru"
    (line,) = [r.getMessage() for r in caplog.records]
    assert "allkeys-lru" in line and "noeviction" in line and "s3cret-pw" not in line and "\n" not in line


def test_noeviction_says_nothing(caplog) -> None:
    client = Policy("noeviction")
    with caplog.at_level(logging.WARNING):
        assert warn_unless_noeviction(lambda: client, "redis://redis:6379/0", who="beat") == "noeviction"
    assert not caplog.records


@pytest.mark.parametrize(
    "refusal",
    [redis.exceptions.ResponseError("unknown command 'CONFIG'"), redis.exceptions.ConnectionError("down")],
)
def test_a_managed_redis_that_refuses_config_is_skipped_silently(caplog, refusal: Exception) -> None:
    class Refusing:
        def config_get(self, _name: str) -> dict:
            raise refusal

    with caplog.at_level(logging.DEBUG):
        assert warn_unless_noeviction(lambda: Refusing(), "redis://redis:6379/0", who="worker") is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_heartbeat_sits_next_to_the_schedule_and_goes_stale(tmp_path: Path) -> None:
    path = heartbeat_path(str(tmp_path / "var" / "celerybeat-schedule"))
    assert path == tmp_path / "var" / "celerybeat-schedule.heartbeat"
    assert not is_fresh(path, 300)
    touch(path)
    stamped = path.stat().st_mtime
    assert is_fresh(path, 300, now=stamped + 299)
    assert not is_fresh(path, 300, now=stamped + 301)
