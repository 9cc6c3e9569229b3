"""Alma jobs in the sandbox: the job catalogue, job instances and their wall-clock state machine.

An instance goes QUEUED → INITIALIZING → RUNNING (progress rising) → FINALIZING → terminal over
``duration`` seconds. Its effects on the records are applied once, by :mod:`sandbox.effects`, when
it reaches the terminal state (see :meth:`sandbox.state.SandboxState.tick`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from config.settings import SANDBOX_COPY_JOB_ID, SANDBOX_MIGRATION_JOB_ID, SANDBOX_PROFILE_JOB_ID

COPY = SANDBOX_COPY_JOB_ID
MIGRATION = SANDBOX_MIGRATION_JOB_ID
PROFILE = SANDBOX_PROFILE_JOB_ID

STATUS_DESC = {
    "QUEUED": "Queued",
    "INITIALIZING": "Initializing",
    "RUNNING": "Running",
    "FINALIZING": "Finalizing",
    "COMPLETED_SUCCESS": "Completed Successfully",
    "COMPLETED_WARNING": "Completed with Warnings",
    "COMPLETED_FAILED": "Completed with Errors",
    "FAILED": "Failed",
    "SYSTEM_ABORTED": "System Aborted",
}
NON_TERMINAL = frozenset({"QUEUED", "PENDING", "INITIALIZING", "RUNNING", "FINALIZING"})

# (upper bound of the elapsed fraction, status)
_PHASES = ((0.1, "QUEUED"), (0.25, "INITIALIZING"), (0.8, "RUNNING"), (1.0, "FINALIZING"))


@dataclass(frozen=True)
class JobDef:
    id: str
    name: str
    description: str
    type: str = "MANUAL"
    category: str = "REPOSITORY"
    category_desc: str = "Repository"
    content: str = "BIB_MMS"
    content_desc: str = "All Titles"
    effect: str | None = None  # copy | migration | profile


JOBS: tuple[JobDef, ...] = (
    JobDef(
        COPY,
        "Copy dcterms to dc:identifier",
        "Copy dcterms:identifier to dc:identifier (DCAP01)",
        effect="copy",
    ),
    JobDef(MIGRATION, "DG Handle Migration", "Digital.Grinnell handle migration task", effect="migration"),
    JobDef(
        PROFILE,
        "Persistent Handle Identifiers for Digital Resource",
        "Handle integration profile: Create and Update; DC metadata: Do not add to metadata",
        content="IEP",
        content_desc="Digital titles",
        effect="profile",
    ),
    JobDef(
        "M48404",
        "Export Handles",
        "Update your local Handle server with Alma inventory",
        content="IEP",
        content_desc="Digital titles",
    ),
    JobDef(
        "M18",
        "Withdraw items",
        "Withdraw items",
        category="PHYSICAL_INVENTORY",
        category_desc="Physical Inventory",
        content="ITEM",
        content_desc="Physical items",
    ),
    JobDef(
        "M148",
        "Delete Bibliographic records",
        "Delete bib records",
        category="CATALOGING",
        category_desc="Cataloging",
    ),
    JobDef(
        "M26",
        "Change Physical items information",
        "Change item information",
        category="PHYSICAL_INVENTORY",
        category_desc="Physical Inventory",
        content="ITEM",
        content_desc="Physical items",
    ),
    JobDef(
        "M40",
        "Synchronize Bib records with external catalog",
        "Synchronize with external catalog",
        category="CATALOGING",
        category_desc="Cataloging",
    ),
    JobDef(
        "M45",
        "Recalculate Work Orders",
        "Recalculate work orders",
        category="FULFILLMENT",
        category_desc="Fulfillment",
        content="ITEM",
        content_desc="Physical items",
    ),
    JobDef(
        "M48",
        "Export Bibliographic records",
        "Export records",
        category="PUBLISHING",
        category_desc="Publishing",
    ),
    JobDef(
        "M58",
        "Link a set of records to the Network Zone",
        "Link to NZ",
        category="CATALOGING",
        category_desc="Cataloging",
    ),
    JobDef(
        "M70", "Identifier Cleanup", "DCAP01 normalization", category="REPOSITORY", category_desc="Repository"
    ),
    JobDef(
        "S4741763270003681",
        "Users - Synchronize SIS",
        "SIS synchronize",
        type="SCHEDULED",
        category="USERS",
        category_desc="Users",
        content="USER",
        content_desc="Users",
    ),
    JobDef(
        "O9001",
        "Handle integration",
        "Handle integration profile job",
        type="OTHER",
        category="REPOSITORY",
        category_desc="Repository",
        content="IEP",
        content_desc="Digital titles",
    ),
)
JOBS_BY_ID = {job.id: job for job in JOBS}


def iso(ts: float | None) -> str | None:
    """Epoch seconds → Alma's ISO form ``2025-10-05T09:11:32.592Z``."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


@dataclass
class Event:
    event_id: str
    mms_id: str
    description: str
    time: float
    severity: str = "Information"


@dataclass
class Instance:
    """One run of a job; times are epoch seconds."""

    id: str
    job: JobDef
    name: str
    set_id: str
    parameters: list[dict[str, Any]]
    submitted_by: dict[str, str]
    via_api: bool
    submit_time: float
    duration: float
    fail_status: str | None = None  # injected terminal failure
    external_id: str = ""
    final_status: str | None = None  # set when the effects have been applied
    end_time: float | None = None
    counters: list[tuple[str, str, str]] = field(default_factory=list)  # (code, desc, value)
    events: list[Event] = field(default_factory=list)
    alerts: list[tuple[str, str]] = field(default_factory=list)
    # who looked: GET …/instances/{id} answered while it ran / after it ended (the /sandbox/log)
    gets_running: int = 0
    gets_ended: int = 0
    events_sent: list[float] = field(default_factory=list)  # when its JOB_END events were delivered

    def phase(self, now: float) -> tuple[str, int]:
        """(status, progress) at ``now``; the terminal status only once the effects are applied."""
        if self.final_status:
            return self.final_status, 0 if self.final_status == "FAILED" else 100
        frac = (now - self.submit_time) / self.duration if self.duration > 0 else 1.0
        for bound, status in _PHASES:
            if frac < bound:
                if status == "RUNNING":
                    return status, max(1, min(99, int((frac - 0.25) / 0.55 * 100)))
                return status, 100 if status == "FINALIZING" else 0
        return "FINALIZING", 100  # due: the ticker applies the effects next

    def due(self, now: float) -> bool:
        return self.final_status is None and now >= self.submit_time + self.duration

    def is_terminal(self) -> bool:
        return self.final_status is not None

    def start_time(self, now: float) -> float | None:
        started = self.submit_time + 0.1 * self.duration
        return started if (self.final_status or now >= started) else None
