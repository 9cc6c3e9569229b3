"""Sets and bibs operations of :class:`alma.client.AlmaClient` (kept apart to keep modules small)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from alma._ids import check_mms_id, check_set_id
from alma.errors import DublinCoreError
from alma.models import Bib, as_list

if TYPE_CHECKING:
    import httpx

MEMBERS_PER_CALL = 1000
BIBS_PER_CALL = 100
# The real call of alma-api.md §5 (change-bib-by-request.py).
PUT_BIB_PARAMS = {
    "validate": "true",
    "override_warning": "true",
    "override_lock": "true",
    "stale_version_check": "false",
    "check_match": "false",
}
_XML_HEADERS = {"Accept": "application/xml", "Content-Type": "application/xml; charset=utf-8"}
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


class CatalogMixin:
    """Sets and bibs; needs ``_request``, ``_get_json``, ``_paged`` and ``_json`` from the client."""

    if TYPE_CHECKING:

        def _request(
            self, method: str, path: str, *, idempotent: bool = True, **kw: Any
        ) -> httpx.Response: ...
        def _get_json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]: ...
        def _paged(
            self, path: str, key: str, params: dict[str, Any] | None = None
        ) -> Iterator[dict[str, Any]]: ...
        @staticmethod
        def _json(response: httpx.Response) -> dict[str, Any]: ...

    # --- sets -----------------------------------------------------------------------------

    def get_set(self, set_id: str) -> dict[str, Any]:
        """The set; :class:`~alma.errors.AlmaNotFound` (60107) for an unknown id."""
        return self._get_json(f"/conf/sets/{check_set_id(set_id)}")

    def iter_set_members(self, set_id: str) -> Iterator[dict[str, Any]]:
        """``{"id", "description"}`` for every member, read in pages of 100."""
        path = f"/conf/sets/{check_set_id(set_id)}/members"
        for member in self._paged(path, "member"):
            yield {"id": str(member.get("id", "")), "description": str(member.get("description") or "")}

    def create_itemized_set(
        self, name: str, *, description: str = "", content: str = "IEP"
    ) -> dict[str, Any]:
        """Create an empty itemized set of ``content`` (e.g. IEP, BIB_MMS); returns Alma's set.

        Not retried after an ambiguous failure (a second POST could create a second set).
        """
        if not name or not name.strip():
            raise ValueError("a set needs a name")
        body = {
            "name": name.strip(),
            "description": description,
            "type": {"value": "ITEMIZED"},
            "content": {"value": content},
            "private": {"value": "false"},
            "status": {"value": "ACTIVE"},
            "origin": {"value": "UI"},
        }
        return self._json(self._request("POST", "/conf/sets", idempotent=False, json=body))

    def add_set_members(self, set_id: str, mms_ids: Iterable[str]) -> None:
        """Add members, at most 1000 per call (Alma's limit); raises on the first refused chunk."""
        path = f"/conf/sets/{check_set_id(set_id)}"
        ids = [check_mms_id(m) for m in mms_ids]
        for start in range(0, len(ids), MEMBERS_PER_CALL):
            chunk = ids[start : start + MEMBERS_PER_CALL]
            body = {"members": {"member": [{"id": m} for m in chunk]}}
            self._request("POST", path, idempotent=False, params={"op": "add_members"}, json=body)

    def delete_set(self, set_id: str) -> None:
        """Delete a set (its records stay; only the set goes); 204 from Alma."""
        self._request("DELETE", f"/conf/sets/{check_set_id(set_id)}")

    # --- bibs -----------------------------------------------------------------------------

    def get_bibs(self, mms_ids: Sequence[str]) -> list[Bib]:
        """The bibs, 100 per call, in the order asked; ids Alma does not return are left out."""
        wanted = list(dict.fromkeys(check_mms_id(m) for m in mms_ids))
        found: dict[str, Bib] = {}
        for start in range(0, len(wanted), BIBS_PER_CALL):
            chunk = wanted[start : start + BIBS_PER_CALL]
            data = self._get_json("/bibs", {"mms_id": ",".join(chunk), "view": "full", "expand": "None"})
            for item in as_list(data.get("bib")):
                bib = Bib.from_alma(item)
                found[bib.mms_id] = bib
        return [found[m] for m in wanted if m in found]

    def get_bib_xml(self, mms_id: str) -> str:
        """The full ``<bib>`` XML document (what a swap-all PUT must send back)."""
        response = self._request(
            "GET",
            f"/bibs/{check_mms_id(mms_id)}",
            params={"view": "full", "expand": "None"},
            headers=_XML_HEADERS,
        )
        return response.text

    def put_bib_xml(self, mms_id: str, bib_xml: str) -> str:
        """Replace the bib with ``bib_xml`` (swap-all PUT, XML only); returns Alma's ``<bib>`` XML.

        Raises :class:`~alma.errors.DublinCoreError` before sending when ``bib_xml`` is not
        well-formed. An ``encoding=`` declaration is rewritten to the UTF-8 actually sent.
        """
        check_mms_id(mms_id)
        text = _DECLARATION.sub("", bib_xml or "", count=1).lstrip()
        try:
            fromstring(text, forbid_dtd=True)
        except (ParseError, DefusedXmlException, ValueError) as exc:
            raise DublinCoreError(f"bib {mms_id}: not well-formed XML, not sent ({exc})") from exc
        payload = ('<?xml version="1.0" encoding="UTF-8"?>' + text).encode("utf-8")
        response = self._request(
            "PUT", f"/bibs/{mms_id}", params=PUT_BIB_PARAMS, content=payload, headers=_XML_HEADERS
        )
        return response.text
