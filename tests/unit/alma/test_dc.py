"""Dublin Core parsing: the seeds' identifier patterns, namespace pitfalls, and hostile XML."""

from __future__ import annotations

import pytest

from alma import DublinCoreError, parse_dc

NS = (
    'xmlns="http://alma.exlibrisgroup.com/dc/01GCL_INST" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
)


def record(*identifiers: str, title: str = "Grinnell College campus, 1910") -> str:
    return (
        f"<record {NS}><dc:title>{title}</dc:title>{''.join(identifiers)}"
        '<dginfo>kept</dginfo><dcterms:subject xsi:type="dcterms:LCSH">Campuses</dcterms:subject></record>'
    )


PID = "<dc:identifier>grinnell:99</dc:identifier>"
LEGACY = '<dcterms:identifier xsi:type="dcterms:URI">http://hdl.handle.net/11084/99</dcterms:identifier>'


def test_legacy_grinnell_record_before_the_copy_job() -> None:
    dc = parse_dc(record(PID, LEGACY))
    assert dc.pid == "grinnell:99"
    assert dc.title == "Grinnell College campus, 1910"
    assert dc.expected_handle("11084") == "11084/99"
    assert dc.needs_copy("11084") is True
    assert dc.problem("11084") is None
    legacy = [i for i in dc.identifiers if i.element == "dcterms:identifier"][0]
    assert (legacy.xsi_type, legacy.handle) == ("dcterms:URI", "11084/99")


def test_after_the_copy_a_plain_dc_identifier_is_usable() -> None:
    dc = parse_dc(record(PID, "<dc:identifier>http://hdl.handle.net/11084/99</dc:identifier>", LEGACY))
    assert dc.needs_copy("11084") is False
    assert dc.problem("11084") is None
    assert dc.expected_handle("11084") == "11084/99"


@pytest.mark.parametrize(
    ("identifier", "why"),
    [
        (
            '<dc:identifier xsi:type="dcterms:URI">http://hdl.handle.net/11084/99</dc:identifier>',
            'xsi:type="dcterms:URI" on dc:identifier',
        ),
        ("<dc:identifier>hdl:11084/99</dc:identifier>", "hdl: form"),
        ("<dc:identifier> http://hdl.handle.net/11084/99 </dc:identifier>", "stray spaces"),
        ("<dc:identifier>http://hdl.handle.net/11084/ 99</dc:identifier>", "spaces inside"),
        ("<dc:identifier>http:/hdl.handle.net/11084/99</dc:identifier>", "not an http://hdl.handle.net/ URL"),
        ("<dc:identifier>htp://hdl.handle.net/11084/99</dc:identifier>", "not an http://hdl.handle.net/ URL"),
        ("<dc:identifier>http//hdl.handle.net/11084/99</dc:identifier>", "not an http://hdl.handle.net/ URL"),
        ("<dc:identifier>11084/99</dc:identifier>", "not an http://hdl.handle.net/ URL"),
    ],
)
def test_handles_alma_cannot_use_are_malformed(identifier: str, why: str) -> None:
    dc = parse_dc(record(PID, identifier))
    problem = dc.problem("11084")
    assert problem is not None and problem.startswith("malformed: ") and why in problem
    assert dc.expected_handle("11084") == "11084/99"


def test_https_handle_url_is_usable() -> None:
    dc = parse_dc(record("<dc:identifier>https://hdl.handle.net/11084/32100</dc:identifier>"))
    assert dc.problem("11084") is None and dc.expected_handle("11084") == "11084/32100"


def test_no_handle_at_all_is_missing() -> None:
    dc = parse_dc(record(PID, "<dc:identifier>http://example.org/x</dc:identifier>"))
    assert dc.problem("11084") == "missing"
    assert dc.expected_handle("11084") is None and dc.needs_copy("11084") is False


def test_handle_under_another_prefix_is_not_ours() -> None:
    dc = parse_dc(record("<dc:identifier>http://hdl.handle.net/10107/100-1</dc:identifier>"))
    assert dc.expected_handle("11084") is None and dc.problem("11084") == "missing"
    assert dc.expected_handle("10107") == "10107/100-1" and dc.problem("10107") is None


def test_dc_identifier_wins_over_dcterms() -> None:
    dc = parse_dc(
        record(
            "<dc:identifier>http://hdl.handle.net/11084/1</dc:identifier>",
            "<dcterms:identifier>http://hdl.handle.net/11084/2</dcterms:identifier>",
        )
    )
    assert dc.expected_handle("11084") == "11084/1"


def test_bib_document_with_embedded_record_and_utf16_declaration() -> None:
    bib = (
        '<?xml version="1.0" encoding="UTF-16"?><bib><mms_id>991011507293904641</mms_id>'
        f"<record_format>dc</record_format>{record(PID, LEGACY, title='Café')}</bib>"
    )
    for xml in (bib, bib.encode("utf-8")):
        dc = parse_dc(xml)
        assert dc.title == "Café" and dc.expected_handle("11084") == "11084/99"
    assert parse_dc(bib.encode("utf-16")).pid == "grinnell:99"


def test_ns0_prefixes_and_undeclared_dc_prefixes() -> None:
    ns0 = (
        '<ns0:record xmlns:ns0="http://alma.exlibrisgroup.com/dc/01GCL_INST" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier>grinnell:7</dc:identifier>'
        "<dc:identifier>http://hdl.handle.net/11084/7</dc:identifier></ns0:record>"
    )
    assert parse_dc(ns0).expected_handle("11084") == "11084/7"
    bare = (
        "<record><dc:identifier>http://hdl.handle.net/11084/8</dc:identifier><dc:title>T</dc:title></record>"
    )
    dc = parse_dc(bare)
    assert dc.expected_handle("11084") == "11084/8" and dc.title == "T"


XXE = (
    '<?xml version="1.0"?><!DOCTYPE record [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    f"<record {NS}><dc:identifier>&xxe;</dc:identifier></record>"
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    "<record><title>&lol3;</title></record>"
)


@pytest.mark.parametrize("xml", [XXE, LAUGHS, XXE.encode()], ids=["xxe", "billion-laughs", "xxe-bytes"])
def test_hostile_xml_is_refused(xml) -> None:
    with pytest.raises(DublinCoreError, match="hostile"):
        parse_dc(xml)


@pytest.mark.parametrize(
    "xml",
    ["", "not xml", "<record><dc:title></record>", "<bib><mms_id>1</mms_id></bib>", b"\xff\xfe\x00broken"],
)
def test_unreadable_records_raise_dublin_core_error(xml) -> None:
    with pytest.raises(DublinCoreError) as info:
        parse_dc(xml)
    assert "\n" not in str(info.value)
