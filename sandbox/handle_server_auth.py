"""Authentication of the sandbox's Handle server, as HANDLE.NET 9's HTTP filter does it.

``shared/reference/handle-system.md`` §2.3 and the 9.2.0 sources (``StandardHandleAuthenticationFilter``,
``StandardHandleAuthenticator``):

- No ``Authorization`` header: the request goes on anonymously. Reads see public values only;
  writes and listing are answered ``401`` / RC 402 by the server itself.
- ``Authorization: Basic`` whose user is the percent-encoded identity (``300%3A0.NA/11084``) and
  whose password is the secret: authenticated. Anything else that *tries* to authenticate (wrong
  secret, an unencoded ``300:0.NA/11084`` user, an unknown scheme, a ``Handle`` challenge answer
  the sandbox cannot verify) is stopped by the filter before the request is processed:
  ``401`` with an **empty body** (no ``responseCode``), on reads as well as writes.
- Every 401 carries the challenge: ``WWW-Authenticate: Basic realm="handle"`` (unless the request
  came from ``XMLHttpRequest`` with no Basic header) and ``WWW-Authenticate: Handle sessionId="…",
  nonce="…"`` (plus ``error="…"`` when authentication failed).
- ``Authorization: Handle clientCert="true"`` only asks for a TLS renegotiation; the sandbox has no
  TLS, so such a request stays anonymous.

Kinder than the real server, on purpose: the real server ignores credentials over plain http and
turns every 401 into 403; the sandbox accepts Basic over http so that tests need no TLS. The
product itself refuses a plain-http Handle server that is not on loopback (``config.settings``).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["ANONYMOUS", "AUTHENTICATED", "add_challenge", "authenticate"]

ANONYMOUS = "anonymous"
AUTHENTICATED = "authenticated"


def add_challenge(response: Response, request: Request, error: str | None = None) -> Response:
    """Add the two ``WWW-Authenticate`` headers of a HANDLE.NET 401."""
    header = request.headers.get("authorization", "")
    wants_basic = (
        header.startswith("Basic") if header else request.headers.get("x-requested-with") != "XMLHttpRequest"
    )
    if wants_basic:
        response.headers.append("WWW-Authenticate", 'Basic realm="handle"')
    nonce = base64.b64encode(secrets.token_bytes(16)).decode()
    challenge = f'Handle sessionId="{secrets.token_hex(16)}", nonce="{nonce}"'
    if error:
        challenge += f', error="{error}"'
    response.headers.append("WWW-Authenticate", challenge)
    return response


def authenticate(request: Request, *, auth_id: str, secret: str) -> str | Response:
    """:data:`ANONYMOUS`, :data:`AUTHENTICATED`, or the filter's bare 401 when authentication failed."""
    header = request.headers.get("authorization", "").strip()
    if not header:
        return ANONYMOUS
    scheme, _, token = header.partition(" ")
    if scheme == "Handle":
        if not any(f"{key}=" in token for key in ("id", "signature", "sessionId", "cnonce")):
            return ANONYMOUS  # clientCert="true": a TLS renegotiation request, no credentials
        return _failed(request, "The sandbox accepts only Basic authentication")
    if scheme.lower() != "basic":
        return _failed(request, "Unknown authentication scheme")
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return _failed(request, "Identity not verified")
    if not sep or unquote(user) != auth_id or not secrets.compare_digest(password, secret):
        return _failed(request, "Identity not verified")
    return AUTHENTICATED


def _failed(request: Request, error: str) -> Response:
    return add_challenge(Response(status_code=401), request, error)
