"""The verdict on one handle: what was checked (:class:`VerifyItem`), what the resolver's answer
means (:func:`judge`, into :class:`VerifyResult`) and the counts of a check (:class:`VerifySummary`).

Pure: no network, no database. :mod:`handles.verify` asks the resolver, judges with this and
records the results.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from config.redact import scrub
from config.settings import Settings
from handles.resolver import Resolution
from handles.targets import matches_expected, url_problem
from store.models import Verification, utcnow

__all__ = ["NO_TARGET_NOTE", "VerifyItem", "VerifyResult", "VerifySummary", "judge"]

NO_TARGET_NOTE = "resolves; no MMS id given, so the target was not compared"


@dataclass(frozen=True)
class VerifyItem:
    """One handle to check; with an MMS id its target is compared with ``HANDLE_TARGET_TEMPLATE``."""

    handle: str
    mms_id: str | None = None
    run_id: int | None = None
    record_id: int | None = None  # the Record row to update with the result
    suppressed: bool = False  # the record is suppressed from publishing: not found is "unpublished"


@dataclass(frozen=True)
class VerifyResult:
    """The verdict on one item."""

    item: VerifyItem
    verification: str  # a store.models.Verification value
    target: str | None
    expected_target: str | None
    latency_ms: float | None
    detail: str | None
    response_code: int | None = None
    attempts: int = 1
    checked_at: datetime = field(default_factory=utcnow)

    @property
    def handle(self) -> str:
        return self.item.handle

    @property
    def ok(self) -> bool:
        return self.verification == Verification.OK

    def as_dict(self) -> dict[str, object]:
        return {
            "handle": self.handle,
            "mms_id": self.item.mms_id,
            "verification": self.verification,
            "target": self.target,
            "expected_target": self.expected_target,
            "latency_ms": self.latency_ms,
            "detail": self.detail,
        }


@dataclass
class VerifySummary:
    """Counts per verification value (plus how many had no target to compare)."""

    counts: Counter[str] = field(default_factory=Counter)
    no_target: int = 0
    regressions: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def all_ok(self) -> bool:
        return self.counts[Verification.OK] == self.total

    def add(self, results: Iterable[VerifyResult]) -> None:
        for result in results:
            self.counts[result.verification] += 1
            if result.item.mms_id is None and result.ok:
                self.no_target += 1

    def as_dict(self) -> dict[str, int]:
        out = {v.value: self.counts[v.value] for v in Verification}
        out.update(total=self.total, no_target=self.no_target, regressions=self.regressions)
        return out


def judge(item: VerifyItem, resolution: Resolution, settings: Settings) -> VerifyResult:
    """Turn the resolver's answer into ok / wrong_target / not_found / unpublished / error.

    A URL value that cannot be read as a URL (``http://[x``) is this handle's ``error``, with the
    reason; it never stops the check of the other handles.
    """
    expected = settings.target_url(item.mms_id) if item.mms_id else None
    detail = resolution.detail
    if resolution.status == "not_found" and item.suppressed:
        verdict = Verification.UNPUBLISHED
        detail = "does not resolve; the record is suppressed from publishing (not in Primo yet)"
    elif resolution.status == "not_found":
        verdict = Verification.NOT_FOUND
    elif resolution.status == "error":
        verdict = Verification.ERROR
    elif resolution.url is None:
        verdict, detail = Verification.WRONG_TARGET, "the handle has no URL value"
    elif (problem := url_problem(resolution.url)) is not None:
        verdict = Verification.ERROR
        detail = f"its URL value cannot be read ({problem}): {scrub(resolution.url, limit=200)!r}"
    elif expected is None:
        verdict, detail = Verification.OK, NO_TARGET_NOTE
    elif matches_expected(resolution.url, expected):
        verdict = Verification.OK
    else:
        verdict, detail = Verification.WRONG_TARGET, f"points to {scrub(resolution.url, limit=300)}"
    return VerifyResult(
        item=item,
        verification=verdict.value,
        target=resolution.url,
        expected_target=expected,
        latency_ms=resolution.latency_ms,
        detail=detail,
        response_code=resolution.response_code,
        attempts=resolution.attempts,
    )
