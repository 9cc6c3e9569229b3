"""Client for the institution's own Handle server: the Handle.Net v9 JSON admin API.

Endpoints (``shared/reference/handle-system.md`` §2.2):

- ``GET /api/handles/{h}`` reads the record.
- ``PUT /api/handles/{h}?overwrite=false`` creates it; the server answers 409 / RC 101 when the
  handle already exists, so a create never replaces someone else's record.
- ``PUT /api/handles/{h}?index=N`` replaces only the URL value at index N (update); HS_ADMIN and
  every other value are left alone.
- ``DELETE /api/handles/{h}`` deletes it.

Authentication: HTTP Basic with the ``{index}:{handle}`` identity percent-encoded
(``300%3A0.NA/11084``) and the HS_SECKEY secret, or a client certificate (HS_PUBKEY) with
``Authorization: Handle clientCert="true"``. The secret is kept inside the httpx auth object and
never appears in a repr, a log line or an exception message. HTTPS only in practice: over plain
http a real server ignores credentials and answers 403 (the error says so; ``config.settings``
refuses such a URL unless it is loopback or ``HANDLE_SERVER_ALLOW_HTTP`` is set).

As HANDLE.NET 9 answers: wrong credentials are a 401 with an empty body, so the error quotes the
``WWW-Authenticate: Handle … error="…"`` challenge instead; ``handle`` in answers echoes the handle
as asked (compare with :func:`~handles.syntax.handle_key`); a read whose values are all hidden or
filtered out is 200 / RC 200 with ``values: []`` and is returned as an empty record.

Errors (one root, :class:`HandleServerError`)::

    HandleServerError(status_code, response_code, message, handle)
    ├── HandleExists            409 / RC 101 (or 201: a value already exists)
    ├── HandleNotFound          404 / RC 100
    ├── HandleAuthError         401 / 403, RC 400-404
    ├── HandleRequestInvalid    400 (RC 4, 102, 202, 301 ...)
    └── HandleServerUnavailable 5xx, 429, timeouts, connection failures  (.transient = True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from config.redact import mask_url, scrub
from handles.syntax import handle_key

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = [
    "HandleAuthError",
    "HandleExists",
    "HandleNotFound",
    "HandleRecord",
    "HandleRequestInvalid",
    "HandleServerClient",
    "HandleServerError",
    "HandleServerUnavailable",
    "basic_username",
    "same_target",
]

URL_INDEX = 1  # where a new handle's URL value goes
ADMIN_INDEX = 100  # HS_ADMIN, as [MAN9] §3.6 recommends
_MESSAGE_MAX = 300


class HandleServerError(Exception):
    """The Handle server refused or failed a request. ``str()`` is one line, without secrets."""

    transient = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        response_code: int | None = None,
        handle: str | None = None,
    ) -> None:
        super().__init__(" ".join(message.split()))
        self.status_code = status_code
        self.response_code = response_code
        self.handle = handle


class HandleExists(HandleServerError):
    """The handle (or a value at that index) already exists: 409, RC 101/201."""


class HandleNotFound(HandleServerError):
    """The handle does not exist (or was deleted): 404, RC 100."""


class HandleAuthError(HandleServerError):
    """The server did not accept our identity or it lacks permission: 401/403."""


class HandleRequestInvalid(HandleServerError):
    """The server found the request malformed (bad handle, bad value, wrong prefix): 400."""


class HandleServerUnavailable(HandleServerError):
    """5xx, 429, a timeout or a broken connection: worth trying again later."""

    transient = True


@dataclass(frozen=True)
class HandleRecord:
    """A handle's values as the JSON API returns them."""

    handle: str
    values: list[dict[str, Any]]

    @property
    def url(self) -> str | None:
        """The first URL value by index (what the proxy redirects to)."""
        value = self.url_value
        return str(value["data"]["value"]) if value else None

    @property
    def url_value(self) -> dict[str, Any] | None:
        urls = [v for v in self.values if v.get("type") == "URL"]
        return min(urls, key=lambda v: int(v.get("index", 0))) if urls else None

    @property
    def admin(self) -> dict[str, Any] | None:
        return next((v for v in self.values if v.get("type") == "HS_ADMIN"), None)


def basic_username(auth_id: str) -> str:
    """``300:0.NA/11084`` → ``300%3A0.NA/11084`` (at least ``%`` and ``:`` percent-encoded)."""
    return quote(auth_id, safe="/")


def _path(handle: str) -> str:
    """The handle as a URL path segment: ``/`` kept, ``?``, ``#``, ``%`` and spaces encoded."""
    return "/api/handles/" + quote(handle, safe="/")


def _classify(status: int, rc: int | None) -> type[HandleServerError]:
    if status == 409 or rc in (101, 201):
        return HandleExists
    if status == 404 or rc == 100:
        return HandleNotFound
    if status in (401, 403) or rc in (400, 401, 402, 403, 404):
        return HandleAuthError
    if status >= 500 or status == 429 or rc in (2, 3, 7):
        return HandleServerUnavailable
    if status == 400:
        return HandleRequestInvalid
    return HandleServerError


