"""The verification service with a MockTransport resolver and a real database (SQLite/PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session, select

from config.settings import load_settings
from handles.verdict import NO_TARGET_NOTE, VerifyItem
from handles.verify import (
    known_items,
    make_client,
    regressions,
    verify_items,
    verify_known_slice,
    verify_run,
)
from store.models import HandleCheck, Record, Run, utcnow

TEMPLATE = "https://primo.example/discovery/fulldisplay/alma{mms_id}/01GCL_INST:GCL"


@pytest.fixture
def settings():
    return load_settings(handle_resolver_url="http://resolver.test", handle_target_template=TEMPLATE)


class FakeProxy:
    """Answers like the Handle proxy from a dict handle → URL (None → 500, missing → 404)."""

    def __init__(self, registry: dict[str, str | None]) -> None:
        self.registry = registry
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        handle = request.url.path.removeprefix("/api/handles/")
        if handle not in self.registry:
            return httpx.Response(404, json={"responseCode": 100, "handle": handle})
        url = self.registry[handle]
        if url is None:
            return httpx.Response(500, json={"responseCode": 2, "handle": handle})
        return httpx.Response(
            200,
            json={
                "responseCode": 1,
                "handle": handle,
                "values": [{"index": 1, "type": "URL", "data": {"format": "string", "value": url}}],
            },
        )

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def target(mms: str) -> str:
    return TEMPLATE.format(mms_id=mms)


def make_run(engine, records: list[tuple[str, str | None]]) -> int:
    with Session(engine) as session:
        run = Run(set_id="S1")
        session.add(run)
        session.flush()
        for pos, (mms, handle) in enumerate(records):
            session.add(Record(run_id=run.id, position=pos, mms_id=mms, expected_handle=handle))
        session.commit()
        return run.id


FAST = {"backoff": 0, "rate_per_host": 0}


def run_verify(engine, run_id, settings, proxy):
    with Session(engine) as session:
        from handles import verify as service

        def fast_client(settings_, *, transport=None, **kw):
            return make_client(settings_, transport=transport, **{**FAST, **kw})

        original = service.make_client
        service.make_client = fast_client
        try:
            return verify_run(
                session=session, run_id=run_id, settings=settings, transport=proxy.transport, batch_size=2
            )
        finally:
            service.make_client = original


def test_verify_items_judges_each_path(settings) -> None:
    proxy = FakeProxy(
        {
            "11084/1": target("1"),
            "11084/2": target("999"),
            "11084/3": None,
            "11084/4": "http://PRIMO.example/discovery/fulldisplay?docid=alma4&vid=01GCL_INST:GCL",
        }
    )
    items = [
        VerifyItem("11084/1", "1"),
        VerifyItem("11084/2", "2"),
        VerifyItem("11084/3", "3"),
        VerifyItem("11084/4", "4"),
        VerifyItem("11084/5", "5"),
        VerifyItem("11084/1"),
    ]

    async def go():
        async with make_client(settings, transport=proxy.transport, retries=1, **FAST) as client:
            return [r async for r in verify_items(items, settings=settings, client=client)]

    results = {(r.handle, r.item.mms_id): r for r in asyncio.run(go())}
    assert results[("11084/1", "1")].verification == "ok"
    assert results[("11084/2", "2")].verification == "wrong_target"
    assert results[("11084/2", "2")].expected_target == target("2")
    assert results[("11084/3", "3")].verification == "error"
    assert results[("11084/4", "4")].verification == "ok"
    assert results[("11084/5", "5")].verification == "not_found"
    no_mms = results[("11084/1", None)]
    assert no_mms.verification == "ok" and no_mms.detail == NO_TARGET_NOTE and no_mms.expected_target is None


def test_verify_items_reads_lazily_with_bounded_window(settings) -> None:
    proxy = FakeProxy({})
    pulled = []

    def items():
        for i in range(100):
            pulled.append(i)
            yield VerifyItem(f"11084/{i}")

    async def go():
        async with make_client(settings, transport=proxy.transport, concurrency=2, **FAST) as client:
            gen = verify_items(items(), settings=settings, client=client)
            first = await gen.__anext__()
            in_flight_when_first = len(pulled)
            rest = [r async for r in gen]
            return first, in_flight_when_first, rest

    first, pulled_early, rest = asyncio.run(go())
    assert pulled_early <= 5  # window 2 × concurrency (+1 refill), not the whole list
    assert len(rest) + 1 == 100


def test_verify_run_updates_records_and_writes_history(engine, settings) -> None:
    run_id = make_run(engine, [("1", "11084/1"), ("2", "11084/2"), ("3", "11084/3"), ("4", None)])
    proxy = FakeProxy({"11084/1": target("1"), "11084/2": target("7")})
    summary = run_verify(engine, run_id, settings, proxy)
    assert summary.as_dict() | {} == {
        "ok": 1,
        "wrong_target": 1,
        "not_found": 1,
        "unpublished": 0,
        "error": 0,
        "total": 3,
        "no_target": 0,
        "regressions": 0,
    }
    with Session(engine) as session:
        records = {r.mms_id: r for r in session.exec(select(Record))}
        assert records["1"].verification == "ok" and records["1"].target_url == target("1")
        assert records["1"].verified_at is not None
        assert records["2"].verification == "wrong_target" and records["2"].target_url == target("7")
        assert records["3"].verification == "not_found"
        assert records["4"].verification is None
        checks = session.exec(select(HandleCheck).order_by(HandleCheck.handle)).all()
        assert [(c.handle, c.verification, c.run_id) for c in checks] == [
            ("11084/1", "ok", run_id),
            ("11084/2", "wrong_target", run_id),
            ("11084/3", "not_found", run_id),
        ]
        assert checks[0].latency_ms is not None and checks[1].expected_target == target("2")


def test_regression_detected_and_logged(engine, settings, caplog) -> None:
    run_id = make_run(engine, [("1", "11084/1"), ("2", "11084/2"), ("3", "11084/3")])
    proxy = FakeProxy({"11084/1": target("1"), "11084/2": target("2"), "11084/3": target("3")})
    run_verify(engine, run_id, settings, proxy)
    # overnight: 1 is deleted, 2 is re-pointed, 3's server is down
    proxy.registry = {"11084/2": target("9"), "11084/3": None}
    before = utcnow() - timedelta(seconds=1)
    with caplog.at_level(logging.WARNING, logger="handles.verify"):
        summary = run_verify(engine, run_id, settings, proxy)
    assert summary.regressions == 2
    assert sum("handle regression" in m for m in caplog.messages) == 2
    with Session(engine) as session:
        found = regressions(session, since=before)
        assert sorted((c.handle, c.verification) for c in found) == [
            ("11084/1", "not_found"),
            ("11084/2", "wrong_target"),
        ]
        assert regressions(session, since=utcnow() + timedelta(hours=1)) == []
    # an error after ok is no evidence: the next not_found of 3 is still a regression
    proxy.registry = {"11084/1": target("1"), "11084/2": target("2")}
    summary = run_verify(engine, run_id, settings, proxy)
    with Session(engine) as session:
        latest = regressions(session)[0]
    assert summary.regressions == 1 and latest.handle == "11084/3"


def test_known_items_union_of_records_and_history(engine, settings) -> None:
    make_run(engine, [("1", "11084/b"), ("2", "11084/a")])
    make_run(engine, [("3", "11084/B")])  # same handle (ASCII case-insensitive), newer record wins
    with Session(engine) as session:
        session.add(HandleCheck(handle="11084/z", handle_key="11084/Z", mms_id="26", verification="ok"))
        session.add(HandleCheck(handle="11084/A", handle_key="11084/A", verification="ok"))
        session.commit()
        items = known_items(session)
    assert [(i.handle, i.mms_id) for i in items] == [("11084/a", "2"), ("11084/B", "3"), ("11084/z", "26")]


def test_verify_known_slice_checks_only_its_slice(engine, settings, monkeypatch) -> None:
    make_run(engine, [(str(i), f"11084/{i:02d}") for i in range(10)])
    proxy = FakeProxy({f"11084/{i:02d}": target(str(i)) for i in range(10)})
    from handles import verify as service

    monkeypatch.setattr(
        service,
        "make_client",
        lambda s, *, transport=None, **kw: service.ResolverClient(
            s.handle_resolver_url, transport=transport, backoff=0, rate_per_host=0
        ),
    )
    with Session(engine) as session:
        summary = verify_known_slice(
            session=session, settings=settings, offset=4, limit=3, transport=proxy.transport
        )
        handles = sorted(c.handle for c in session.exec(select(HandleCheck)))
        records = session.exec(select(Record).where(Record.verification == "ok")).all()
    assert summary.total == 3 and handles == ["11084/04", "11084/05", "11084/06"]
    assert sorted(r.mms_id for r in records) == ["4", "5", "6"]
