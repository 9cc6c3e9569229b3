"""Handles claimed by more than one record (field note 1), for ``handles verify``.

A handle resolves to one record; any other record whose metadata asks for the same handle looks
"wrong target" forever. :func:`shared_claims` finds, for the handles being checked, every record
claiming each of them: the items themselves (by MMS id) and the records of every run in the
database, compared ASCII case-insensitively (:func:`handles.syntax.handle_key`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlmodel import col, select

from handles.syntax import handle_key
from store.models import Record

__all__ = ["claim_note", "shared_claims"]

CHUNK = 500


def shared_claims(session: Any, items: Iterable[Any]) -> dict[str, list[str]]:
    """Handle key → the MMS ids claiming it, for the handles of ``items`` claimed by two or more.

    ``items`` have ``handle`` and ``mms_id`` (:class:`handles.verdict.VerifyItem`); an item without
    an MMS id names no record, so it claims nothing.
    """
    claims: dict[str, set[str]] = defaultdict(set)
    for item in items:
        key = handle_key(item.handle)
        claims[key]  # noqa: B018 - every checked handle is looked up, with or without an MMS id
        if item.mms_id:
            claims[key].add(str(item.mms_id))
    keys = list(claims)
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        for key, mms in session.exec(
            select(Record.handle_key, Record.mms_id).where(col(Record.handle_key).in_(chunk))
        ):
            claims[key or ""].add(mms)
    return {key: sorted(found) for key, found in claims.items() if len(found) > 1}


def claim_note(claimants: list[str], mms_id: str | None) -> str:
    """``"also claimed by MMS 99…"``: the other records asking for the same handle."""
    others = [m for m in claimants if m != mms_id] or claimants
    return "claimed by more than one record: " + ", ".join(f"MMS {m}" for m in others)
