"""Fuzz tests (issue 13): each parser, fed anything, raises only its documented error.

Bounded: ``max_examples`` per test and a deadline per example. ``EXAMPLES`` counts the examples
run; ``pytest -s`` prints the count at the end of the module. The events parsers (CSV, text, XLSX)
are fuzzed with the events package.
"""

from __future__ import annotations

import json
from collections import Counter
from xml.sax.saxutils import escape

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alma.dc import parse_dc
from alma.errors import AlmaApiError, DublinCoreError, error_from_response, parse_error_body
from handles.syntax import HandleSyntaxError, normalize_handle, parse_handle, same_handle
from handles.targets import matches_expected, parse_target, target_matches, url_problem

EXAMPLES: Counter[str] = Counter()
FUZZ = settings(
    max_examples=400,
    # no per-example deadline: on a loaded 2-core machine one slow example is not a finding (a hang
    # is still caught by pytest-timeout); derandomized, so CI meets the same examples every run
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

NS = (
    'xmlns="http://alma.exlibrisgroup.com/dc/01GCL_INST" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
)
HOSTILE_PIECES = [
    '<?xml version="1.0" encoding="UTF-16"?>',
    '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>',
    "&x;",
    "&b;",
    "<![CDATA[hdl:11084/1]]>",
    "<bib>",
    "</bib>",
    "<record>",
    f"<record {NS}>",
    "</record>",
    '<dc:identifier xsi:type="dcterms:URI">',
    "<dc:identifier>",
    "</dc:identifier>",
    "<dcterms:identifier>",
    "</dcterms:identifier>",
    "<ns0:identifier>",
    "http://hdl.handle.net/11084/99",
    "grinnell:99",
    "\x00",
    "\ufeff",
]


@st.composite
def dc_documents(draw: st.DrawFn) -> str | bytes:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.text(max_size=400))
    if kind == 1:
        return draw(st.binary(max_size=400))
    if kind == 2:  # soup of XML pieces and text
        parts = draw(st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=30)), max_size=25))
        return "".join(parts)
    # a well-formed record with fuzzed identifier texts and attributes
    values = draw(st.lists(st.text(max_size=60), max_size=6))
    xsi = draw(st.sampled_from(["", ' xsi:type="dcterms:URI"', ' xsi:type="x"']))
    elements = draw(
        st.lists(
            st.sampled_from(["dc:identifier", "dcterms:identifier", "dc:title"]),
            min_size=len(values),
            max_size=len(values),
        )
    )
    body = "".join(f"<{el}{xsi}>{escape(v)}</{el}>" for el, v in zip(elements, values, strict=True))
    doc = f"<record {NS}>{body}</record>"
    if draw(st.booleans()):
        doc = f"<bib><mms_id>1</mms_id>{doc}</bib>"
    return doc.encode(draw(st.sampled_from(["utf-8", "utf-16"]))) if draw(st.booleans()) else doc


@FUZZ
@given(doc=dc_documents(), prefix=st.sampled_from(["11084", "20.500.1", "x"]))
def test_fuzz_dublin_core(doc: str | bytes, prefix: str) -> None:
    EXAMPLES["Dublin Core (alma.dc.parse_dc)"] += 1
    try:
        record = parse_dc(doc)
    except DublinCoreError as exc:
        assert str(exc)
        return
    # whatever was read, the questions asked of it are answered without an error
    record.expected_handle(prefix)
    record.needs_copy(prefix)
    problem = record.problem(prefix)
    assert problem is None or problem == "missing" or problem.startswith("malformed")


HANDLE_PIECES = [
    "11084",
    "/",
    "hdl:",
    "info:hdl/",
    "urn:hdl:",
    "https://hdl.handle.net/",
    "doi.org/",
    "0.NA/",
    "%2F",
    "%",
    "?x=1",
    "#f",
    " ",
    "\t",
    "\x00",
    "ﬀ",
    "99",
    "a.b",
    "ftp://x/",
]


@FUZZ
@given(
    text=st.one_of(
        st.text(max_size=80),
        st.lists(st.one_of(st.sampled_from(HANDLE_PIECES), st.text(max_size=8)), max_size=10).map("".join),
    ),
    prefix=st.one_of(st.none(), st.sampled_from(["11084", "20.500.14725"])),
)
def test_fuzz_handle_syntax(text: str, prefix: str | None) -> None:
    EXAMPLES["handle syntax (handles.syntax)"] += 1
    try:
        handle = parse_handle(text, expected_prefix=prefix)
    except HandleSyntaxError as exc:
        assert "\n" not in str(exc) or "\n" in text
        assert normalize_handle(text, expected_prefix=prefix) is None
        return
    prefix_part, _, suffix = handle.partition("/")
    assert prefix_part and suffix
    assert normalize_handle(text, expected_prefix=prefix) == handle
    assert same_handle(handle, handle)


