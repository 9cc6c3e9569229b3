"""HTTP Basic auth for the whole page: one ``user:password`` from ``HANDLES_WEB_AUTH``.

Credentials are compared in constant time (:func:`hmac.compare_digest` over bytes), both halves
always, so that neither the user name nor the password leaks through timing. The password is never
logged or shown.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["AuthNotConfigured", "BasicAuth", "Credentials", "parse_credentials"]

REALM = "handles"


class AuthNotConfigured(ValueError):
    """``HANDLES_WEB_AUTH`` is missing or not ``user:password`` (one line, no secret in it)."""


class Credentials:
    """The one allowed user name and password, as bytes; its repr shows no secret."""

    __slots__ = ("_password", "_user")

    def __init__(self, user: str, password: str) -> None:
        self._user = user.encode("utf-8")
        self._password = password.encode("utf-8")

    def __repr__(self) -> str:
        return "Credentials(***)"

    def matches(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries these credentials."""
        if not header:
            return False
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic" or not token.strip():
            return False
        try:
            decoded = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.partition(b":")
        user_ok = hmac.compare_digest(user, self._user)
        password_ok = hmac.compare_digest(password, self._password)
        return bool(sep) and user_ok and password_ok


def parse_credentials(secret: SecretStr | str | None) -> Credentials:
    """``user:password`` → :class:`Credentials`; :class:`AuthNotConfigured` when missing or malformed."""
    text = secret.get_secret_value() if isinstance(secret, SecretStr) else (secret or "")
    if not text.strip():
        raise AuthNotConfigured(
            "HANDLES_WEB_AUTH is not set: set it to user:password (the page never starts without a password)"
        )
    user, sep, password = text.strip().partition(":")
    if not sep or not user.strip() or not password:
        raise AuthNotConfigured("HANDLES_WEB_AUTH is not user:password")
    return Credentials(user.strip(), password)


_UNAUTHORIZED = (
    b"<!doctype html><html lang=en><head><meta charset=utf-8><title>Sign in needed</title></head>"
    b"<body><h1>Sign in needed</h1><p>This page needs the user name and password set in "
    b"HANDLES_WEB_AUTH.</p></body></html>"
)


class BasicAuth:
    """ASGI middleware: every HTTP request needs the credentials, else 401 with a Basic challenge."""

    def __init__(self, app: ASGIApp, *, credentials: Credentials) -> None:
        self.app = app
        self.credentials = credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = dict(scope.get("headers") or [])
        header = headers.get(b"authorization", b"").decode("latin-1") or None
        if self.credentials.matches(header):
            await self.app(scope, receive, send)
            return
        await _deny(send)


async def _deny(send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"www-authenticate", f'Basic realm="{REALM}", charset="UTF-8"'.encode()),
                (b"content-length", str(len(_UNAUTHORIZED)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _UNAUTHORIZED})
