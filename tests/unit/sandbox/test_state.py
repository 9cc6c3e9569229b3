"""The sandbox's state machine and job effects, without HTTP (fake clock)."""

from __future__ import annotations

import re

import pytest

from sandbox import dc, seed
from sandbox.config import SandboxConfig
from sandbox.jobs import COPY, MIGRATION, PROFILE
from sandbox.state import AlmaFault, SandboxState

SET = seed.SEED_SET_ID


class Clock:
    def __init__(self) -> None:
        self.now = 1_759_250_149.0  # 2025-09-30 16:35:49 UTC

    def __call__(self) -> float:
        return self.now


def params(set_id: str = SET, name: str | None = None) -> list[dict]:
    out = [{"name": {"value": "set_id"}, "value": set_id}]
    if name:
        out.append({"name": {"value": "job_name"}, "value": name})
    return out


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(clock: Clock) -> SandboxState:
    return SandboxState(SandboxConfig(job_seconds=10, base_url="http://sb", profile_api=True), clock=clock)


def finish(state: SandboxState, clock: Clock, job_id: str, set_id: str = SET):
    inst = state.run_job(job_id, parameters=params(set_id))
    clock.now += 11
    state.tick()
    return inst


def test_status_progresses_with_time_and_effects_apply_once(state: SandboxState, clock: Clock) -> None:
    inst = state.run_job(MIGRATION, parameters=params(name="DG Handle Migration - test"))
    seen = []
    for _ in range(12):
        seen.append(inst.phase(clock.now)[0])
        state.tick()
        clock.now += 1
    assert seen[0] == "QUEUED"
    assert "INITIALIZING" in seen and "RUNNING" in seen and "FINALIZING" in seen
    assert seen[-1] == "COMPLETED_SUCCESS"
    # Alma's naming (alma-samples S01): the job_name, then the local date and time
    assert re.fullmatch(r"DG Handle Migration - test - \d{4}-\d{2}-\d{2} \d{1,2}:\d{2} [AP]M", inst.name)
    assert len(inst.events) == 3
    state.tick()
    clock.now += 100
    state.tick()
    assert len(inst.events) == 3  # exactly once


def test_running_progress_rises(state: SandboxState, clock: Clock) -> None:
    inst = state.run_job(COPY, parameters=params())
    clock.now += 3
    first = inst.phase(clock.now)
    clock.now += 3
    second = inst.phase(clock.now)
    assert first[0] == second[0] == "RUNNING" and 0 < first[1] < second[1] < 100


def test_seed_000_in_order(state: SandboxState, clock: Clock) -> None:
    finish(state, clock, COPY)
    migration = finish(state, clock, MIGRATION)
    assert [e.description for e in migration.events] == [
        "Record 991011589491704641 was skipped. Reason: BIB record MMS ID 991011589491704641 already has "
        "a handle identifier 11084/88",
        "Record 991011507293904641 was skipped. Reason: BIB record MMS ID 991011507293904641 already has "
        "a handle identifier 11084/1742400039",
        "Record 991011507142104641 was skipped. Reason: BIB record MMS ID 991011507142104641 does not have "
        "a handle identifier",
    ]
    finish(state, clock, PROFILE)
    assert state.registry.get("11084/99") is None  # the conflict: the expected handle never resolves
    assert (
        state.registry.get("11084/88").url()
        == "http://sb/discovery/fulldisplay/alma991011589491704641/01GCL_INST:GCL"
    )
    minted = state.record(seed.SEED_32100).alma_handle
    assert minted and minted.startswith("11084/17424")
    assert state.registry.get(minted).url().endswith("alma991011507142104641/01GCL_INST:GCL")


