"""Preflight keeps duplicate-handle and non-DC records out of every job; before → after (issue 11)."""

from __future__ import annotations

import io
from typing import Any

import httpx
from sqlmodel import Session, select

from outcomes.classify import classify_run
from outcomes.report import COLUMNS, iter_rows, write_csv
from pipeline.context import Next
from pipeline.preflight import preflight
from pipeline.profile_set import prepare_profile_set
from pipeline.runs import create_run
from pipeline.steps import drive_step
from store.models import EventLine, Outcome, Record, RunState, StepKind, StepStatus
from store.runs import step_of
from tests.unit.alma.fakes import body
from tests.unit.pipeline.conftest import World, posted

SET = "7593466560004641"
JOBS_SET = "7700000000004641"
PROFILE_SET = "7700000000014641"
MARC = "991000000000004641"


def dc_record(identifier: str | None) -> str:
    ident = f"<dc:identifier>{identifier}</dc:identifier>" if identifier else ""
    return (
        '<record xmlns="http://alma.exlibrisgroup.com/dc/01GCL_INST" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>T</dc:title>'
        f"{ident}<dc:identifier>grinnell:1</dc:identifier></record>"
    )


def bib(mms: str, handle: str | None, *, fmt: str = "dcap01", suppressed: bool = False) -> dict[str, Any]:
    if fmt == "marc21":
        xml = '<record><leader>00000nam</leader><datafield tag="245"><subfield code="a">T</subfield></datafield></record>'
    else:
        xml = dc_record(f"http://hdl.handle.net/{handle}" if handle else None)
    return {
        "mms_id": mms,
        "record_format": {"value": fmt},
        "title": "T",
        "suppress_from_publishing": "true" if suppressed else "false",
        "anies": [xml],
    }


def alma_set(world: World, bibs: list[dict[str, Any]], set_id: str = SET) -> None:
    by_id = {b["mms_id"]: b for b in bibs}
    world.fake.on(
        "GET",
        f"/conf/sets/{set_id}",
        {"id": set_id, "name": "S", "content": {"value": "IEP"}, "number_of_members": {"value": len(bibs)}},
    )
    world.fake.on(
        "GET",
        f"/conf/sets/{set_id}/members",
        {"member": [{"id": b["mms_id"]} for b in bibs], "total_record_count": len(bibs)},
    )

    def get_bibs(request: httpx.Request) -> httpx.Response:
        ids = request.url.params["mms_id"].split(",")
        return httpx.Response(200, json={"bib": [by_id[i] for i in ids if i in by_id]})

    world.fake.on("GET", "/bibs", get_bibs)
    world.fake.on("POST", "/conf/sets", {"id": JOBS_SET}, {"id": PROFILE_SET})
    world.fake.on("POST", f"/conf/sets/{JOBS_SET}", {"id": JOBS_SET})
    world.fake.on("POST", f"/conf/sets/{PROFILE_SET}", {"id": PROFILE_SET})


def resolver(table: dict[str, str | None]) -> httpx.MockTransport:
    """The Handle proxy: handle → URL (None: not found); anything else not found."""

    def answer(request: httpx.Request) -> httpx.Response:
        handle = request.url.path.removeprefix("/api/handles/")
        url = table.get(handle)
        if url is None:
            return httpx.Response(404, json={"responseCode": 100, "handle": handle})
        values = [{"index": 1, "type": "URL", "data": {"format": "string", "value": url}}]
        return httpx.Response(200, json={"responseCode": 1, "handle": handle, "values": values})

    return httpx.MockTransport(answer)


def new_run(world: World, set_id: str = SET) -> int:
    with Session(world.engine) as session:
        run = create_run(session=session, set_id=set_id)
        session.commit()
        assert run.id is not None
        return run.id


def run_preflight(world: World, transport: httpx.MockTransport | None = None, set_id: str = SET) -> int:
    run_id = new_run(world, set_id)
    preflight(
        engine=world.engine,
        alma=world.ctx.alma,
        settings=world.settings,
        run_id=run_id,
        resolver_transport=transport or resolver({}),
    )
    return run_id


def records(world: World, run_id: int) -> dict[str, Record]:
    with Session(world.engine) as session:
        return {r.mms_id: r for r in session.exec(select(Record).where(Record.run_id == run_id))}


def members_added(world: World, set_id: str) -> list[str]:
    return [
        m["id"]
        for r in world.fake.requests
        if r.method == "POST" and r.url.path.endswith(f"/conf/sets/{set_id}")
        for m in body(r)["members"]["member"]
    ]


