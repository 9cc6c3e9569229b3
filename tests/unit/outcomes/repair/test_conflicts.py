"""repair-conflicts planning (seed 000: 11084/99 expected, Alma holds 11084/1742400039)."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from config.settings import load_settings
from handles import requests as svc
from handles.server import HandleServerClient
from outcomes.repair import conflicts
from sandbox.handle_server import handle_server_routes
from sandbox.registry import HandleRegistry
from store.db import session_scope
from store.models import Outcome, Record, Run
from store.runs import RunNotFound

SECRET = "sandbox-handle-secret"
MMS_99, MMS_32100, MMS_88 = "991011507293904641", "991011507142104641", "991011589491704641"


@pytest.fixture
def registry() -> HandleRegistry:
    return HandleRegistry()


@pytest.fixture
def client(registry) -> HandleServerClient:
    routes = handle_server_routes(registry, auth_id="300:0.NA/11084", secret=SECRET, prefix="11084")
    http = TestClient(Starlette(routes=[Mount("/hs", routes=routes)]))

    def forward(request: httpx.Request) -> httpx.Response:
        r = http.request(
            request.method,
            request.url.raw_path.decode(),
            headers=dict(request.headers),
            content=request.content,
        )
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)

    return HandleServerClient(
        "http://testserver/hs",
        auth_id="300:0.NA/11084",
        secret=SECRET,
        transport=httpx.MockTransport(forward),
    )


@pytest.fixture
def run_id(engine) -> int:
    with session_scope(engine) as session:
        run = Run(set_id="7593466560004641")
        session.add(run)
        session.flush()
        session.add_all(
            [
                Record(
                    run_id=run.id,
                    position=0,
                    mms_id=MMS_99,
                    expected_handle="11084/99",
                    alma_handle="11084/1742400039",
                    outcome=Outcome.CONFLICT,
                ),
                Record(
                    run_id=run.id,
                    position=1,
                    mms_id=MMS_32100,
                    expected_handle="11084/32100",
                    alma_handle="11084/1742400245",
                    outcome=Outcome.CONFLICT,
                ),
                Record(
                    run_id=run.id,
                    position=2,
                    mms_id=MMS_88,
                    expected_handle="11084/88",
                    alma_handle="11084/88",
                    outcome=Outcome.ALREADY_MIGRATED,
                ),
                Record(
                    run_id=run.id,
                    position=3,
                    mms_id="990000000000004641",
                    expected_handle="10107/1",
                    alma_handle="11084/1742400300",
                    outcome=Outcome.CONFLICT,
                ),
            ]
        )
        return run.id


def test_plan_creates_missing_updates_wrong_and_leaves_right(engine, client, registry, run_id):
    settings = load_settings()
    registry.set_url("11084/32100", "https://old.example/32100", source="server", prefix="11084")
    with session_scope(engine) as session:
        items = conflicts.plan_conflict_repairs(
            session=session, run_id=run_id, client=client, settings=settings
        )
    by_mms = {i.mms_id: i for i in items}
    assert set(by_mms) == {MMS_99, MMS_32100, "990000000000004641"}  # conflicts only
    assert by_mms[MMS_99].action == "create" and by_mms[MMS_99].target == settings.target_url(MMS_99)
    assert by_mms[MMS_32100].action == "update"
    assert by_mms[MMS_32100].current_url == "https://old.example/32100"
    assert by_mms["990000000000004641"].action == "skip"  # another prefix: never sent
    with session_scope(engine) as session:  # a dry run queued nothing
        assert svc.list_requests(session) == []


def test_apply_queues_once_and_the_requests_fix_the_handles(engine, client, registry, run_id):
    settings = load_settings()
    registry.set_url("11084/32100", "https://old.example/32100", source="server", prefix="11084")
    with session_scope(engine) as session:
        items = conflicts.plan_conflict_repairs(
            session=session, run_id=run_id, client=client, settings=settings
        )
        queued = conflicts.apply_conflict_repairs(
            session=session, run_id=run_id, items=items, settings=settings
        )
    assert sorted(r.op for r in queued) == ["create", "update"]
    assert all(r.run_id == run_id and r.status == "queued" for r in queued)
    with session_scope(engine) as session:  # planning again while they are pending queues nothing new
        again = conflicts.plan_conflict_repairs(
            session=session, run_id=run_id, client=client, settings=settings
        )
    assert {i.action for i in again if i.mms_id in (MMS_99, MMS_32100)} == {"queued"}
    for row in queued:
        assert (
            svc.run_request(engine=engine, request_id=row.id, client=client, settings=settings).status
            == "success"
        )
    assert registry.get("11084/99").url() == settings.target_url(MMS_99)
    assert registry.get("11084/32100").url() == settings.target_url(MMS_32100)
    with session_scope(engine) as session:
        done = conflicts.plan_conflict_repairs(
            session=session, run_id=run_id, client=client, settings=settings
        )
    assert {i.action for i in done if i.mms_id in (MMS_99, MMS_32100)} == {"none"}


def test_unknown_run(engine, client):
    with session_scope(engine) as session, pytest.raises(RunNotFound):
        conflicts.plan_conflict_repairs(session=session, run_id=999, client=client, settings=load_settings())