def test_profile_before_migration_takes_sequential_handles(state: SandboxState, clock: Clock) -> None:
    finish(state, clock, COPY, seed.DEMO_SET_ID)
    finish(state, clock, PROFILE, seed.DEMO_SET_ID)
    migration = finish(state, clock, MIGRATION, seed.DEMO_SET_ID)
    texts = [e.description for e in migration.events]
    assert all("already has a handle identifier" in t or "locked" in t for t in texts)
    fine = next(m for m in state.member_ids(seed.DEMO_SET_ID) if state.record(m).case == "needs_copy")
    rec = state.record(fine)
    assert rec.alma_handle.startswith("11084/17424")
    assert state.registry.get(f"11084/{rec.pid.split(':')[1]}") is None


def test_copy_carries_xsi_type_along(state: SandboxState, clock: Clock) -> None:
    typed = next(m for m in state.member_ids(seed.DEMO_SET_ID) if state.record(m).case == "needs_copy_typed")
    plain = next(m for m in state.member_ids(seed.DEMO_SET_ID) if state.record(m).case == "needs_copy")
    finish(state, clock, COPY, seed.DEMO_SET_ID)
    typed_ids = [i for i in dc.identifiers(state.record(typed).xml) if i.element == "dc:identifier"]
    assert any(i.xsi_type == "dcterms:URI" and "hdl.handle.net" in i.text for i in typed_ids)
    assert dc.usable_handle(state.record(typed).xml, "11084") is None
    assert dc.usable_handle(state.record(plain).xml, "11084") is not None
    migration = finish(state, clock, MIGRATION, seed.DEMO_SET_ID)
    by_mms = {e.mms_id: e.description for e in migration.events}
    assert by_mms[typed].endswith("does not have a handle identifier")
    assert plain not in by_mms  # Alma reports the errors, not the successes
    assert state.record(plain).alma_handle == f"11084/{state.record(plain).pid.split(':')[1]}"


def test_demo_set_covers_every_case(state: SandboxState) -> None:
    cases = {state.record(m).case for m in state.member_ids(seed.DEMO_SET_ID)}
    assert set(seed.CASES) <= cases
    assert (
        len(state.member_ids(seed.DEMO_SET_ID)) == 44
    )  # 40 + issue 11: two sharing a handle, MARC 21, suppressed


def test_demo_outcomes(state: SandboxState, clock: Clock) -> None:
    finish(state, clock, COPY, seed.DEMO_SET_ID)
    migration = finish(state, clock, MIGRATION, seed.DEMO_SET_ID)
    by_case: dict[str, set[str]] = {}
    for e in migration.events:
        kind = (
            "has"
            if "already has" in e.description
            else "not"
            if "does not have" in e.description
            else "failed"
        )
        by_case.setdefault(state.record(e.mms_id).case, set()).add(kind)
    assert by_case["needs_copy_typed"] == {"not"}
    for case in ("missing", "hdl_form", "spaces", "bad_url"):
        assert by_case[case] == {"not"}, case
    assert by_case["already_migrated"] == {"has"} and by_case["conflict"] == {"has"}
    assert by_case["locked"] == {"failed"}
    [locked] = [e for e in migration.events if state.record(e.mms_id).case == "locked"]
    assert locked.severity == "Error"  # a record the migration could not take is an error line
    again = finish(state, clock, MIGRATION, seed.DEMO_SET_ID)
    assert not any("locked" in e.description for e in again.events)  # locked only once


def test_run_checks(state: SandboxState, clock: Clock) -> None:
    with pytest.raises(AlmaFault) as err:
        state.run_job(COPY, parameters=[])
    assert err.value.code == "402228"
    with pytest.raises(AlmaFault) as err:
        state.run_job(COPY, parameters=params(""))
    assert err.value.code == "402229"
    for bad in ("123", "abc"):
        with pytest.raises(AlmaFault) as err:
            state.run_job(COPY, parameters=params(bad))
        assert err.value.code == "60107"
    with pytest.raises(AlmaFault) as err:
        state.run_job("X1", parameters=params())
    assert err.value.code == "402215"
    with pytest.raises(AlmaFault) as err:
        state.run_job("M1", parameters=params())
    assert err.value.code == "402216"