def test_in_set_duplicates_case_insensitive_and_marc_are_held_out(world: World) -> None:
    alma_set(
        world,
        [
            bib("9901", "11084/DupA"),
            bib("9902", "11084/dupa"),
            bib("9903", "11084/3"),
            bib(MARC, None, fmt="marc21"),
        ],
    )
    run_id = run_preflight(world)
    found = records(world, run_id)
    assert found["9901"].outcome == found["9902"].outcome == Outcome.DUPLICATE_HANDLE
    assert "MMS 9902 (this set)" in (found["9901"].detail or "")
    assert "MMS 9901 (this set)" in (found["9902"].detail or "")
    assert found[MARC].outcome == Outcome.WRONG_FORMAT
    assert found[MARC].detail == (
        "MARC 21 record (record_format marc21): not Dublin Core; Alma's DC jobs would fail its whole "
        "bulk of 100"
    )
    assert found["9903"].outcome == Outcome.UNKNOWN
    assert world.run(run_id).jobs_set_id == JOBS_SET and world.run(run_id).jobs_excluded == 3
    created = [
        body(r) for r in world.fake.requests if r.method == "POST" and r.url.path.endswith("/conf/sets")
    ]
    assert created[0]["name"] == f"handles run {run_id} - jobs set"
    assert members_added(world, JOBS_SET) == ["9903"]


def test_no_jobs_set_without_held_out_records(world: World) -> None:
    alma_set(world, [bib("9901", "11084/1"), bib("9902", "11084/2")])
    run_id = run_preflight(world)
    assert world.run(run_id).jobs_set_id is None
    assert world.fake.count("POST") == 0


def test_duplicates_against_earlier_runs_same_mms_is_the_same_record(world: World) -> None:
    alma_set(world, [bib("9911", "11084/5"), bib("9912", "11084/6")])
    first = run_preflight(world)
    assert {r.outcome for r in records(world, first).values()} == {Outcome.UNKNOWN}
    # a later run: 9912 again (the same record: no duplicate), 9913 claims 9911's handle
    alma_set(world, [bib("9912", "11084/6"), bib("9913", "11084/5")], set_id="7593466560014641")
    second = run_preflight(world, set_id="7593466560014641")
    found = records(world, second)
    assert found["9912"].outcome == Outcome.UNKNOWN
    assert found["9913"].outcome == Outcome.DUPLICATE_HANDLE
    assert f"MMS 9911 (run {first})" in (found["9913"].detail or "")
    # the earlier run is not changed
    assert records(world, first)["9911"].outcome == Outcome.UNKNOWN


def test_an_earlier_claim_fixed_since_does_not_count(world: World) -> None:
    # run 1: 9921 and 9922 both claim 11084/8
    alma_set(world, [bib("9921", "11084/8"), bib("9922", "11084/8")])
    first = run_preflight(world)
    assert {r.outcome for r in records(world, first).values()} == {Outcome.DUPLICATE_HANDLE}
    # 9922's metadata was fixed and it ran again alone (run 2); then 9921 runs again (run 3)
    alma_set(world, [bib("9922", "11084/9")], set_id="7593466560024641")
    run_preflight(world, set_id="7593466560024641")
    alma_set(world, [bib("9921", "11084/8")], set_id="7593466560034641")
    third = run_preflight(world, set_id="7593466560034641")
    assert records(world, third)["9921"].outcome == Outcome.UNKNOWN
    # and a set with both, 9922 fixed: this run's own reading of 9922 wins over run 1's
    alma_set(world, [bib("9921", "11084/8"), bib("9922", "11084/9")], set_id="7593466560044641")
    fourth = run_preflight(world, set_id="7593466560044641")
    assert {r.outcome for r in records(world, fourth).values()} == {Outcome.UNKNOWN}


def test_copy_migration_and_profile_run_without_the_held_out_records(world: World) -> None:
    alma_set(
        world,
        [bib("9901", "11084/DupA"), bib("9902", "11084/dupa"), bib("9903", "11084/3"), bib("9904", None)],
    )
    world.fake.requests.clear()
    run_id = run_preflight(world)
    sets_posted: list[str] = []

    def accept(request: httpx.Request) -> httpx.Response:
        sets_posted.append({p["name"]["value"]: p["value"] for p in body(request)["parameter"]}["set_id"])
        return httpx.Response(200, json=posted(f"55{len(sets_posted)}"))

    world.fake.on("POST", f"/conf/jobs/{world.job(StepKind.COPY)}", accept)
    world.fake.on("POST", f"/conf/jobs/{world.job(StepKind.MIGRATION)}", accept)
    assert drive_step(world.ctx, run_id=run_id, kind=StepKind.COPY) == Next.retry(
        world.settings.poll_min_seconds
    )
    world.set_step(run_id, StepKind.COPY, status=StepStatus.SUCCEEDED)
    drive_step(world.ctx, run_id=run_id, kind=StepKind.MIGRATION)
    assert sets_posted == [JOBS_SET, JOBS_SET]
    world.fake.on(
        "GET",
        f"/conf/jobs/{world.job(StepKind.MIGRATION)}/instances/552/events",
        {"event": [], "total_record_count": 0},
    )
    # the profile: 9904 has no handle (left out for repair) as well as the two duplicates
    profile = prepare_profile_set(world.ctx, run_id)
    assert profile == PROFILE_SET
    assert members_added(world, PROFILE_SET) == ["9903"]
    held = records(world, run_id)
    assert "profile" not in (held["9901"].detail or "")


