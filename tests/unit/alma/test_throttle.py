"""429 PER_SECOND_THRESHOLD is weather: retried with jittered backoff for a bounded time (issue 10)."""

from __future__ import annotations

import pytest

from alma import AlmaRateLimited, RetryPolicy
from alma._retry import AlmaThrottled
from tests.unit.alma.fakes import FakeAlma, alma_error, make_client


class FakeTime:
    """A clock that moves only when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def policy(clock: FakeTime, patience: float = 60.0) -> RetryPolicy:
    return RetryPolicy(throttle_patience=patience, sleep=clock.sleep, clock=clock.clock)


def refusal(retry_after: str | None = None):  # type: ignore[no-untyped-def]
    headers = {"Retry-After": retry_after} if retry_after else None
    return alma_error(
        429, "PER_SECOND_THRESHOLD", "HTTP requests are more than allowed per second", headers=headers
    )


def test_a_burst_longer_than_four_tries_succeeds() -> None:
    fake_time = FakeTime()
    fake = FakeAlma().on("GET", "/conf/sets/5", *[refusal() for _ in range(9)], {"id": "5"})
    assert make_client(fake, retry=policy(fake_time)).get_set("5") == {"id": "5"}
    assert fake.count("GET") == 10 and len(fake_time.slept) == 9
    # jittered exponential backoff, capped: never two identical schedules, never above the cap
    assert all(0 < s <= 8.0 for s in fake_time.slept) and fake_time.slept[1] > fake_time.slept[0] * 0.9


def test_a_burst_on_the_run_post_is_retried_too() -> None:
    fake_time = FakeTime()
    answer = {"additional_info": {"link": "https://x/almaws/v1/conf/jobs/M1/instances/77"}}
    fake = FakeAlma().on("POST", "/conf/jobs/M1", *[refusal() for _ in range(6)], answer)
    client = make_client(fake, retry=policy(fake_time))
    assert client.run_job("M1", set_id="5", job_name="handles run 1 copy") == "77"
    assert fake.count("POST") == 7


def test_a_refusal_longer_than_the_patience_fails_with_one_line() -> None:
    fake_time = FakeTime()
    fake = FakeAlma().on("GET", "/conf/sets/5", refusal())
    with pytest.raises(AlmaRateLimited) as info:
        make_client(fake, retry=policy(fake_time, patience=30)).get_set("5")
    err = info.value
    assert isinstance(err, AlmaThrottled) and not err.daily
    text = str(err)
    assert "Alma kept refusing for 30 s" in text and "\n" not in text and "PER_SECOND_THRESHOLD" in text
    assert 29.9 <= fake_time.now - 1000.0 <= 30.1  # the waits never overshoot the patience
    assert fake.count("GET") == len(fake_time.slept) + 1 > 4


def test_retry_after_is_honoured() -> None:
    fake_time = FakeTime()
    fake = FakeAlma().on("GET", "/conf/sets/5", refusal("12"), refusal("3"), {"id": "5"})
    make_client(fake, retry=policy(fake_time)).get_set("5")
    assert fake_time.slept[0] >= 12.0 and fake_time.slept[1] >= 3.0


def test_the_daily_threshold_is_not_retried() -> None:
    fake_time = FakeTime()
    fake = FakeAlma().on("GET", "/conf/sets/5", alma_error(429, "DAILY_THRESHOLD"), {"id": "5"})
    with pytest.raises(AlmaRateLimited) as info:
        make_client(fake, retry=policy(fake_time)).get_set("5")
    assert info.value.daily and not isinstance(info.value, AlmaThrottled)
    assert fake.count("GET") == 1 and fake_time.slept == []


def test_blips_keep_their_four_tries_whatever_the_patience() -> None:
    fake_time = FakeTime()
    fake = FakeAlma().on("GET", "/conf/sets/5", alma_error(503, "X"))
    with pytest.raises(Exception, match="503"):
        make_client(fake, retry=policy(fake_time)).get_set("5")
    assert fake.count("GET") == 4


def test_the_patience_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from alma import AlmaClient
    from config.settings import Settings

    monkeypatch.setenv("ALMA_THROTTLE_PATIENCE_SECONDS", "12.5")
    monkeypatch.setenv("ALMA_API_KEY", "k")
    client = AlmaClient.from_settings(Settings())
    assert client.retry.throttle_patience == 12.5
    client.close()