class HandleServerClient:
    """Create, update, delete and read handles through the v9 JSON admin API.

    ``transport`` lets tests use ``httpx.MockTransport``. Use as a context manager or call
    :meth:`close`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth_id: str,
        secret: str | None = None,
        cert: tuple[str, str] | str | None = None,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 20.0,
        admin_prefix: str | None = None,
    ) -> None:
        if not secret and not cert:
            raise ValueError("a Handle server secret or a client certificate is required")
        self.base_url = base_url.rstrip("/")
        self.auth_id = auth_id
        headers = {"Accept": "application/json"}
        auth = None
        if secret:
            auth = httpx.BasicAuth(basic_username(auth_id), secret)
        else:
            headers["Authorization"] = 'Handle clientCert="true"'
        # HS_ADMIN for new handles: the prefix's admin group (0.NA/<prefix> index 200, [MAN9] §3.6)
        self._admin_prefix = admin_prefix
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            cert=cert,
            verify=verify,
            headers=headers,
            timeout=timeout,
            transport=transport,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, transport: httpx.BaseTransport | None = None
    ) -> HandleServerClient:
        """A client configured from HANDLE_SERVER_* settings."""
        secret = settings.handle_server_secret.get_secret_value() if settings.handle_server_secret else None
        cert: tuple[str, str] | str | None = None
        if settings.handle_server_cert:
            cert = (
                (str(settings.handle_server_cert), str(settings.handle_server_key))
                if settings.handle_server_key
                else str(settings.handle_server_cert)
            )
        return cls(
            settings.handle_server_url,
            auth_id=settings.handle_server_auth_id,
            secret=secret,
            cert=cert,
            verify=settings.handle_server_verify_tls,
            transport=transport,
            admin_prefix=settings.handle_prefix,
        )

    def __repr__(self) -> str:
        return f"HandleServerClient({mask_url(self.base_url)!r}, auth_id={self.auth_id!r})"

    def __enter__(self) -> HandleServerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- operations -------------------------------------------------------------------------

    def get(self, handle: str) -> HandleRecord:
        """The record; raises :class:`HandleNotFound` when missing or deleted."""
        body = self._call("GET", handle, "read")
        return HandleRecord(handle=str(body.get("handle") or handle), values=list(body.get("values") or []))

    def create(self, handle: str, url: str) -> dict[str, Any]:
        """Create ``handle`` → ``url`` with an HS_ADMIN value; :class:`HandleExists` if it exists."""
        values: list[dict[str, Any]] = [_url_value(url, URL_INDEX)]
        values.append(self._admin_value(handle))
        return self._call("PUT", handle, "create", params={"overwrite": "false"}, json={"values": values})

    def update(self, handle: str, url: str) -> dict[str, Any]:
        """Replace the URL value (only it: HS_ADMIN and other values stay). :class:`HandleNotFound` if missing.

        Returns the server's answer plus ``previous_url``.
        """
        record = self.get(handle)
        current = record.url_value
        if current is not None:
            index = int(current["index"])
        else:  # no URL value yet: add one at a free index
            taken = {int(v.get("index", 0)) for v in record.values}
            index = next(i for i in range(URL_INDEX, 10_000) if i not in taken)
        body = self._call(
            "PUT",
            handle,
            "update",
            params={"index": str(index), "overwrite": "true"},
            json={"values": [_url_value(url, index)]},
        )
        return {**body, "previous_url": record.url}

    def delete(self, handle: str) -> dict[str, Any]:
        """Delete ``handle``; :class:`HandleNotFound` if it is missing or already deleted."""
        return self._call("DELETE", handle, "delete")

    # --- plumbing ---------------------------------------------------------------------------

    def _admin_value(self, handle: str) -> dict[str, Any]:
        prefix = self._admin_prefix or handle.split("/", 1)[0]
        return {
            "index": ADMIN_INDEX,
            "type": "HS_ADMIN",
            "data": {
                "format": "admin",
                "value": {"handle": f"0.NA/{prefix}", "index": 200, "permissions": "011111111111"},
            },
        }

    def _call(self, method: str, handle: str, what: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, _path(handle), **kwargs)
        except httpx.TransportError as exc:
            raise HandleServerUnavailable(
                f"{what} {handle}: Handle server {mask_url(self.base_url)} unreachable ({type(exc).__name__})",
                handle=handle,
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        rc = body.get("responseCode")
        rc = rc if isinstance(rc, int) else None
        # RC 200 (values not found) on a read is HTTP 200 with "values": []: a record, not an error
        if response.is_success and (rc in (1, None) or (rc == 200 and method == "GET")):
            body.setdefault("handle", handle)
            body["http_status"] = response.status_code
            return body
        kind = _classify(response.status_code, rc)
        message = str(body.get("message") or _challenge_error(response) or response.reason_phrase or "")
        if response.status_code == 403 and self.base_url.lower().startswith("http://"):
            message += " (over plain http a Handle server ignores credentials: use https)"
        message = scrub(message, limit=_MESSAGE_MAX)
        raise kind(
            f"{what} {handle}: HTTP {response.status_code}"
            + (f", responseCode {rc}" if rc is not None else "")
            + (f": {message}" if message else ""),
            status_code=response.status_code,
            response_code=rc,
            handle=handle,
        )


def _challenge_error(response: httpx.Response) -> str | None:
    """The ``error="…"`` of a HANDLE.NET 401's ``WWW-Authenticate: Handle`` challenge (its body is empty)."""
    for challenge in response.headers.get_list("www-authenticate"):
        match = re.search(r'\berror="([^"]*)"', challenge)
        if challenge.startswith("Handle") and match:
            return match.group(1)
    return None


def _url_value(url: str, index: int) -> dict[str, Any]:
    return {"index": index, "type": "URL", "data": {"format": "string", "value": url}}


def same_target(record: HandleRecord, handle: str, url: str) -> bool:
    """True when ``record`` is ``handle`` (ASCII case-insensitively) and points at ``url``."""
    return handle_key(record.handle) == handle_key(handle) and record.url == url
