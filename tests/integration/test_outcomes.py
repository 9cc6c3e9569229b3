"""Outcomes against the sandbox over real HTTP: seed 000's set through copy → migration, the Events
Report imported in all three formats, classification, repair with a child run, and restore."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import select

from alma import AlmaClient
from alma.dc import parse_dc
from config.settings import load_settings
from outcomes.classify import classify_run
from outcomes.events.store import import_file
from outcomes.repair.bib_xml import canonical_record
from outcomes.repair.metadata import apply_repairs, plan_repairs
from outcomes.repair.restore import restore_run
from outcomes.report import iter_rows
from pipeline.preflight import preflight
from pipeline.runs import create_run
from store.db import session_scope
from store.models import BibBackup, EventLine, Run
from tests.support import wait_for

pytestmark = pytest.mark.integration

SET_ID = "7593466560004641"
G88, G99, G32100 = "991011589491704641", "991011507293904641", "991011507142104641"


@pytest.fixture
def sandbox():  # type: ignore[no-untyped-def]
    from sandbox.testing import running_sandbox

    with running_sandbox(job_seconds=0.2) as url:
        settings = load_settings(
            ALMA_API_BASE_URL=url,
            ALMA_API_KEY="sandbox-key",
            HANDLE_TARGET_TEMPLATE=url + "/discovery/fulldisplay/alma{mms_id}/01GCL_INST:GCL",
        )
        alma = AlmaClient.from_settings(settings)
        try:
            yield url, settings, alma
        finally:
            alma.close()


def run_job(alma, job_id: str, name: str) -> str:  # type: ignore[no-untyped-def]
    instance_id = alma.run_job(job_id, set_id=SET_ID, job_name=name, parameters=[])
    wait_for(
        lambda: alma.get_instance(job_id, instance_id).is_terminal,
        timeout=30,
        interval=0.1,
        what=f"{job_id} to finish",
    )
    return instance_id


def stored_run(engine, alma, settings) -> int:  # type: ignore[no-untyped-def]
    """A run of the set with its Records, stored by the pipeline's own preflight."""
    with session_scope(engine) as session:
        run_id = create_run(session=session, set_id=SET_ID).id
    summary = preflight(engine=engine, alma=alma, settings=settings, run_id=run_id)
    assert summary["members"] == 3, summary
    return run_id


def test_events_classification_repair_and_restore(sandbox, engine, tmp_path):
    url, settings, alma = sandbox
    run_id = stored_run(engine, alma, settings)
    run_job(alma, settings.alma_copy_job_id, "copy")
    instance = run_job(alma, settings.alma_migration_job_id, "migration")

    for suffix in ("csv", "xlsx", "txt"):  # the same report three ways: stored once
        path = tmp_path / f"events.{suffix}"
        path.write_bytes(
            httpx.get(
                f"{url}/sandbox/events-report/{settings.alma_migration_job_id}/{instance}.{suffix}"
            ).content
        )
        with session_scope(engine) as session:
            summary = import_file(session=session, run_id=run_id, path=path)
            classify_run(session=session, run_id=run_id, settings=settings)
        assert summary.not_in_set == 0
        assert summary.new == (summary.lines if suffix == "csv" else 0), suffix

    with session_scope(engine) as session:
        rows = {r["mms_id"]: r for r in iter_rows(session=session, run_id=run_id, settings=settings)}
        assert len(session.exec(select(EventLine)).all()) == summary.lines
    assert rows[G99]["outcome"] == "conflict" and rows[G99]["expected_handle"] == "11084/99"
    assert (
        rows[G99]["alma_handle"] not in ("", "11084/99")
        and "already has a handle identifier" in rows[G99]["detail"]
    )
    assert rows[G32100]["outcome"] == "malformed_identifier"
    assert "does not have a handle identifier" in rows[G32100]["detail"]
    original = alma.get_bib_xml(G32100)
    assert 'xsi:type="dcterms:URI">http://hdl.handle.net/11084/32100</dc:identifier>' in original

    with session_scope(engine) as session:  # dry run: nothing written anywhere
        plan = plan_repairs(session=session, run_id=run_id, alma=alma, settings=settings)
        assert [(p.mms_id, p.will_change) for p in plan] == [(G32100, True)]
        assert session.exec(select(BibBackup)).all() == []
    assert alma.get_bib_xml(G32100) == original

    started: list[int] = []
    with session_scope(engine) as session:
        result = apply_repairs(
            session=session,
            run_id=run_id,
            alma=alma,
            settings=settings,
            create_child=create_run,
            enqueue=started.append,
        )
    assert result.repaired == [G32100] and started == [result.child_run_id]
    repaired = alma.get_bib_xml(G32100)
    assert parse_dc(repaired).problem("11084") is None
    assert 'xsi:type="dcterms:URI">http://hdl.handle.net/11084/32100</dc:identifier>' not in repaired
    assert [m["id"] for m in alma.iter_set_members(result.set_id)] == [G32100]
    with session_scope(engine) as session:
        child = session.get(Run, result.child_run_id)
        assert (child.parent_run_id, child.skip_copy, child.set_id) == (run_id, True, result.set_id)
        backup = session.exec(select(BibBackup)).one()
        assert backup.original_xml == original and backup.applied_at and backup.child_run_id == child.id

    with session_scope(engine) as session:  # applying again backs nothing up twice, starts no second child
        again = apply_repairs(
            session=session,
            run_id=run_id,
            alma=alma,
            settings=settings,
            create_child=create_run,
            enqueue=started.append,
        )
        assert again.repaired == [] and again.child_run_id is None
        assert len(session.exec(select(BibBackup)).all()) == 1

    with session_scope(engine) as session:
        done = restore_run(session=session, run_id=run_id, alma=alma)
    assert [(d.mms_id, d.restored) for d in done] == [(G32100, True)]
    assert canonical_record(alma.get_bib_xml(G32100)) == canonical_record(original)
    with session_scope(engine) as session:
        assert restore_run(session=session, run_id=run_id, alma=alma) == []
