"""Local checks of Alma ids, so an impossible id fails before any request is made."""

from __future__ import annotations

import re

from alma.errors import AlmaInvalidId

_JOB_ID = re.compile(r"^[MSO]\d+$")
_DIGITS = re.compile(r"^\d+$")


def _check(kind: str, value: object, pattern: re.Pattern[str], example: str) -> str:
    text = str(value).strip() if isinstance(value, str | int) else ""
    if not pattern.match(text):
        raise AlmaInvalidId(kind, value, example)
    return text


def check_job_id(value: object) -> str:
    """A job id such as ``M48401``; raises :class:`AlmaInvalidId`."""
    return _check("job id", value, _JOB_ID, "M12345")


def check_set_id(value: object) -> str:
    """A set id (digits); raises :class:`AlmaInvalidId`."""
    return _check("set id", value, _DIGITS, "7593466560004641")


def check_instance_id(value: object) -> str:
    """A job instance id (digits); raises :class:`AlmaInvalidId`."""
    return _check("job instance id", value, _DIGITS, "9563643080000561")


def check_mms_id(value: object) -> str:
    """An MMS id (digits); raises :class:`AlmaInvalidId`."""
    return _check("MMS id", value, _DIGITS, "991011507293904641")