URL_PIECES = [
    "http://",
    "https://",
    "ftp://",
    "[",
    "]",
    "[::1]",
    "[x",
    ":",
    ":99999",
    ":80",
    "@",
    "u:p@",
    "primo.example",
    "/discovery/fulldisplay",
    "/alma",
    "991",
    "/01GCL_INST:GCL",
    "%3A",
    "?docid=alma",
    "&vid=",
    "#",
    "\n",
    " ",
    "\x00",
    "é",
]


@FUZZ
@given(
    url=st.one_of(
        st.none(),
        st.text(max_size=80),
        st.lists(st.one_of(st.sampled_from(URL_PIECES), st.text(max_size=6)), max_size=12).map("".join),
    ),
    mms=st.one_of(st.just("991"), st.text(max_size=10)),
)
def test_fuzz_primo_targets(url: str | None, mms: str) -> None:
    EXAMPLES["Primo targets (handles.targets)"] += 1
    ref = parse_target(url)  # documented: None when it is not a URL, never an exception
    problem = url_problem(url)
    assert problem is None or isinstance(problem, str)
    if problem is not None and url and url.strip():
        assert ref is None or "white space" in problem or "port" in problem.lower()
    expected = "https://primo.example/discovery/fulldisplay/alma991/01GCL_INST:GCL"
    assert isinstance(matches_expected(url, expected), bool)
    assert isinstance(matches_expected(expected, url or "x"), bool)
    assert isinstance(target_matches(url, mms_id=mms, view="01GCL_INST:GCL", host="primo.example"), bool)


def _json_bodies() -> st.SearchStrategy[str]:
    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=40))
    value = st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=12), inner, max_size=3)
        ),
        max_leaves=8,
    )
    shaped = st.fixed_dictionaries(
        {
            "errorList": st.one_of(
                value,
                st.fixed_dictionaries(
                    {
                        "error": st.one_of(
                            value,
                            st.lists(
                                st.dictionaries(
                                    st.sampled_from(["errorCode", "errorMessage", "trackingId"]), value
                                ),
                                max_size=3,
                            ),
                        )
                    }
                ),
            )
        }
    )
    return st.one_of(
        value.map(json.dumps), shaped.map(json.dumps), st.text(max_size=60).map(lambda t: "{" + t)
    )


def _xml_bodies() -> st.SearchStrategy[str]:
    field = st.text(max_size=40)
    parts = st.lists(
        st.one_of(
            st.sampled_from(
                [
                    '<?xml version="1.0"?>',
                    '<web_service_result xmlns="http://com/exlibris/urm/general/xmlbeans">',
                    "<errorList>",
                    "</errorList>",
                    "<error>",
                    "</error>",
                    "<errorCode>",
                    "</errorCode>",
                    "<errorMessage>",
                    "</errorMessage>",
                    "<trackingId>",
                    "</trackingId>",
                    "</web_service_result>",
                    '<!DOCTYPE x [<!ENTITY e "e">]>',
                    "&e;",
                    "<![CDATA[",
                    "]]>",
                ]
            ),
            field,
        ),
        max_size=20,
    ).map("".join)
    built = st.tuples(field, field, field).map(
        lambda t: (
            '<web_service_result xmlns="http://com/exlibris/urm/general/xmlbeans"><errorList><error>'
            f"<errorCode>{escape(t[0])}</errorCode><errorMessage>{escape(t[1])}</errorMessage>"
            f"<trackingId>{escape(t[2])}</trackingId></error></errorList></web_service_result>"
        )
    )
    return st.one_of(parts, built)


@FUZZ
@given(body=st.one_of(_json_bodies(), _xml_bodies(), st.text(max_size=100)), status=st.integers(400, 599))
def test_fuzz_alma_error_bodies(body: str, status: int) -> None:
    EXAMPLES["Alma error bodies, JSON and XML (alma.errors)"] += 1
    code, message, tracking = parse_error_body(body)  # documented: Nones when unreadable, never raises
    for value in (code, message, tracking):
        assert value is None or isinstance(value, str)
    response = httpx.Response(status, text=body, request=httpx.Request("GET", "https://alma.test/x"))
    exc = error_from_response(response, operation="fuzz")
    assert isinstance(exc, AlmaApiError)
    line = str(exc)
    assert "\n" not in line and "\x1b" not in line and len(line) < 1000
    for value in (exc.error_code, exc.error_message, exc.tracking_id):
        assert value is None or ("\n" not in value and "\x00" not in value)


@pytest.fixture(scope="module", autouse=True)
def _report_examples():
    yield
    total = sum(EXAMPLES.values())
    lines = [f"  {name}: {count}" for name, count in sorted(EXAMPLES.items())]
    print(f"\nfuzz examples run: {total}\n" + "\n".join(lines))
