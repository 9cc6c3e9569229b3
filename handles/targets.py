"""Where a handle must point, and whether the URL it points to is that place.

Two URLs name the same Primo record when they carry the same MMS id and, where both give one,
the same view. Primo writes a record in two forms: the path form
``/discovery/fulldisplay/alma{mms_id}/{view}`` and the query form
``/discovery/fulldisplay?docid=alma{mms_id}&vid={view}`` (also ``/primo-explore/…``). Scheme
(http/https), host case, a default port, extra query parameters and percent-encoding of the view
(``01GCL_INST%3AGCL``) do not matter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from config.settings import Settings

__all__ = [
    "TargetRef",
    "expected_target",
    "matches_expected",
    "parse_target",
    "target_matches",
    "url_problem",
]

_PATH_FORM = re.compile(r"/fulldisplay/alma(?P<mms>\d+)(?:/(?P<view>[^/?#]+))?/?$", re.IGNORECASE)
_DOCID = re.compile(r"^alma(?P<mms>\d+)$", re.IGNORECASE)


@dataclass(frozen=True)
class TargetRef:
    """What identifies a Primo record page: its host, MMS id and view (each may be unknown)."""

    host: str | None
    mms_id: str | None
    view: str | None


def expected_target(settings: Settings, mms_id: str) -> str:
    """The URL the handle of record ``mms_id`` must point to (``HANDLE_TARGET_TEMPLATE``)."""
    return settings.target_url(mms_id)


def _host(netloc: str) -> str | None:
    host = netloc.rsplit("@", 1)[-1].lower()
    for default in (":80", ":443"):
        if host.endswith(default):
            host = host[: -len(default)]
    return host or None


def url_problem(url: str | None) -> str | None:
    """Why ``url`` cannot be read as a URL at all (e.g. ``http://[x``), or None when it can.

    A URL that can be read but is not a Primo page (``ftp://…``, another site) is no problem here:
    it is a wrong target, not an unreadable one.
    """
    if not isinstance(url, str) or not url.strip():
        return "no URL"
    text = url.strip()
    if re.search(r"[\x00-\x20\x7f]", text):
        return "white space or control characters inside"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number or out of range
    except ValueError as exc:
        return str(exc) or "not a URL"
    return None


def parse_target(url: str | None) -> TargetRef | None:
    """Read host, MMS id and view from a Primo URL in either form; None when it is not a URL.

    Never raises: a value that cannot be read (``http://[x``) is not a URL.
    """
    if not url or not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    host = _host(parts.netloc)
    query = parse_qs(parts.query, keep_blank_values=False)
    mms = view = None
    match = _PATH_FORM.search(parts.path)
    if match:
        mms = match.group("mms")
        view = unquote(match.group("view")) if match.group("view") else None
    docid = next(iter(query.get("docid", [])), None)
    if mms is None and docid:
        doc = _DOCID.match(docid.strip())
        mms = doc.group("mms") if doc else None
    vid = next(iter(query.get("vid", [])), None)
    if vid and view is None:
        view = vid.strip()
    return TargetRef(host=host, mms_id=mms, view=view)


def target_matches(
    actual_url: str | None, *, mms_id: str, view: str | None = None, host: str | None = None
) -> bool:
    """True when ``actual_url`` shows record ``mms_id`` (in ``view`` and on ``host`` when given)."""
    ref = parse_target(actual_url)
    if ref is None or ref.mms_id is None or ref.mms_id != str(mms_id).strip():
        return False
    if view and ref.view and ref.view.casefold() != view.casefold():
        return False
    if host and ref.host and ref.host != host.lower():
        return False
    return True


def matches_expected(actual_url: str | None, expected_url: str) -> bool:
    """True when ``actual_url`` names the same record, view and host as ``expected_url``."""
    ref = parse_target(expected_url)
    if ref is None or ref.mms_id is None:  # a template we cannot read: compare loosely as text
        return bool(actual_url and _loose(actual_url) == _loose(expected_url))
    return target_matches(actual_url, mms_id=ref.mms_id, view=ref.view, host=ref.host)


def _loose(url: str) -> str:
    return re.sub(r"^https?://", "", url.strip(), flags=re.IGNORECASE).rstrip("/").lower()
