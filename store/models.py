"""SQLModel tables. The database is the source of truth for every run.

Times are naive UTC datetimes (see :func:`utcnow`), declared ``NaiveDatetime`` so that SQLModel
stores them in plain ``timestamp`` columns that SQLite and PostgreSQL keep unchanged. Every change to these tables needs an Alembic revision under
``store/migrations/versions`` (``make migration m="why"``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import NaiveDatetime
from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

__all__ = [
    "BibBackup",
    "EventLine",
    "HandleCheck",
    "HandleRequest",
    "Outcome",
    "Record",
    "RequestOp",
    "RequestStatus",
    "Run",
    "RunState",
    "Step",
    "StepKind",
    "StepStatus",
    "Submission",
    "Verification",
    "utcnow",
]


def utcnow() -> datetime:
    """Now, as a naive UTC datetime (the form every column here uses)."""
    return datetime.now(UTC).replace(tzinfo=None)


class RunState(StrEnum):
    QUEUED = "queued"  # enqueued, nothing done yet
    PREFLIGHT = "preflight"  # reading the set and its bibs
    RUNNING = "running"  # a step is being submitted or polled
    WAITING = "waiting"  # waiting for Alma's job budget (wait_reason says which)
    WAITING_OPERATOR = "waiting_operator"  # operator mode: the profile must be run in Alma's UI
    VERIFYING = "verifying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in {RunState.SUCCEEDED, RunState.FAILED}


class StepKind(StrEnum):
    COPY = "copy"
    MIGRATION = "migration"
    PROFILE = "profile"
    VERIFY = "verify"


class StepStatus(StrEnum):
    PENDING = "pending"  # not yet submitted
    SUBMITTING = "submitting"  # intent recorded, op=run may or may not have reached Alma
    RUNNING = "running"  # Alma instance known, being polled
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    REFUSED = "refused"  # not submitted because submitting it would be wrong (reason in error)

    @property
    def is_terminal(self) -> bool:
        return self in {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.REFUSED}


class Outcome(StrEnum):
    MIGRATED = "migrated"
    ALREADY_MIGRATED = "already_migrated"
    CONFLICT = "conflict"
    MISSING_IDENTIFIER = "missing_identifier"
    MALFORMED_IDENTIFIER = "malformed_identifier"
    # kept out of every job by preflight (pipeline.holdout): another record claims the same handle
    DUPLICATE_HANDLE = "duplicate_handle"
    # kept out of every job by preflight: not a Dublin Core record (e.g. MARC 21)
    WRONG_FORMAT = "wrong_format"
    FAILED = "failed"
    UNKNOWN = "unknown"


class Verification(StrEnum):
    OK = "ok"
    WRONG_TARGET = "wrong_target"
    NOT_FOUND = "not_found"
    # does not resolve, and the record is suppressed from publishing: expected, not a failure
    UNPUBLISHED = "unpublished"
    ERROR = "error"


#: a run that holds its set and has not ended: at most one such run per set (``handles migrate``)
OPEN_HOLDING_RUN = "holds_set AND state NOT IN ('succeeded', 'failed')"


class Run(SQLModel, table=True):
    """One migration of one Alma set (or a child run repairing part of it, or one batch of it)."""

    # a batch is one child of its parent per number (repair children have no number: NULLs differ)
    __table_args__ = (
        UniqueConstraint("parent_run_id", "batch_no", name="uq_run_parent_batch"),
        # one open run per set, race-safe: two `handles migrate` at the same moment cannot both
        # insert one (child runs, and runs made before this rule, do not hold their set)
        Index(
            "ux_run_one_open_per_set",
            "set_id",
            unique=True,
            sqlite_where=text(OPEN_HOLDING_RUN),
            postgresql_where=text(OPEN_HOLDING_RUN),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    set_id: str = Field(index=True)
    set_name: str | None = None
    set_content: str | None = None  # Alma's SetContentType code, e.g. IEP (digital titles)
    # the set the profile runs on: the run's set less the records the migration could not take,
    # so that Alma does not mint sequential handles for them (seed 000); None = the run's set
    profile_set_id: str | None = None
    profile_excluded: int = 0
    # while a worker makes the profile's set in Alma (pipeline.profile_set): one maker at a time,
    # and a claim older than a few minutes (a killed worker) may be taken over
    profile_set_claimed_at: NaiveDatetime | None = None
    # the set the copy and the migration run on: the run's set less the records preflight kept out
    # of every job (duplicate handles, not Dublin Core); None = the run's set
    jobs_set_id: str | None = None
    jobs_excluded: int = 0
    parent_run_id: int | None = Field(default=None, foreign_key="run.id", index=True)
    state: str = Field(default=RunState.QUEUED, index=True)
    skip_copy: bool = False
    # started by `handles migrate`: while it is open, no other run holding the same set may start
    holds_set: bool = False
    profile_mode: str = "auto"  # auto | api | operator (ALMA_PROFILE_MODE); auto may become operator
    member_count: int | None = None
    wait_reason: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, sa_column=Column(Text))
    # errors no task foresaw (a bug, an answer nobody declared) met by the run's chain; at
    # pipeline.holds.UNEXPECTED_ERRORS_LIMIT the run stops instead of being resumed again
    unexpected_errors: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    updated_at: NaiveDatetime = Field(default_factory=utcnow)
    # last time a task made progress on this run; the reaper resumes runs idle for too long
    heartbeat_at: NaiveDatetime = Field(default_factory=utcnow, index=True)
    operator_paused_at: NaiveDatetime | None = None  # operator mode: when the run began to wait
    operator_confirmed_at: NaiveDatetime | None = None
    # the operator chose to go on without the Events Report Alma would not serve (handles confirm)
    events_waived_at: NaiveDatetime | None = None
    finished_at: NaiveDatetime | None = None
    # batches (pipeline.batches): on the parent, the most records per batch (--batch-size); on a
    # batch, its number (1-based) and, on both, how many batches the parent runs
    batch_size: int | None = None
    batch_no: int | None = None
    batch_of: int | None = None


class Step(SQLModel, table=True):
    """One Alma job of a run (copy, migration, profile) or the final verification."""

    __table_args__ = (UniqueConstraint("run_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    kind: str
    position: int
    status: str = Field(default=StepStatus.PENDING)
    alma_job_id: str | None = None
    instance_id: str | None = None
    job_name: str | None = None  # the job_name parameter we sent: how a lost submission is found again
    alma_status: str | None = None  # Alma's systemJobStatus code, e.g. COMPLETED_SUCCESS
    alma_status_desc: str | None = None
    progress: int = 0
    counters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    alerts: list[Any] = Field(default_factory=list, sa_column=Column(JSON))
    polls: int = 0
    intent_at: NaiveDatetime | None = None
    submitted_at: NaiveDatetime | None = None
    started_at: NaiveDatetime | None = None
    ended_at: NaiveDatetime | None = None
    deadline_at: NaiveDatetime | None = None
    ended_via: str | None = None  # how the end was learned: "webhook" (Alma's JOB_END) or "poll"
    error: str | None = Field(default=None, sa_column=Column(Text))


class Submission(SQLModel, table=True):
    """Audit row for every attempt to submit an Alma job (written before ``op=run``)."""

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    step_id: int = Field(foreign_key="step.id", index=True)
    alma_job_id: str
    set_id: str
    job_name: str
    intent_at: NaiveDatetime = Field(default_factory=utcnow)
    # posted: Alma answered with an instance; adopted: an earlier post was found in the instance
    # list; refused: Alma said no (detail); failed: the post failed and no instance was found
    result: str | None = None
    instance_id: str | None = None
    detail: str | None = Field(default=None, sa_column=Column(Text))
    finished_at: NaiveDatetime | None = None


class Record(SQLModel, table=True):
    """One member of the run's set, and everything known about its handle."""

    __table_args__ = (
        UniqueConstraint("run_id", "mms_id"),
        # duplicate detection (pipeline.holdout): "another record with this key?" is two index seeks
        Index("ix_record_handle_key_mms", "handle_key", "mms_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    position: int = 0  # order in the set, for a stable report
    mms_id: str = Field(index=True)
    pid: str | None = None
    expected_handle: str | None = Field(default=None, index=True)
    alma_handle: str | None = None
    outcome: str = Field(default=Outcome.UNKNOWN)
    detail: str | None = Field(default=None, sa_column=Column(Text))
    # preflight's reading of the metadata: None (fine), "missing", or "malformed: <why>"
    metadata_problem: str | None = Field(default=None, sa_column=Column(Text))
    verification: str | None = None
    target_url: str | None = Field(default=None, sa_column=Column(Text))
    verified_at: NaiveDatetime | None = None
    updated_at: NaiveDatetime = Field(default_factory=utcnow)
    # handles.syntax.handle_key of expected_handle: duplicates are found with one indexed query
    handle_key: str | None = None
    suppressed: bool = False  # the bib is suppressed from publishing (not yet in Primo)
    # where the expected handle pointed before the run's jobs (preflight): a Verification value
    verification_before: str | None = None
    target_before: str | None = Field(default=None, sa_column=Column(Text))


class EventLine(SQLModel, table=True):
    """An event line of Alma's Events Report, kept verbatim (imported or read from the API)."""

    __table_args__ = (
        UniqueConstraint("run_id", "fingerprint"),
        Index("ix_eventline_run_mms", "run_id", "mms_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    step_kind: str | None = None
    mms_id: str | None = None
    kind: str  # already_has | no_handle | other
    handle: str | None = None
    text: str = Field(sa_column=Column(Text, nullable=False))
    event_date: str | None = None
    severity: str | None = None
    source: str  # api | csv | xlsx | text
    fingerprint: str  # hash of the normalized line: re-importing the same report changes nothing
    imported_at: NaiveDatetime = Field(default_factory=utcnow)


class BibBackup(SQLModel, table=True):
    """The original XML of a bib, saved before the repair changed it."""

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    child_run_id: int | None = Field(default=None, foreign_key="run.id")
    mms_id: str = Field(index=True)
    original_xml: str = Field(sa_column=Column(Text, nullable=False))
    repaired_xml: str | None = Field(default=None, sa_column=Column(Text))
    change: str | None = Field(default=None, sa_column=Column(Text))  # what the repair did, in words
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    applied_at: NaiveDatetime | None = None
    restored_at: NaiveDatetime | None = None
    # the repair's lifecycle (None on rows older than it: applied_at says it all):
    # "attempted" (committed before the PUT: Alma may or may not hold repaired_xml), "applied"
    # (Alma holds it, read back and checked), "undone" (Alma stored something else; the original
    # was put back), "restored" (``handles restore`` put the original back or found it there)
    state: str | None = None
    attempted_at: NaiveDatetime | None = None
    # what Alma held when it stored something other than intended (kept as evidence; restore
    # also recognises it as this repair's doing)
    stored_xml: str | None = Field(default=None, sa_column=Column(Text))


class HandleCheck(SQLModel, table=True):
    """One resolution check of one handle: the verification history."""

    __table_args__ = (Index("ix_handlecheck_handle_checked", "handle_key", "checked_at"),)

    id: int | None = Field(default=None, primary_key=True)
    handle: str
    handle_key: str  # ASCII upper-case, see handles.syntax.handle_key
    mms_id: str | None = None
    run_id: int | None = Field(default=None, foreign_key="run.id", index=True)
    checked_at: NaiveDatetime = Field(default_factory=utcnow, index=True)
    verification: str
    target: str | None = Field(default=None, sa_column=Column(Text))
    expected_target: str | None = Field(default=None, sa_column=Column(Text))
    latency_ms: float | None = None
    detail: str | None = Field(default=None, sa_column=Column(Text))
    regression: bool = False  # ok before, not ok now


class RequestOp(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class RequestStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"


class HandleRequest(SQLModel, table=True):
    """A request to the institution's own Handle server (seed 003's request shape)."""

    id: int | None = Field(default=None, primary_key=True)
    op: str
    handle: str  # full handle, prefix/suffix, case as given
    handle_key: str = Field(index=True)
    url: str | None = Field(default=None, sa_column=Column(Text))
    attempts: int = 0
    status: str = Field(default=RequestStatus.QUEUED, index=True)
    response: str | None = Field(default=None, sa_column=Column(Text))  # what the server answered
    error: str | None = Field(default=None, sa_column=Column(Text))
    run_id: int | None = Field(default=None, foreign_key="run.id", index=True)
    mms_id: str | None = None
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    updated_at: NaiveDatetime = Field(default_factory=utcnow)
    started_at: NaiveDatetime | None = None
    finished_at: NaiveDatetime | None = None
