"""What each page shows, read from the database: plain dicts and lists for the templates.

Records are read through the report (:func:`outcomes.report.iter_rows`), so that the page, the
downloads and ``handles report`` say the same thing about a record (a repaired record shows as the
child run left it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, func, select

from outcomes.next_steps import MEANINGS, next_step
from outcomes.report import iter_rows
from store.models import HandleCheck, Run, RunState, Step, StepStatus
from store.runs import ALMA_STEPS, run_steps

__all__ = ["RecordFilter", "filtered_rows", "outcome_summary", "run_line", "runs_overview", "waiting_text"]

PAGE_SIZE = 100
#: the order outcomes are listed in: what needs the librarian first
OUTCOME_ORDER = (
    "conflict",
    "failed",
    "malformed_identifier",
    "missing_identifier",
    "duplicate_handle",
    "wrong_format",
    "unknown",
    "migrated",
    "already_migrated",
)
VERIFICATIONS = ("ok", "wrong_target", "not_found", "unpublished", "error", "unchecked")
_DONE = (StepStatus.SUCCEEDED, StepStatus.SKIPPED)


def waiting_text(run: Run, steps: list[Step]) -> str:
    """What the run waits for, and why, in words; "" when it has ended without an error."""
    if run.state == RunState.FAILED:
        return f"ended: {run.error or 'failed'}"
    if run.state == RunState.SUCCEEDED:
        return ""
    if run.state == RunState.WAITING_OPERATOR and (run.wait_reason or "").startswith(
        "waiting for the operator"
    ):
        return f"you: run the Handle profile in Alma's UI (run {run.id}'s page says how), then `handles confirm {run.id}`"
    if run.wait_reason:
        return run.wait_reason
    if run.state == RunState.QUEUED:
        return "waiting for a worker to pick it up"
    if run.state == RunState.PREFLIGHT:
        return "reading the set and its records from Alma"
    if run.state == RunState.VERIFYING:
        return "checking that every handle resolves"
    for step in steps:
        if step.status in _DONE:
            continue
        if step.status == StepStatus.RUNNING:
            return f"Alma is running the {step.kind} job (instance {step.instance_id}, {step.progress}%)"
        if step.status == StepStatus.SUBMITTING:
            return f"submitting the {step.kind} job to Alma"
        return f"the {step.kind} job is next"
    return ""


def run_line(run: Run, steps: list[Step]) -> dict[str, Any]:
    """One row of the runs page."""
    alma = [s for s in steps if s.kind in ALMA_STEPS]
    done = sum(1 for s in alma if s.status in _DONE)
    return {
        "run": run,
        "steps": steps,
        "done": done,
        "total": len(alma),
        "waiting": waiting_text(run, steps),
    }


def runs_overview(session: Session, *, limit: int = 100) -> list[dict[str, Any]]:
    """The latest runs, newest first, each with its steps and what it waits for."""
    runs = list(session.exec(select(Run).order_by(col(Run.id).desc()).limit(limit)))
    ids = [r.id for r in runs]
    by_run: dict[int, list[Step]] = {}
    if ids:
        query = select(Step).where(col(Step.run_id).in_(ids)).order_by(col(Step.position))
        for step in session.exec(query):
            by_run.setdefault(step.run_id, []).append(step)
    return [run_line(run, by_run.get(run.id or 0, [])) for run in runs]


def child_runs(session: Session, run_id: int) -> list[Run]:
    return list(session.exec(select(Run).where(Run.parent_run_id == run_id).order_by(col(Run.id))))


def outcome_summary(session: Session, run_id: int, settings: Any, *, ended: bool = True) -> dict[str, Any]:
    """Counts per outcome (each with its meaning and next step) and per verification.

    While the run goes on (``ended`` false), records without evidence yet are waited for, not
    imported for: the run settles every outcome when it ends.
    """
    outcomes: Counter[str] = Counter()
    verifications: Counter[str] = Counter()
    for row in iter_rows(session=session, run_id=run_id, settings=settings):
        outcomes[row["outcome"]] += 1
        verifications[row["verification"] or "unchecked"] += 1
    order = [o for o in OUTCOME_ORDER if outcomes[o]] + sorted(o for o in outcomes if o not in OUTCOME_ORDER)
    return {
        "total": sum(outcomes.values()),
        "outcomes": [
            {
                "outcome": name,
                "count": outcomes[name],
                "meaning": MEANINGS.get(name, ""),
                "next_step": (
                    next_step(name, run_id)
                    if ended or name != "unknown"
                    else "wait: the run settles every record's outcome when it ends."
                ),
            }
            for name in order
        ],
        "verifications": [(v, verifications[v]) for v in VERIFICATIONS if verifications[v]],
    }


@dataclass
class RecordFilter:
    """The records page's filters, as given in the query string (unknown values ignored)."""

    outcome: str = ""
    verification: str = ""
    q: str = ""
    page: int = 1

    @classmethod
    def from_query(cls, params: Any) -> RecordFilter:
        try:
            page = max(1, int(params.get("page") or 1))
        except ValueError:
            page = 1
        return cls(
            outcome=(params.get("outcome") or "").strip(),
            verification=(params.get("verification") or "").strip(),
            q=(params.get("q") or "").strip(),
            page=page,
        )

    def keep(self, row: dict[str, str]) -> bool:
        if self.outcome and row["outcome"] != self.outcome:
            return False
        if self.verification:
            have = row["verification"] or "unchecked"
            if have != self.verification:
                return False
        if self.q:
            needle = self.q.casefold()
            haystack = (row["mms_id"], row["expected_handle"], row["alma_handle"], row["pid"])
            if not any(needle in value.casefold() for value in haystack if value):
                return False
        return True

    def query(self, **changes: Any) -> str:
        """The query string for these filters with ``changes`` (for links that keep the filters)."""
        from urllib.parse import urlencode

        values = {"outcome": self.outcome, "verification": self.verification, "q": self.q, "page": self.page}
        values.update(changes)
        if values.get("page") == 1:
            values.pop("page")
        return urlencode({k: v for k, v in values.items() if v})


