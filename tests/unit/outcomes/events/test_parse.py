"""parse_event: the seeds' exact lines, copied-text variants, and fuzzing (never raises)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from outcomes.events.parse import fingerprint, parse_event

SEED_000 = [
    (
        "Record 991011507293904641 was skipped. Reason: BIB record MMS ID 991011507293904641 already has "
        "a handle identifier 11084/1742400039",
        "991011507293904641",
        "11084/1742400039",
    ),
    (
        "Record 991011507142104641 was skipped. Reason: BIB record MMS ID 991011507142104641 already has "
        "a handle identifier 11084/1742400245",
        "991011507142104641",
        "11084/1742400245",
    ),
]


def test_seed_000_lines_are_already_has_with_the_handle():
    for text, mms, handle in SEED_000:
        event = parse_event(text)
        assert (event.kind, event.mms_id, event.handle) == ("already_has", mms, handle)
        assert event.text == text


def test_seed_001_glued_date_and_row_number():
    event = parse_event(
        "1 Record 991011592644004641 was skipped. Reason: BIB record MMS ID "
        "991011592644004641 already has a handle identifier 11084/34662 05/08/2025"
    )
    assert (event.kind, event.mms_id, event.handle) == ("already_has", "991011592644004641", "11084/34662")
    assert event.text.startswith("Record 991011592644004641")


def test_wrapped_text_with_crlf_and_extra_spaces():
    event = parse_event(
        "Record 991011592643604641 was skipped. Reason: BIB record MMS ID\r\n"
        "991011592643604641   already has a handle identifier\t11084/34664\r\n"
    )
    assert (event.kind, event.handle) == ("already_has", "11084/34664")
    assert "\n" not in event.text and "  " not in event.text


def test_does_not_have_a_handle():
    event = parse_event(
        "Record 991011589491704641 was skipped. Reason: BIB record MMS ID 991011589491704641 "
        "does not have a handle identifier"
    )
    assert (event.kind, event.mms_id, event.handle) == ("no_handle", "991011589491704641", None)


def test_failed_keeps_reason():
    event = parse_event("Record 9910115 failed. Reason: Record is locked by another user")
    assert (event.kind, event.mms_id) == ("failed", "9910115")
    assert event.text.endswith("Record is locked by another user")


def test_other_text_kept_verbatim():
    event = parse_event("Job started by System")
    assert (event.kind, event.mms_id, event.text) == ("other", None, "Job started by System")


def test_already_has_resolver_url_form_is_normalized():
    event = parse_event(
        "Record 123456 was skipped. Reason: BIB record MMS ID 123456 already has a handle "
        "identifier http://hdl.handle.net/11084/99."
    )
    assert event.handle == "11084/99"


def test_fingerprint_ignores_whitespace_case_and_row_number():
    a = fingerprint("Record 123456 was skipped.  Reason: x")
    assert a == fingerprint("2 Record 123456 was skipped.\nReason: x ")
    assert a == fingerprint("record 123456 WAS skipped. Reason: x")
    assert a != fingerprint("Record 123457 was skipped. Reason: x")
    assert a != fingerprint("Record 123456 was skipped. Reason: x", "profile")


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_parse_event_never_raises(text):
    event = parse_event(text)
    assert event.kind in {"already_has", "no_handle", "failed", "other"}
    fingerprint(text)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"\A\d{0,3}\s*Record \d{6,20} was skipped\. Reason: .{0,40}\Z"))
def test_parse_event_on_event_shaped_text(text):
    event = parse_event(text)
    assert event.mms_id is not None
