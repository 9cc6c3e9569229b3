"""Alma's job budget: 3 API jobs running, 5 runs of one job per hour, waiters served in order."""

from __future__ import annotations

import pytest

from pipeline.budget import LocalJobBudget, RedisJobBudget


@pytest.fixture(params=["redis", "local"])
def make_budget(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    if request.param == "local":
        return lambda **kw: LocalJobBudget(**kw)
    import redis

    url = request.getfixturevalue("redis_url")
    client = redis.Redis.from_url(url)
    return lambda **kw: RedisJobBudget(client, **kw)


def test_at_most_three_running_then_a_release_frees_a_slot(make_budget) -> None:  # type: ignore[no-untyped-def]
    # given
    budget = make_budget(max_running=3, max_per_hour=50)
    granted = [budget.try_reserve(f"step:{i}", f"M{i}").granted for i in range(4)]
    # then
    assert granted == [True, True, True, False]
    waiting = budget.try_reserve("step:3", "M3")
    assert not waiting.granted and "3 API-started Alma jobs are running" in (waiting.reason or "")
    # when
    budget.release("step:0")
    # then
    assert budget.try_reserve("step:3", "M3").granted


def test_five_runs_of_one_job_per_hour(make_budget) -> None:  # type: ignore[no-untyped-def]
    budget = make_budget(max_running=100, max_per_hour=5)
    for i in range(5):
        assert budget.try_reserve(f"step:{i}", "M48402").granted
        budget.release(f"step:{i}")
    sixth = budget.try_reserve("step:5", "M48402")
    assert not sixth.granted
    assert "started 5 times in the past hour" in (sixth.reason or "")
    # another job is not affected
    assert budget.try_reserve("step:6", "M48401").granted


def test_cancel_gives_back_the_hourly_start(make_budget) -> None:  # type: ignore[no-untyped-def]
    budget = make_budget(max_running=10, max_per_hour=1)
    assert budget.try_reserve("step:1", "M1").granted
    budget.cancel("step:1", "M1")  # Alma refused it: it never started
    assert budget.try_reserve("step:2", "M1").granted


def test_reserving_twice_is_idempotent(make_budget) -> None:  # type: ignore[no-untyped-def]
    budget = make_budget(max_running=1, max_per_hour=5)
    assert budget.try_reserve("step:1", "M1").granted
    assert budget.try_reserve("step:1", "M1").granted  # a redelivered message asks again
    assert not budget.try_reserve("step:2", "M1").granted


def test_waiters_are_served_in_order(make_budget) -> None:  # type: ignore[no-untyped-def]
    budget = make_budget(max_running=1, max_per_hour=50)
    assert budget.try_reserve("step:a", "M1").granted
    first = budget.try_reserve("step:b", "M1")
    second = budget.try_reserve("step:c", "M1")
    assert (first.position, second.position) == (1, 2)
    budget.release("step:a")
    # the later waiter asks first, but the slot belongs to the earlier one
    assert not budget.try_reserve("step:c", "M1").granted
    assert budget.try_reserve("step:b", "M1").granted


def test_two_processes_share_one_redis_budget(redis_url: str) -> None:
    import redis

    one = RedisJobBudget(redis.Redis.from_url(redis_url), max_running=3, max_per_hour=50)
    two = RedisJobBudget(redis.Redis.from_url(redis_url), max_running=3, max_per_hour=50)
    results = [(one if i % 2 else two).try_reserve(f"step:{i}", "M1").granted for i in range(6)]
    assert results.count(True) == 3
