"""Pure repairs of the bib XML: only the handle identifier changes, everything else stays byte-identical."""

from __future__ import annotations

import pytest

from alma.dc import parse_dc
from outcomes.repair.bib_xml import NotRepairable, canonical_record, repair_bib_xml

HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<bib>\n  <mms_id>991011507142104641</mms_id>\n'
    "  <record_format>dcap01</record_format>\n"
    '  <record xmlns="http://alma.exlibrisgroup.com/dc/01GCL_INST" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
    "    <dc:title>Isotoma &amp; friends</dc:title>\n"
    '    <dcterms:subject xsi:type="dcterms:LCSH">Collembola</dcterms:subject>\n'
    "    <dc:identifier>grinnell:32100</dc:identifier>\n"
)
TAIL = "    <dginfo>kept</dginfo>\n  </record>\n</bib>"


def bib(*identifiers: str) -> str:
    return HEAD + "".join(f"    {i}\n" for i in identifiers) + TAIL


def usable(xml: str) -> str | None:
    record = parse_dc(xml)
    return record.expected_handle("11084") if record.problem("11084") is None else None


@pytest.mark.parametrize(
    "identifier",
    [
        '<dc:identifier xsi:type="dcterms:URI">http://hdl.handle.net/11084/32100</dc:identifier>',
        "<dc:identifier xsi:type='dcterms:URI' >http://hdl.handle.net/11084/32100</dc:identifier>",
        "<dc:identifier>https://hdl.handle.net/11084/32100</dc:identifier>",
        "<dc:identifier>hdl:11084/32100</dc:identifier>",
        "<dc:identifier>  http://hdl.handle.net/11084/ 32100 </dc:identifier>",
        "<dc:identifier>http://hdl.handle.net/11084/32100\n</dc:identifier>",
    ],
)
def test_malformed_forms_become_the_plain_url(identifier):
    original = bib(identifier)
    # Alma's reader takes https too; every other form is unusable
    assert (usable(original) is not None) == ("https" in identifier)
    repair = repair_bib_xml(original, prefix="11084", expected="11084/32100")
    assert repair.handle == "11084/32100" and repair.changes
    assert usable(repair.xml) == "11084/32100"
    line = "    <dc:identifier>http://hdl.handle.net/11084/32100</dc:identifier>\n"
    assert repair.xml == HEAD + line + TAIL  # every other byte unchanged
    assert "ns0:" not in repair.xml


def test_missing_handle_added_from_dcterms_identifier():
    original = bib(
        '<dcterms:identifier xsi:type="dcterms:URI">http://hdl.handle.net/11084/777</dcterms:identifier>'
    )
    repair = repair_bib_xml(original, prefix="11084")
    assert repair.handle == "11084/777"
    assert repair.changes == (
        "added dc:identifier http://hdl.handle.net/11084/777 "
        "(from dcterms:identifier http://hdl.handle.net/11084/777)",
    )
    assert (
        repair.xml.replace(
            "    <dc:identifier>http://hdl.handle.net/11084/777</dc:identifier>\n", "", 1
        ).replace("</dcterms:identifier>\n", "</dcterms:identifier>\n", 1)
        == original
    )
    assert usable(repair.xml) == "11084/777"


def test_missing_handle_derived_from_pid_by_the_configured_rule():
    original = bib()
    repair = repair_bib_xml(original, prefix="11084", pid="grinnell:32100")
    assert repair.handle == "11084/32100"
    assert "(from PID grinnell:32100)" in repair.changes[0]
    assert usable(repair.xml) == "11084/32100"
    other = repair_bib_xml(
        original, prefix="11084", pid="grinnell:32100", pid_pattern=r"^grinnell:(?P<suffix>\d+)$"
    )
    assert other.handle == "11084/32100"
    with pytest.raises(NotRepairable, match="HANDLE_PID_PATTERN"):
        repair_bib_xml(
            original, prefix="11084", pid="grinnell:abc", pid_pattern=r"^grinnell:(?P<suffix>\d+)$"
        )


def test_good_record_needs_no_change():
    original = bib("<dc:identifier>http://hdl.handle.net/11084/32100</dc:identifier>")
    repair = repair_bib_xml(original, prefix="11084")
    assert repair.changes == () and repair.xml == original


def test_disagreeing_handles_are_not_guessed():
    original = bib("<dc:identifier>hdl:11084/1</dc:identifier>", "<dc:identifier>hdl:11084/2</dc:identifier>")
    with pytest.raises(NotRepairable, match="several handles"):
        repair_bib_xml(original, prefix="11084")
    with pytest.raises(NotRepairable, match="expected 11084/9"):
        repair_bib_xml(bib("<dc:identifier>hdl:11084/1</dc:identifier>"), prefix="11084", expected="11084/9")


def test_canonical_record_ignores_formatting_only():
    a = bib("<dc:identifier>x</dc:identifier>")
    b = a.replace("\n    ", "").replace('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>', "")
    assert canonical_record(a) == canonical_record(b)
    assert canonical_record(a) != canonical_record(a.replace("kept", "changed"))
