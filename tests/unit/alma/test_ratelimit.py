"""Shared pacing (GCRA over Redis, or local) and the daily quota floor."""

from __future__ import annotations

import logging
import time

import fakeredis
import httpx
import pytest

from alma import AlmaQuotaLow, QuotaGuard, RateLimiter

from .fakes import FakeAlma, make_client


def test_local_limiter_spaces_requests_at_the_rate() -> None:
    limiter = RateLimiter(50)
    start = time.monotonic()
    for _ in range(11):
        limiter.acquire()
    # 11 slots at 50/s: the first is free, ten more need 10 × 20 ms
    assert 0.18 <= time.monotonic() - start < 0.6


def test_redis_limiter_refuses_a_second_slot_in_the_same_interval() -> None:
    redis = fakeredis.FakeRedis()
    limiter = RateLimiter(2, redis=redis)
    assert limiter.try_acquire() == 0.0
    wait = limiter.try_acquire()
    assert 0.3 < wait <= 0.5
    assert redis.get("alma:ratelimit") is not None


def test_two_limiters_on_one_fake_redis_share_the_budget() -> None:
    server = fakeredis.FakeServer()
    a = RateLimiter(1, redis=fakeredis.FakeRedis(server=server))
    b = RateLimiter(1, redis=fakeredis.FakeRedis(server=server))
    assert a.try_acquire() == 0.0
    assert b.try_acquire() > 0.5  # a took this second's slot
    local_a, local_b = RateLimiter(1), RateLimiter(1)
    assert local_a.try_acquire() == 0.0 and local_b.try_acquire() == 0.0  # no sharing without Redis


def test_two_clients_on_real_redis_share_the_budget(redis_url: str) -> None:
    import redis as redis_lib

    # given two clients (think: two worker processes) sharing Redis at 20 requests/second
    conns = [redis_lib.Redis.from_url(redis_url) for _ in range(2)]
    clients = [
        make_client(FakeAlma().on("GET", "/conf/sets/1", {"id": "1"}), limiter=RateLimiter(20, redis=c))
        for c in conns
    ]
    # when they make 21 calls together
    start = time.monotonic()
    for i in range(21):
        clients[i % 2].get_set("1")
    elapsed = time.monotonic() - start
    # then the pair took about a second, as one budget of 20/s (two budgets would take half)
    assert elapsed >= 0.9
    for c in conns:
        c.close()


def test_redis_failure_falls_back_to_local_pacing(caplog: pytest.LogCaptureFixture) -> None:
    server = fakeredis.FakeServer()
    server.connected = False
    limiter = RateLimiter(100, redis=fakeredis.FakeRedis(server=server))
    assert limiter.acquire() == 0.0
    assert limiter.try_acquire() > 0  # paced locally now
    assert caplog.text.count("Redis unavailable") == 1  # and Redis is not tried again at once


def test_quota_floor_refuses_calls_before_sending() -> None:
    # given Alma reporting 40 calls left while the floor is 50
    fake = FakeAlma().on(
        "GET", "/conf/sets/1", httpx.Response(200, json={"id": "1"}, headers={"X-Exl-Api-Remaining": "40"})
    )
    client = make_client(fake, quota=QuotaGuard(50, redis=fakeredis.FakeRedis()))
    client.get_set("1")
    # when the next call is attempted
    with pytest.raises(AlmaQuotaLow) as info:
        client.get_set("1")
    # then it was never sent, and the message says why
    assert len(fake.requests) == 1
    assert info.value.remaining == 40
    assert str(info.value) == "Alma daily API quota low: 40 calls left, floor 50; calls paused"


def test_quota_floor_zero_is_off_and_above_floor_passes() -> None:
    fake = FakeAlma().on(
        "GET", "/conf/sets/1", httpx.Response(200, json={"id": "1"}, headers={"X-Exl-Api-Remaining": "3"})
    )
    client = make_client(fake, quota=QuotaGuard(0))
    client.get_set("1")
    client.get_set("1")
    assert len(fake.requests) == 2 and client.quota.remaining() == 3
    guard = QuotaGuard(10)
    guard.record("11")
    guard.check()
    guard.record("not a number")
    assert guard.remaining() == 11


def test_quota_is_shared_through_redis_and_expires() -> None:
    server = fakeredis.FakeServer()
    writer = QuotaGuard(100, redis=fakeredis.FakeRedis(server=server), ttl=1)
    reader = QuotaGuard(100, redis=fakeredis.FakeRedis(server=server), ttl=1)
    writer.record("5")
    with pytest.raises(AlmaQuotaLow):
        reader.check()
    assert 0 < fakeredis.FakeRedis(server=server).ttl("alma:quota:remaining") <= 1


def test_quota_is_logged_at_most_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="alma.ratelimit")
    for guard in (QuotaGuard(0), QuotaGuard(0, redis=fakeredis.FakeRedis())):
        caplog.clear()
        for value in ("900", "899", "898"):
            guard.record(value)
        lines = [r.getMessage() for r in caplog.records]
        assert lines == ["Alma daily API quota: 900 calls left"]
