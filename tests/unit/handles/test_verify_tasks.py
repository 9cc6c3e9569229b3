"""Nightly re-verification tasks: schedule slots, slicing, and once-per-slot work (fakeredis)."""

from __future__ import annotations

from datetime import UTC, datetime

import fakeredis
import httpx
import pytest
from sqlmodel import Session, select

from handles import verify as service
from handles.resolver import BlockingResolver
from store.models import HandleCheck, Record, Run


@pytest.mark.parametrize(
    ("expr", "now", "slot"),
    [
        ("0 2 * * *", datetime(2025, 3, 10, 2, 0, 30), "2025-03-10T02:00Z"),
        ("0 2 * * *", datetime(2025, 3, 10, 2, 7), "2025-03-10T02:00Z"),  # a late second beat: same slot
        ("0 2 * * *", datetime(2025, 3, 10, 1, 59), "2025-03-09T02:00Z"),
        ("*/15 * * * *", datetime(2025, 3, 10, 9, 44, tzinfo=UTC), "2025-03-10T09:30Z"),
        ("30 3 * * 0", datetime(2025, 3, 12, 12, 0), "2025-03-09T03:30Z"),  # Sundays
        ("0 0 1 1 *", datetime(2025, 3, 12), "2025-01-01T00:00Z"),
        ("0 6 * * mon-fri", datetime(2025, 3, 9, 12, 0), "2025-03-07T06:00Z"),  # names and ranges
        ("5,35 */6 * jan-mar 7", datetime(2025, 3, 9, 13, 0), "2025-03-09T12:35Z"),  # 7 is Sunday too
    ],
)
def test_schedule_slot(expr: str, now: datetime, slot: str) -> None:
    from tasks.verify import schedule_slot

    assert schedule_slot(expr, now) == slot


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch):
    """Ten records with handles, a fake proxy counting lookups, fakeredis as the shared Redis."""
    from workers import resources

    resources.ensure_schema()
    with Session(resources.engine()) as session:
        run = Run(set_id="S")
        session.add(run)
        session.flush()
        for i in range(10):
            session.add(Record(run_id=run.id, position=i, mms_id=str(i), expected_handle=f"11084/{i}"))
        session.commit()
    lookups: list[str] = []
    template = resources.settings().handle_target_template

    def handler(request: httpx.Request) -> httpx.Response:
        handle = request.url.path.removeprefix("/api/handles/")
        lookups.append(handle)
        url = template.replace("{mms_id}", handle.split("/")[1])
        return httpx.Response(
            200,
            json={
                "responseCode": 1,
                "handle": handle,
                "values": [{"index": 1, "type": "URL", "data": {"format": "string", "value": url}}],
            },
        )

    settings = resources.settings()
    resolver = BlockingResolver(
        lambda: service.ResolverClient(
            settings.handle_resolver_url, transport=httpx.MockTransport(handler), backoff=0, rate_per_host=0
        )
    )
    monkeypatch.setattr(resources, "resolver", lambda: resolver)
    fake = fakeredis.FakeRedis()
    monkeypatch.setattr(resources, "redis_client", lambda: fake)
    yield lookups, fake
    resolver.close()


def test_same_slot_twice_does_the_work_once(world) -> None:
    lookups, fake = world
    from tasks.verify import verify_slice
    from workers import resources

    first = verify_slice(slot="2025-03-10T02:00Z", offset=0, limit=4)
    again = verify_slice(slot="2025-03-10T02:00Z", offset=0, limit=4)
    assert first["ok"] == 4 and again is None
    assert sorted(lookups) == ["11084/0", "11084/1", "11084/2", "11084/3"]
    assert fake.get("handles:verify:2025-03-10T02:00Z:slice:0:4") == b"done"
    next_night = verify_slice(slot="2025-03-11T02:00Z", offset=0, limit=4)
    assert next_night["ok"] == 4 and len(lookups) == 8
    with Session(resources.engine()) as session:
        assert len(session.exec(select(HandleCheck)).all()) == 8


def test_transient_failure_releases_its_lock_and_retries(world, monkeypatch) -> None:
    import tasks.verify as tasks_verify

    _, fake = world

    def away(**_):
        raise ConnectionRefusedError("database away")

    monkeypatch.setattr(tasks_verify, "verify_known_slice", away)
    from celery.exceptions import Retry

    retried: list[BaseException] = []

    def retry(*, countdown, exc):  # a direct call re-raises exc; record what a worker would retry
        retried.append(exc)
        return Retry(exc=exc, when=countdown)

    monkeypatch.setattr(tasks_verify.verify_slice, "retry", retry)
    with pytest.raises(Retry):
        tasks_verify.verify_slice(slot="S1", offset=0, limit=4)
    assert [type(e) for e in retried] == [ConnectionRefusedError]
    assert fake.get("handles:verify:S1:slice:0:4") is None


def test_other_failure_releases_its_lock_and_fails_the_task(world, monkeypatch) -> None:
    import tasks.verify as tasks_verify

    _, fake = world

    def bug(**_):
        raise RuntimeError("a bug, not a passing outage")

    monkeypatch.setattr(tasks_verify, "verify_known_slice", bug)
    monkeypatch.setattr(tasks_verify.verify_slice, "retry", lambda **_: pytest.fail("a bug is not retried"))
    with pytest.raises(RuntimeError, match="a bug"):
        tasks_verify.verify_slice(slot="S1", offset=0, limit=4)
    assert fake.get("handles:verify:S1:slice:0:4") is None


def test_plan_enqueues_slices_once_per_slot(world, monkeypatch) -> None:
    import tasks.verify as tasks_verify

    sent: list[dict] = []
    monkeypatch.setattr(tasks_verify.verify_slice, "apply_async", lambda kwargs: sent.append(kwargs))
    monkeypatch.setenv("VERIFY_SLICE_SIZE", "4")
    from config.settings import get_settings

    get_settings.cache_clear()
    assert tasks_verify.verify_known(slot="2025-03-10T02:00Z") == 3
    assert tasks_verify.verify_known(slot="2025-03-10T02:00Z") == 0
    assert [(k["offset"], k["limit"]) for k in sent] == [(0, 4), (4, 4), (8, 4)]
    assert {k["slot"] for k in sent} == {"2025-03-10T02:00Z"}
