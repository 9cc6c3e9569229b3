"""Alma ``systemJobStatus`` codes, grouped by what they mean for a run.

From the community map in alma-api.md §3.4; ``COMPLETED_WARNINGS`` (plural) is listed too because
the spelling is unconfirmed. A code in none of the sets is treated as not yet terminal unless the
instance has an ``end_time`` (see :class:`alma.models.JobInstance`).
"""

from __future__ import annotations

__all__ = ["FAILURE", "NON_TERMINAL", "SUCCESS"]

NON_TERMINAL: frozenset[str] = frozenset({"QUEUED", "PENDING", "INITIALIZING", "RUNNING", "FINALIZING"})
SUCCESS: frozenset[str] = frozenset(
    {"COMPLETED_SUCCESS", "COMPLETED_NO_BULKS", "COMPLETED_WARNING", "COMPLETED_WARNINGS"}
)
FAILURE: frozenset[str] = frozenset(
    {"COMPLETED_FAILED", "FAILED", "SKIPPED", "MANUAL_HANDLING_REQUIRED", "SYSTEM_ABORTED", "USER_ABORTED"}
)
