"""The demo sample's issue-11 records: two claiming one handle, a MARC 21 record, a suppressed one."""

from __future__ import annotations

from alma.dc import parse_dc
from handles.syntax import handle_key
from sandbox import seed
from sandbox.jobs import COPY, MIGRATION, PROFILE
from sandbox.state import SandboxState
from tests.unit.sandbox.test_state import Clock, clock, finish, state  # noqa: F401 - fixtures


def _by_case(sandbox: SandboxState) -> dict[str, str]:
    return {sandbox.record(m).case: m for m in sandbox.member_ids(seed.DEMO_SET_ID)}


def test_demo_holds_a_shared_handle_a_marc_record_and_a_suppressed_record(state: SandboxState) -> None:  # noqa: F811
    cases = _by_case(state)
    a, b = (parse_dc(state.record(cases[c]).xml).expected_handle("11084") for c in ("dup_a", "dup_b"))
    assert a == "11084/DupA" and b == "11084/dupa" and a != b and handle_key(a) == handle_key(b)
    assert seed.bib_flags(cases["marc21"]) == ("marc21", False)
    assert seed.bib_flags(cases["unpublished"]) == ("dcap01", True)
    assert seed.bib_flags(cases["dup_a"]) == ("dcap01", False)
    assert seed.bib_flags(seed.SEED_99) == ("dcap01", False)


def test_bib_answers_carry_format_and_suppression(state: SandboxState) -> None:  # noqa: F811
    from sandbox.bib_routes import bib_xml

    cases = _by_case(state)
    assert "<suppress_from_publishing>true</suppress_from_publishing>" in bib_xml(
        state.record(cases["unpublished"])
    )
    assert "<record_format>marc21</record_format>" in bib_xml(state.record(cases["marc21"]))
    assert "<record_format>dcap01</record_format>" in bib_xml(state.record(cases["dup_b"]))


def test_the_profile_registers_no_handle_for_a_suppressed_record(state: SandboxState, clock: Clock) -> None:  # noqa: F811
    cases = _by_case(state)
    for job in (COPY, MIGRATION, PROFILE):
        finish(state, clock, job, seed.DEMO_SET_ID)
    suppressed = state.record(cases["unpublished"])
    assert suppressed.alma_handle  # Alma took the handle from the metadata
    assert state.registry.get(suppressed.alma_handle) is None  # but it does not resolve yet
    published = state.record(cases["dup_a"])
    assert state.registry.get(published.alma_handle) is not None
