"""The checks behind :mod:`config.settings`, and the one line a failing setting gives.

Standalone: none of these reads the environment. :func:`check_crontab` (``VERIFY_SCHEDULE``),
:func:`kombu_transports` (the broker URL schemes Celery knows), :func:`is_loopback_url` (a plain-http
``HANDLE_SERVER_URL`` is allowed on this machine only), :func:`shown` (a value quoted for an error
message), :func:`one_line` (a pydantic error as one line naming the variable) and
:func:`secret_values` (every secret loaded settings hold, for :func:`config.redact.scrub` to mask).
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import ValidationError

from config.redact import mask_url, scrub

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = ["check_crontab", "is_loopback_url", "kombu_transports", "one_line", "secret_values", "shown"]

_CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
_CRON_NAMES = ("minute", "hour", "day of month", "month", "day of week")


def shown(value: object) -> str:
    """A value for an error message: quoted, URL user information masked, scrubbed, short."""
    return repr(scrub(mask_url(str(value)), limit=120))


def check_crontab(expr: str) -> None:
    """Raise ValueError (one line naming the field) unless ``expr`` is a five-field crontab."""
    fields = expr.split()
    hint = "expected five fields 'minute hour day-of-month month day-of-week', e.g. '0 2 * * *'"
    if len(fields) != 5:
        raise ValueError(f"{shown(expr)}: {hint}")
    from celery.schedules import crontab

    for name, label, text in zip(_CRON_FIELDS, _CRON_NAMES, fields, strict=True):
        try:
            crontab(**{name: text})
        except Exception as exc:  # noqa: BLE001 - celery's parser raises ValueError or ParseException
            raise ValueError(f"{shown(expr)}: {label} {text!r}: {scrub(exc, limit=80)}") from None


@lru_cache(maxsize=1)
def kombu_transports() -> frozenset[str]:
    from kombu.transport import TRANSPORT_ALIASES

    return frozenset(TRANSPORT_ALIASES)


def secret_values(settings: Settings) -> list[str | None]:
    """Every secret the settings hold, for :func:`config.redact.scrub` to mask wherever it shows."""
    values: list[str | None] = []
    for secret in (
        settings.alma_api_key,
        settings.handle_server_secret,
        settings.flower_basic_auth,
        settings.handles_web_auth,
    ):
        if secret is not None:
            values.append(secret.get_secret_value())
    for auth in (settings.flower_basic_auth, settings.handles_web_auth):
        if auth is not None:
            values.extend(pair.partition(":")[2] for pair in auth.get_secret_value().split(","))
    for url in (
        settings.alma_api_base_url,
        settings.handle_resolver_url,
        settings.handle_server_url,
        settings.celery_broker_url,
        settings.database_url,
        settings.redis_url,
    ):
        match = re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#@]*?:([^\s/?#]*)@", url or "")
        if match and match.group(1):
            values.append(match.group(1))
    return values


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is this machine: ``localhost``, 127.0.0.0/8 or ``::1``."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def one_line(exc: ValidationError) -> str:
    """A settings validation error as one line naming the variable: ``LOG_LEVEL: …``."""
    err = exc.errors()[0]
    loc = [str(part) for part in err.get("loc", ()) if not isinstance(part, int)]
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if loc:
        return f"{loc[0].upper()}: {msg}"
    named = re.match(r"^([A-Z][A-Z_]+) (.*)$", msg)
    if named:
        return f"{named.group(1)}: {named.group(2)}"
    return f"invalid setting: {msg}"
