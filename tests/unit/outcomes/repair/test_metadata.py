"""apply/restore against a fake Alma: backup before PUT, no double backup, restore refuses edited bibs."""

from __future__ import annotations

import pytest
from sqlmodel import select

from alma.errors import AlmaUnavailable
from config.settings import load_settings
from outcomes.repair.metadata import apply_repairs, plan_repairs
from outcomes.repair.restore import restore_run
from store.db import session_scope
from store.models import BibBackup, Record, Run

MMS = "991011507142104641"
NS = (
    'xmlns="http://alma.exlibrisgroup.com/dc/01GCL_INST" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
)
ORIGINAL = (
    f"<bib><mms_id>{MMS}</mms_id><record {NS}><dc:title>T</dc:title>"
    '<dc:identifier xsi:type="dcterms:URI">http://hdl.handle.net/11084/32100</dc:identifier>'
    "</record></bib>"
)


class FakeAlma:
    def __init__(self) -> None:
        self.bibs = {MMS: ORIGINAL}
        self.fail_puts = 0
        self.sets: dict[str, list[str]] = {}

    def get_bib_xml(self, mms_id: str) -> str:
        return self.bibs[mms_id]

    def put_bib_xml(self, mms_id: str, xml: str) -> str:
        if self.fail_puts:
            self.fail_puts -= 1
            raise AlmaUnavailable(503, "UNAVAILABLE", "try later", None)
        self.bibs[mms_id] = xml
        return xml

    def create_itemized_set(self, name: str, *, description: str = "", content: str = "IEP") -> dict:
        set_id = str(7600000000100000 + len(self.sets))
        self.sets[set_id] = []
        return {"id": set_id, "name": name}

    def add_set_members(self, set_id: str, ids) -> None:  # type: ignore[no-untyped-def]
        self.sets[set_id].extend(ids)


def create_child(*, session, set_id, skip_copy, parent_run_id):  # type: ignore[no-untyped-def]
    run = Run(set_id=set_id, skip_copy=skip_copy, parent_run_id=parent_run_id)
    session.add(run)
    session.flush()
    return run


@pytest.fixture
def run(engine):  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        parent = Run(set_id="7593466560004641")
        session.add(parent)
        session.flush()
        session.add(
            Record(
                run_id=parent.id,
                mms_id=MMS,
                pid="grinnell:32100",
                expected_handle="11084/32100",
                outcome="malformed_identifier",
            )
        )
        session.add(
            Record(
                run_id=parent.id,
                position=1,
                mms_id="991011507293904641",
                outcome="conflict",
                expected_handle="11084/99",
                alma_handle="11084/1742400039",
            )
        )
        return engine, parent.id


def test_backup_is_saved_before_the_put_and_reused_after_a_failure(run):
    engine, run_id = run
    alma, settings = FakeAlma(), load_settings()
    alma.fail_puts = 1
    with pytest.raises(AlmaUnavailable), session_scope(engine) as session:
        apply_repairs(session=session, run_id=run_id, alma=alma, settings=settings, create_child=create_child)
    with session_scope(engine) as session:
        backup = session.exec(select(BibBackup)).one()
        assert backup.original_xml == ORIGINAL and backup.applied_at is None
    assert alma.bibs[MMS] == ORIGINAL
    started: list[int] = []
    with session_scope(engine) as session:
        result = apply_repairs(
            session=session,
            run_id=run_id,
            alma=alma,
            settings=settings,
            create_child=create_child,
            enqueue=started.append,
        )
    assert result.repaired == [MMS] and started == [result.child_run_id]
    assert alma.sets[result.set_id] == [MMS]
    assert "xsi:type" not in alma.bibs[MMS]
    with session_scope(engine) as session:
        backups = session.exec(select(BibBackup)).all()
        assert len(backups) == 1 and backups[0].original_xml == ORIGINAL and backups[0].applied_at
        plan = plan_repairs(session=session, run_id=run_id, alma=alma, settings=settings)
    assert plan[0].reason.startswith("already repaired")


def test_restore_leaves_a_bib_edited_since_alone_unless_forced(run):
    engine, run_id = run
    alma, settings = FakeAlma(), load_settings()
    with session_scope(engine) as session:
        apply_repairs(session=session, run_id=run_id, alma=alma, settings=settings)
    alma.bibs[MMS] = alma.bibs[MMS].replace("<dc:title>T</dc:title>", "<dc:title>Edited</dc:title>")
    with session_scope(engine) as session:
        done = restore_run(session=session, run_id=run_id, alma=alma)
    assert [(d.restored, "changed in Alma" in d.note) for d in done] == [(False, True)]
    assert "Edited" in alma.bibs[MMS]
    with session_scope(engine) as session:
        done = restore_run(session=session, run_id=run_id, alma=alma, force=True)
    assert [d.restored for d in done] == [True] and alma.bibs[MMS] == ORIGINAL
