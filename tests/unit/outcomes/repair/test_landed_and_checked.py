"""Issue 13 items 1–2 and issue 11 item 7, against a fake Alma over httpx.MockTransport.

A repair that reached Alma but was never recorded (timeout, 5xx, a kill between the PUT and the
commit) can always be undone; restore puts back only ``<record>``, keeping edits made outside it;
every repair is read back and put back when Alma stored something other than intended.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from alma.errors import AlmaError
from config.settings import load_settings
from outcomes.repair.bib_xml import canonical_record
from outcomes.repair.metadata import apply_repairs, plan_repairs
from outcomes.repair.restore import restore_run
from store.db import session_scope
from store.models import BibBackup, Record, Run
from tests.unit.outcomes.repair.alma_bibs import MMS, ORIGINAL, AlmaBibs


class Killed(BaseException):
    """The process "dies" between Alma taking the PUT and the database commit."""


class DiesAfterPut:
    def __init__(self, alma) -> None:  # type: ignore[no-untyped-def]
        self.alma = alma

    def get_bib_xml(self, mms_id: str) -> str:
        return self.alma.get_bib_xml(mms_id)

    def put_bib_xml(self, mms_id: str, xml: str) -> str:
        self.alma.put_bib_xml(mms_id, xml)
        raise Killed


class WithSets(DiesAfterPut):
    """The real client's bib calls, and sets kept here (not what these tests are about)."""

    def put_bib_xml(self, mms_id: str, xml: str) -> str:
        return self.alma.put_bib_xml(mms_id, xml)

    def create_itemized_set(self, name: str, *, description: str = "") -> dict:
        return {"id": "7600000000100000", "name": name}

    def add_set_members(self, set_id: str, ids) -> None:  # type: ignore[no-untyped-def]
        self.members = list(ids)


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
        return engine, parent.id


def apply(engine, run_id, alma):  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return apply_repairs(session=session, run_id=run_id, alma=alma, settings=load_settings())


def restore(engine, run_id, alma, **kw):  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return restore_run(session=session, run_id=run_id, alma=alma, **kw)


@pytest.mark.parametrize("how", ["timeout", "500", "dies"])
def test_a_repair_alma_took_but_nobody_recorded_is_undone_by_restore(run, how):
    engine, run_id = run
    fake = AlmaBibs()
    alma = fake.client()
    if how == "dies":
        with pytest.raises(Killed):
            apply(engine, run_id, DiesAfterPut(alma))
    else:
        fake.misbehave = [how]
        with pytest.raises(AlmaError):
            apply(engine, run_id, alma)
    assert "xsi:type" not in fake.bibs[MMS]  # Alma holds the repair
    with session_scope(engine) as session:
        backup = session.exec(select(BibBackup)).one()
        assert (backup.state, backup.applied_at, backup.original_xml) == ("attempted", None, ORIGINAL)
        assert backup.attempted_at is not None and backup.repaired_xml
    done = restore(engine, run_id, alma)
    assert [(d.mms_id, d.restored) for d in done] == [(MMS, True)], done
    assert fake.bibs[MMS] == ORIGINAL  # byte for byte
    assert restore(engine, run_id, alma) == []  # once


def test_an_attempt_alma_refused_needs_no_put_back(run):
    engine, run_id = run
    fake = AlmaBibs()
    alma = fake.client()
    fake.misbehave = ["refuse"]
    with pytest.raises(AlmaError):
        apply(engine, run_id, alma)
    puts = fake.puts
    done = restore(engine, run_id, alma)
    assert [(d.restored, d.note) for d in done] == [(False, "Alma holds the original: nothing to put back")]
    assert fake.puts == puts and fake.bibs[MMS] == ORIGINAL


def test_applying_again_records_an_attempt_that_had_landed(run):
    engine, run_id = run
    fake = AlmaBibs()
    alma = fake.client()
    fake.misbehave = ["timeout"]
    with pytest.raises(AlmaError):
        apply(engine, run_id, alma)
    with session_scope(engine) as session:
        plan = plan_repairs(session=session, run_id=run_id, alma=alma, settings=load_settings())
        assert plan[0].reason.startswith("already repaired: an earlier attempt reached Alma")
        result = apply_repairs(
            session=session,
            run_id=run_id,
            alma=WithSets(alma),
            settings=load_settings(),
            create_child=create_child,
        )
    assert result.repaired == [MMS] and result.child_run_id is not None
    with session_scope(engine) as session:
        backup = session.exec(select(BibBackup)).one()
        assert backup.state == "applied" and backup.applied_at and backup.child_run_id == result.child_run_id


def test_restore_keeps_what_staff_changed_outside_the_record(run):
    engine, run_id = run
    fake = AlmaBibs()
    alma = fake.client()
    apply(engine, run_id, alma)
    repaired = fake.bibs[MMS]
    fake.bibs[MMS] = repaired.replace("<suppress_from_publishing>false<", "<suppress_from_publishing>true<")
    done = restore(engine, run_id, alma)
    assert [d.restored for d in done] == [True]
    assert fake.bibs[MMS] == ORIGINAL.replace(
        "<suppress_from_publishing>false<", "<suppress_from_publishing>true<"
    )


@pytest.mark.parametrize(
    "how, says",
    [("ns0", "namespace prefixes ns0: added"), ("drop-title", "lost: dc:title Letter One")],
)
def test_a_repair_alma_stored_otherwise_is_put_back_and_reported(run, how, says):
    engine, run_id = run
    fake = AlmaBibs()
    alma = fake.client()
    fake.misbehave = [how]
    with session_scope(engine) as session:
        result = apply_repairs(
            session=session, run_id=run_id, alma=alma, settings=load_settings(), create_child=create_child
        )
    assert result.repaired == [] and result.undone == [MMS] and result.child_run_id is None
    assert canonical_record(fake.bibs[MMS]) == canonical_record(ORIGINAL) and "ns0" not in fake.bibs[MMS]
    assert fake.bibs[MMS] == ORIGINAL
    with session_scope(engine) as session:
        record = session.exec(select(Record)).one()
        expected = "repair undone: Alma stored something other than intended ("
        assert record.detail.startswith(expected) and says in record.detail, record.detail
        backup = session.exec(select(BibBackup)).one()
        assert backup.state == "undone" and backup.restored_at and "ns0:" in (backup.stored_xml or "ns0:")
    assert [i.reason for i in result.items] == [record.detail]
    assert restore(engine, run_id, alma) == []


def test_a_bib_alma_now_holds_without_a_record_is_left_alone(run):
    engine, run_id = run
    fake = AlmaBibs()
    alma = fake.client()
    apply(engine, run_id, alma)
    fake.bibs[MMS] = f"<bib><mms_id>{MMS}</mms_id></bib>"
    done = restore(engine, run_id, alma, force=True)
    assert [(d.restored, d.note) for d in done] == [
        (False, "left alone: the bib has no <record> element to put back")
    ]
