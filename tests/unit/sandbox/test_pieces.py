"""The sandbox's pieces: DC edits, limits, Events Report exports, switches, seed."""

from __future__ import annotations

import io

import pytest

from sandbox import dc, reports, seed
from sandbox.config import SandboxConfig
from sandbox.jobs import JOBS_BY_ID, Event, Instance
from sandbox.limits import AlmaGate


def record(*idents: dc.Identifier) -> str:
    return dc.render_record(title="T & <t>", pid="grinnell:1", identifiers=list(idents))


def test_copy_carries_attributes_and_does_not_duplicate() -> None:
    xml = record(dc.Identifier("dcterms:identifier", "http://hdl.handle.net/11084/1", "dcterms:URI"))
    copied, added = dc.copy_dcterms_identifiers(xml)
    assert added == 1
    dcs = [i for i in dc.identifiers(copied) if i.element == "dc:identifier"]
    assert dcs[-1] == dc.Identifier("dc:identifier", "http://hdl.handle.net/11084/1", "dcterms:URI")
    again, added_again = dc.copy_dcterms_identifiers(copied)
    assert added_again == 0 and again == copied
    assert dc.title(copied) == "T & <t>"
    assert copied.startswith('<record xmlns="http://alma.exlibrisgroup.com/dc/01GCL_INST"')


@pytest.mark.parametrize(
    ("text", "xsi", "usable"),
    [
        ("http://hdl.handle.net/11084/7", None, "11084/7"),
        ("https://hdl.handle.net/11084/7", None, "11084/7"),
        ("http://hdl.handle.net/11084/7", "dcterms:URI", None),
        ("hdl:11084/7", None, None),
        ("http://hdl.handle.net/ 11084/7", None, None),
        ("http//hdl.handle.net/11084/7", None, None),
        ("http://hdl.handle.net/10000/7", None, None),
    ],
)
def test_usable_handle(text: str, xsi: str | None, usable: str | None) -> None:
    assert dc.usable_handle(record(dc.Identifier("dc:identifier", text, xsi)), "11084") == usable


def test_dcterms_identifier_alone_is_not_usable() -> None:
    xml = record(dc.Identifier("dcterms:identifier", "http://hdl.handle.net/11084/7", None))
    assert dc.usable_handle(xml, "11084") is None


def test_parse_record_rejects_hostile_and_wrong_xml() -> None:
    with pytest.raises(dc.RecordXmlError):
        dc.parse_record('<!DOCTYPE x [<!ENTITY a "b">]><record>&a;</record>')
    with pytest.raises(dc.RecordXmlError):
        dc.parse_record("<bib/>")


def test_gate_per_second_window_and_quota() -> None:
    config = SandboxConfig(rate_limit_per_second=3, daily_quota=5)
    gate = AlmaGate()
    verdicts = [gate.admit(config, "k", 100.0 + i * 0.1) for i in range(4)]
    assert [v.fault is None for v in verdicts] == [True, True, True, False]
    assert verdicts[3].fault[1] == "PER_SECOND_THRESHOLD" and verdicts[2].remaining == 2
    assert gate.admit(config, "other-key", 100.35).fault is None  # per key
    assert gate.admit(config, "k", 101.05).fault is None  # the window slid
    assert gate.admit(config, "k", 102.0).fault[1] == "DAILY_THRESHOLD"


def test_gate_bursts() -> None:
    config = SandboxConfig(burst_429=1, burst_5xx=2, burst_5xx_landed=False)
    gate = AlmaGate()
    assert gate.admit(config, "k", 1.0).fault[0] == 429
    assert gate.admit(config, "k", 1.1).fault[0] == 500
    config.burst_5xx_landed = True
    landed = gate.admit(config, "k", 1.2)
    assert landed.fault is None and landed.fail_after
    assert gate.admit(config, "k", 1.3).fault is None and config.burst_5xx == 0


def test_config_validation() -> None:
    config = SandboxConfig()
    config.update({"events_api": "true", "job_seconds": "0.5", "fail_job": {"M48402": "FAILED"}})
    assert config.events_api is True and config.job_seconds == 0.5
    for bad in ({"nope": 1}, {"job_seconds": -1}, {"fail_job": {"M1": "BROKEN"}}, {"burst_429": True}):
        with pytest.raises(ValueError):
            config.update(bad)
    assert config.target_url("9912") == "http://127.0.0.1:8780/discovery/fulldisplay/alma9912/01GCL_INST:GCL"


def _instance() -> Instance:
    inst = Instance(
        id="7601000010004641",
        job=JOBS_BY_ID["M48402"],
        name="n",
        set_id="1",
        parameters=[],
        submitted_by={"value": "API"},
        via_api=True,
        submit_time=1759250149.0,
        duration=1,
    )
    inst.events = [Event("1", "991", "Record 991 was skipped. Reason: x, y", 1759250150.0)]
    return inst


def test_reports() -> None:
    inst = _instance()
    assert reports.ui_date(1759250150.0) == "09/30/2025 11:35:50 CDT"
    csv_text = reports.as_csv(inst).decode("utf-8-sig").splitlines()
    assert csv_text == [
        "Event Description,Event Date,Severity,Module,Creator",
        '"Record 991 was skipped. Reason: x, y",09/30/2025 11:35:50 CDT,Information,Repository,System',
    ]
    assert reports.as_text(inst).decode().splitlines()[1] == (
        "1 Record 991 was skipped. Reason: x, y\t09/30/2025 11:35:50 CDT\tInformation\tRepository\tSystem"
    )
    from openpyxl import load_workbook

    rows = list(load_workbook(io.BytesIO(reports.as_xlsx(inst))).active.iter_rows(values_only=True))
    assert rows[1][0].startswith("Record 991")


def test_seed_is_deterministic_and_lazy() -> None:
    mms = seed.mms_for(seed.GROUP_ALL, 123)
    assert seed.generated_record(mms) == seed.generated_record(mms)
    assert seed.generated_record(seed.mms_for(seed.GROUP_ALL, seed.ALL_DIGITAL_SIZE)) is None
    assert seed.generated_record("123") is None
    sets = {s.id: s for s in seed.seed_sets()}
    first, every = sets[seed.FIRST_BATCH_SET_ID].members, sets[seed.ALL_DIGITAL_SET_ID].members
    assert every[: len(first)] == first
    handles = [h for h, _ in seed.preexisting_handles()]
    assert len(handles) == len(set(handles))
