"""A fake Alma bib API for httpx.MockTransport: bibs kept as the exact text PUT, scripted misbehaviour.

``misbehave`` scripts the next PUTs: ``"timeout"`` / ``"500"`` (Alma takes the change, then the
answer is lost), ``"refuse"`` (500 without taking it), ``"ns0"`` (stored with ``ns0:`` prefixes,
as a damaging bulk edit did), ``"drop-title"`` (stored without its ``dc:title``).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: N817 - serializes test data only

import httpx
from defusedxml.ElementTree import fromstring

from alma import AlmaClient, RetryPolicy
from tests.unit.alma.fakes import make_client

MMS = "991011507142104641"
NS = (
    'xmlns="http://alma.exlibrisgroup.com/dc/01GCL_INST" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
)
ORIGINAL = (
    f"<bib><mms_id>{MMS}</mms_id><suppress_from_publishing>false</suppress_from_publishing>"
    f"<record {NS}><dc:title>Letter One</dc:title>"
    '<dc:identifier xsi:type="dcterms:URI">http://hdl.handle.net/11084/32100</dc:identifier>'
    "</record></bib>"
)
_DECLARATION = re.compile(r"^<\?xml[^>]*\?>")


class AlmaBibs:
    """The handler: ``bibs`` maps an MMS id to the bib text Alma holds; ``puts`` counts PUTs."""

    def __init__(self) -> None:
        self.bibs = {MMS: ORIGINAL}
        self.misbehave: list[str] = []
        self.puts = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        mms_id = request.url.path.rsplit("/", 1)[-1]
        if request.method == "GET":
            return httpx.Response(200, text=self.bibs[mms_id], headers={"content-type": "application/xml"})
        self.puts += 1
        sent = _DECLARATION.sub("", request.content.decode("utf-8"))
        how = self.misbehave.pop(0) if self.misbehave else ""
        if how == "refuse":
            return httpx.Response(500, text="<web_service_result/>")
        self.bibs[mms_id] = _mangle(sent, how)
        if how == "timeout":
            raise httpx.ReadTimeout("the answer never came", request=request)
        if how == "500":
            return httpx.Response(500, text="<web_service_result/>")
        return httpx.Response(200, text=self.bibs[mms_id], headers={"content-type": "application/xml"})

    def client(self) -> AlmaClient:
        # one attempt: what happens to a PUT is exactly what ``misbehave`` scripts
        return make_client(self, retry=RetryPolicy(attempts=1, sleep=lambda s: None))


def _mangle(sent: str, how: str) -> str:
    if how not in ("ns0", "drop-title"):
        return sent
    root = fromstring(sent)
    record = next(el for el in root if el.tag.endswith("record"))
    if how == "drop-title":
        title = next(el for el in record if el.tag.endswith("title"))
        record.remove(title)
    start = re.search(r"<record\b", sent)
    end = sent.rindex("</record>") + len("</record>")
    assert start is not None
    return sent[: start.start()] + ET.tostring(record, encoding="unicode") + sent[end:]