def filtered_rows(
    session: Session, run_id: int, settings: Any, flt: RecordFilter
) -> Iterator[dict[str, str]]:
    """The report's rows that pass ``flt`` (all pages), in the set's order."""
    return (row for row in iter_rows(session=session, run_id=run_id, settings=settings) if flt.keep(row))


@dataclass
class RecordPage:
    rows: list[dict[str, str]] = field(default_factory=list)
    matched: int = 0
    page: int = 1
    pages: int = 1


def record_page(session: Session, run_id: int, settings: Any, flt: RecordFilter) -> RecordPage:
    """One page of the filtered records, and how many matched in all."""
    start = (flt.page - 1) * PAGE_SIZE
    result = RecordPage(page=flt.page)
    for index, row in enumerate(filtered_rows(session, run_id, settings, flt)):
        if start <= index < start + PAGE_SIZE:
            result.rows.append(row)
        result.matched = index + 1
    result.pages = max(1, -(-result.matched // PAGE_SIZE))
    return result


def checks(
    session: Session, *, run_id: int | None, regressions_only: bool, page: int
) -> tuple[list[HandleCheck], int]:
    """A page of the verification history, newest first, and the number of checks that match."""
    query = select(HandleCheck)
    counting = select(func.count()).select_from(HandleCheck)
    if run_id is not None:
        query = query.where(HandleCheck.run_id == run_id)
        counting = counting.where(HandleCheck.run_id == run_id)
    if regressions_only:
        query = query.where(HandleCheck.regression == True)  # noqa: E712 - SQL expression
        counting = counting.where(HandleCheck.regression == True)  # noqa: E712
    total = int(session.exec(counting).one())
    query = (
        query.order_by(col(HandleCheck.checked_at).desc(), col(HandleCheck.id).desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return list(session.exec(query)), total


def step_rows(session: Session, run_id: int) -> list[Step]:
    """The run's steps in order (copy, migration, profile, verify)."""
    return run_steps(session, run_id)