def test_profile_runs_on_the_jobs_set_when_nothing_more_is_left_out(world: World) -> None:
    alma_set(world, [bib("9901", "11084/7"), bib("9902", "11084/7"), bib("9903", "11084/3")])
    run_id = run_preflight(world)
    assert prepare_profile_set(world.ctx, run_id) == JOBS_SET
    assert world.fake.count("POST", "/almaws/v1/conf/sets") == 1
    # remembered, so that operator mode names the set the profile must run on
    assert world.run(run_id).profile_set_id == JOBS_SET


def test_every_record_held_out_skips_the_jobs(world: World) -> None:
    alma_set(world, [bib("9901", "11084/7"), bib("9902", "11084/7")])
    run_id = run_preflight(world)
    with Session(world.engine) as session:
        kinds = {
            k: step_of(session, run_id, k) for k in (StepKind.COPY, StepKind.MIGRATION, StepKind.PROFILE)
        }
    assert {s.status for s in kinds.values()} == {StepStatus.SKIPPED}
    assert "kept out of every job" in (kinds[StepKind.COPY].error or "")
    assert world.fake.count("POST") == 0


def test_classification_keeps_held_out_outcomes_despite_events(world: World) -> None:
    alma_set(world, [bib("9901", "11084/7"), bib("9902", "11084/7"), bib(MARC, None, fmt="marc21")])
    run_id = run_preflight(world)
    with Session(world.engine) as session:
        for mms in ("9901", MARC):
            session.add(
                EventLine(
                    run_id=run_id,
                    mms_id=mms,
                    kind="no_handle",
                    text=f"Record {mms} was skipped. Reason: BIB record MMS ID {mms} does not have a handle identifier",
                    source="api",
                    fingerprint=mms,
                )
            )
        session.commit()
        counts = classify_run(session=session, run_id=run_id)
        session.commit()
    assert counts == {"duplicate_handle": 2, "wrong_format": 1}
    found = records(world, run_id)
    assert found["9901"].outcome == Outcome.DUPLICATE_HANDLE and "MMS 9902" in (found["9901"].detail or "")
    assert found[MARC].outcome == Outcome.WRONG_FORMAT


def test_before_is_stored_and_is_the_last_csv_column(world: World) -> None:
    target = world.settings.target_url
    alma_set(
        world,
        [
            bib("9901", "11084/1"),
            bib("9902", "11084/2"),
            bib("9903", "11084/3"),
            bib("9904", "11084/4", suppressed=True),
        ],
    )
    transport = resolver({"11084/1": target("9901"), "11084/2": target("5555")})
    run_id = run_preflight(world, transport)
    found = records(world, run_id)
    assert {m: r.verification_before for m, r in found.items()} == {
        "9901": "ok",
        "9902": "wrong_target",
        "9903": "not_found",
        "9904": "unpublished",
    }
    assert found["9902"].target_before == target("5555") and found["9904"].suppressed
    assert COLUMNS[-1] == "verification_before"
    out = io.StringIO()
    with Session(world.engine) as session:
        write_csv(iter_rows(session=session, run_id=run_id), out)
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "mms_id,pid,expected_handle,alma_handle,outcome,verification,target_url,detail,verification_before"
    )
    assert [line.rsplit(",", 1)[1] for line in lines[1:]] == [
        "ok",
        "wrong_target",
        "not_found",
        "unpublished",
    ]


def test_a_resolver_that_is_down_does_not_hold_up_preflight(world: World) -> None:
    alma_set(world, [bib(f"99{i:02d}", f"11084/{i}") for i in range(30)])
    calls: list[str] = []

    def down(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        raise httpx.ConnectError("connection refused")

    run_id = run_preflight(world, httpx.MockTransport(down))
    found = records(world, run_id)
    assert {r.verification_before for r in found.values()} == {"error"}
    assert world.run(run_id).state == RunState.RUNNING
    # the first 20 were each tried 3 times (2 retries); the other 10 were not asked
    assert len(calls) == 20 * 3


def test_trailing_punctuation_is_read_off_and_said(world: World) -> None:
    alma_set(world, [bib("9901", "11084/99.")])
    run_id = run_preflight(world)
    record = records(world, run_id)["9901"]
    assert record.expected_handle == "11084/99" and record.handle_key == "11084/99"
    assert "handle in the metadata had a trailing '.', read as 11084/99" in (record.detail or "")