def test_thresholds(state: SandboxState, clock: Clock) -> None:
    state.run_job(COPY, parameters=params())
    with pytest.raises(AlmaFault) as err:
        state.run_job(COPY, parameters=params())
    assert err.value.code == "60347"
    state.run_job(COPY, parameters=params(seed.DEMO_SET_ID))
    state.run_job(MIGRATION, parameters=params(seed.EMPTY_SET_ID))
    with pytest.raises(AlmaFault) as err:
        state.run_job(PROFILE, parameters=params(seed.FIRST_BATCH_SET_ID))
    assert err.value.code == "402222"
    # a UI run is not an API run
    state.run_job(PROFILE, parameters=params(seed.FIRST_BATCH_SET_ID), via_api=False)
    clock.now += 11
    state.tick()
    for _ in range(3):
        state.run_job(COPY, parameters=params(seed.EMPTY_SET_ID))
        clock.now += 11
        state.tick()
    with pytest.raises(AlmaFault) as err:
        state.run_job(COPY, parameters=params(seed.EMPTY_SET_ID))
    assert err.value.code == "402223"
    clock.now += 3600
    state.run_job(COPY, parameters=params(seed.EMPTY_SET_ID))


def test_profile_api_switch_and_log(state: SandboxState, clock: Clock) -> None:
    state.config.update({"profile_api": False})
    with pytest.raises(AlmaFault) as err:
        state.run_job(PROFILE, parameters=params())
    assert err.value.code == "402248"
    inst = state.run_job(PROFILE, parameters=params(), via_api=False)
    assert inst.submitted_by["value"] != "API"
    assert [e["instance_id"] for e in state.log] == [inst.id]


def test_fail_job(state: SandboxState, clock: Clock) -> None:
    state.config.update({"fail_job": {MIGRATION: {"status": "FAILED", "times": 1}}})
    failed = finish(state, clock, MIGRATION)
    assert failed.final_status == "FAILED" and failed.events == []
    assert state.record(seed.SEED_32100).alma_handle is None
    ok = finish(state, clock, MIGRATION)
    assert ok.final_status == "COMPLETED_SUCCESS"
    state.config.update({"fail_job": {COPY: "COMPLETED_FAILED"}})
    assert finish(state, clock, COPY).final_status == "COMPLETED_FAILED"
    assert finish(state, clock, COPY).final_status == "COMPLETED_FAILED"


def test_sets(state: SandboxState) -> None:
    new = state.create_set(name="batch", description="", content="IEP", set_type="ITEMIZED")
    with pytest.raises(AlmaFault) as err:
        state.create_set(name="batch", description="", content="IEP", set_type="ITEMIZED")
    assert err.value.code == "402263"
    state.add_members(new.id, [seed.SEED_88, seed.SEED_99])
    with pytest.raises(AlmaFault) as err:
        state.add_members(new.id, [seed.SEED_88])
    assert err.value.code == "60115"
    state.add_members(new.id, [seed.SEED_88, seed.SEED_32100], fail_on_invalid_id=False)
    assert state.member_ids(new.id) == [seed.SEED_88, seed.SEED_99, seed.SEED_32100]
    with pytest.raises(AlmaFault) as err:
        state.add_members(new.id, [str(i) for i in range(1001)])
    assert err.value.code == "60118"


def test_seed_sizes_and_reset(state: SandboxState, clock: Clock) -> None:
    assert len(state.member_ids(seed.FIRST_BATCH_SET_ID)) == 6040
    assert len(state.member_ids(seed.ALL_DIGITAL_SET_ID)) == 11442
    assert state.member_ids(seed.EMPTY_SET_ID) == []
    assert state.get_set(seed.USER_SET_ID).content == "USER"
    finish(state, clock, PROFILE)
    state.reset()
    assert state.record(seed.SEED_32100).alma_handle is None and state.instances == {} and state.log == []
