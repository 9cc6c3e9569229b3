"""Pipeline tasks: the chain preflight → copy → migration → profile → finish (verify + classify).

Each task is an adapter: it calls :mod:`pipeline` and maps the answer to "go on" (return: the chain
continues), "visit again later" (``self.retry(countdown=…)``: an ETA message, so no worker waits
while Alma works) or "stop" (:class:`RunStopped`, an expected error: the chain ends there). Any other error ends
the link and the stalled-run check resumes the run later; :class:`PipelineTask` counts it on the run,
so that one that keeps failing stops (:func:`pipeline.holds.count_unexpected_error`).
All tasks are idempotent against the database, which is the source of truth; the chain only
expresses the order, and a lost chain is rebuilt from the database by :func:`enqueue_run`.
"""

from __future__ import annotations

import logging
from typing import Any

import redis.exceptions
import sqlalchemy.exc
from celery import Task, chain
from celery.exceptions import Ignore
from kombu.exceptions import OperationalError as BrokerError

from alma.errors import (
    AlmaAuthError,
    AlmaError,
    AlmaQuotaLow,
    AlmaRateLimited,
    AlmaTransportError,
    AlmaUnavailable,
)
from config.settings import Settings
from pipeline import finish, holds, preflight, profile_set, steps
from pipeline.context import Next, is_quota_hold, quota_countdown
from pipeline.errors import PipelineError
from store.models import RunState, utcnow
from store.runs import RunNotFound, get_run, remaining_steps
from workers import resources
from workers.app import app

log = logging.getLogger("handles.tasks")

# Alma being slow, throttling or briefly away: visit again later, without limit (the step deadline rules)
TRANSIENT = (AlmaTransportError, AlmaUnavailable, AlmaRateLimited, AlmaQuotaLow)


# The database, Redis or the broker away: not the run's fault; the stalled-run check resumes it when
# they are back, as often as that takes, so these are not counted as the run's unexpected errors
AWAY: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    BrokerError,
    OSError,
)
#: what each task is to the operator, in the run's unexpected-error line
_WHERE = {
    "handles.preflight": "preflight",
    "handles.finish_run": "verify and finish",
    "handles.run_batches": "the batches",
}


class RunStopped(Exception):
    """The run cannot go on (a failed or refused step, an unusable set); the reason is recorded."""


class PipelineTask(Task):
    """A link of a run's chain (``run_id`` its first argument).

    An error the task did not map (a bug, an Alma answer nobody declared) fails the link; the
    stalled-run check would resume the run, to fail the same way, for ever. It is counted on the
    run instead, and the third one stops it with one line (see :mod:`pipeline.holds`).

    Every link is acknowledged after it ran (a worker killed mid-link leaves it to be delivered
    again), retries as often as its step needs (the step's deadline rules), and declares
    :class:`RunStopped` as expected (no traceback in the worker log).
    """

    acks_late = True
    max_retries = None
    throws = (RunStopped,)

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        if isinstance(exc, (RunStopped, *AWAY)):
            return
        run_id = args[0] if args else kwargs.get("run_id")
        if not isinstance(run_id, int):
            return
        kind = args[1] if len(args) > 1 else kwargs.get("kind")
        where = _WHERE.get(self.name, f"the {kind} step")
        try:
            holds.count_unexpected_error(resources.engine(), resources.job_budget(), run_id, where, exc)
        except Exception:  # noqa: BLE001 - the failure itself is already logged by Celery
            log.warning("run %s: could not count its unexpected error", run_id, exc_info=True)


class Waiting(Exception):
    """Why a task visits again later: Flower shows it as the retry's reason."""


def readable(sig, run_id: int, set_id: str, what: str):  # type: ignore[no-untyped-def]
    """``sig`` as Flower shows it: ``run 8 migration on set 7593466560004641``, args ``run 8``."""
    return sig.set(shadow=f"run {run_id} {what} on set {set_id}", argsrepr=f"(run {run_id})")


def transient_countdown(exc: Exception, settings: Settings) -> float:
    """How long to wait after a transient Alma error: the next hour when the day's quota is spent,
    else its Retry-After, else the max poll."""
    retry_after = getattr(exc, "retry_after", None)
    if is_quota_hold(exc):
        return quota_countdown(utcnow())
    if retry_after:
        return float(retry_after)
    return settings.poll_max_seconds


def _transient_countdown(exc: Exception, run_id: int, where: str) -> float:
    """The wait after a transient error; a spent daily quota also holds the run with a clear status."""
    if is_quota_hold(exc):
        return holds.hold_for_quota(resources.engine(), run_id, exc)
    log.warning("run %s: %s: Alma unavailable (%s); trying again", run_id, where, exc)
    return transient_countdown(exc, resources.settings())


def _key_refused(run_id: int, where: str, exc: AlmaAuthError) -> RunStopped:
    """Alma refused the API key: retrying cannot help; the run stops with one line (no traceback)."""
    reason = holds.stop_key_refused(resources.engine(), resources.job_budget(), run_id, where, exc)
    return RunStopped(f"run {run_id}: {reason}")


def retry_countdown(nxt: Next, run_id: int) -> float | None:
    """What a step visit's answer means for the task: None = return (the chain goes on), a number =
    retry in that many seconds; :class:`RunStopped` is raised when the run cannot go on, and
    Celery's ``Ignore`` (this chain ends quietly, nothing recorded) when another chain drives it."""
    if nxt.action == "continue":
        return None
    if nxt.action == "retry":
        return nxt.countdown
    if nxt.action == "yield":
        raise Ignore()
    raise RunStopped(f"run {run_id}: {nxt.reason}")


@app.task(name="handles.preflight", base=PipelineTask, bind=True)
def preflight_task(self, run_id: int) -> None:  # type: ignore[no-untyped-def]
    """Read the set and its bibs; safe to run twice (records are upserted)."""
    try:
        preflight.preflight(
            engine=resources.engine(),
            alma=resources.alma_client(),
            settings=resources.settings(),
            run_id=run_id,
        )
    except TRANSIENT as exc:
        raise self.retry(countdown=_transient_countdown(exc, run_id, "preflight"), exc=exc) from None
    except AlmaAuthError as exc:
        raise _key_refused(run_id, "preflight", exc) from None
    except (PipelineError, RunNotFound) as exc:
        raise RunStopped(f"run {run_id}: {exc}") from None


@app.task(name="handles.run_step", base=PipelineTask, bind=True)
def run_step(self, run_id: int, kind: str, woken: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Submit (exactly once) or poll one Alma step; returns when its instance succeeded.
    ``woken``: sent by the webhook listener for the step a JOB_END event ended."""
    try:
        nxt = steps.drive_step(resources.pipeline_context(), run_id=run_id, kind=kind, woken=woken)
    except TRANSIENT as exc:
        raise self.retry(countdown=_transient_countdown(exc, run_id, kind), exc=exc) from None
    except AlmaAuthError as exc:
        raise _key_refused(run_id, f"{kind} step", exc) from None
    if nxt.prepare_after is not None:
        prepare_profile_set.apply_async((run_id,), countdown=nxt.prepare_after)
    countdown = retry_countdown(nxt, run_id)
    if countdown is not None:
        why = nxt.reason or f"Alma's {kind} job is not done yet"
        raise self.retry(
            countdown=countdown, exc=Waiting(f"run {run_id} {kind}: {why}; next look in {countdown:.0f} s")
        )


@app.task(name="handles.prepare_profile_set", acks_late=True)
def prepare_profile_set(run_id: int) -> str:
    """While the migration runs: make the set step 3 will run on, so that it starts with one call
    when the migration ends. Only a head start: whatever stops it here, step 3's own visit does it."""
    try:
        done = profile_set.prepare_profile_set_ahead(resources.pipeline_context(), run_id)
    except (AlmaError, RunNotFound) as exc:
        done = f"not made ahead ({type(exc).__name__}: {exc}); step 3 makes it when the migration ends"
    log.info("run %s: %s", run_id, done)
    return done


@app.task(name="handles.finish_run", base=PipelineTask, bind=True)
def finish_run(self, run_id: int) -> None:  # type: ignore[no-untyped-def]
    """Events (when Alma serves them), verification of every handle, classification of every record."""
    try:
        finish.finish_run(ctx=resources.pipeline_context(), run_id=run_id)
    except TRANSIENT as exc:
        raise self.retry(countdown=_transient_countdown(exc, run_id, "finish"), exc=exc) from None
    except AlmaAuthError as exc:
        raise _key_refused(run_id, "finish", exc) from None
    except (PipelineError, RunNotFound) as exc:
        raise RunStopped(f"run {run_id}: {exc}") from None


@app.task(name="handles.run_batches", base=PipelineTask, bind=True)
def run_batches(self, run_id: int) -> None:  # type: ignore[no-untyped-def]
    """A batch parent: start the next batches (each its own chain) while fewer than Alma's 3 jobs
    run; returns when every batch has ended (the chain then finishes the parent)."""
    from pipeline.batches import drive_batches

    try:
        visit = drive_batches(resources.pipeline_context(), run_id=run_id)
    except TRANSIENT as exc:
        raise self.retry(countdown=_transient_countdown(exc, run_id, "batches"), exc=exc) from None
    except AlmaAuthError as exc:
        raise _key_refused(run_id, "batches", exc) from None
    for child_id in visit.started:
        enqueue_run(child_id)
    countdown = retry_countdown(visit.next, run_id)
    if countdown is not None:
        raise self.retry(countdown=countdown)


def build_chain(run_id: int):  # type: ignore[no-untyped-def]
    """The chain of what is left to do for ``run_id`` (everything, for a new run)."""
    with resources.session_scope() as session:
        run = get_run(session, run_id)
        state, set_id = run.state, run.set_id
        remaining = remaining_steps(session, run_id)
        batched = run.batch_size is not None and run.batch_no is None
    links = []
    if state in (RunState.QUEUED, RunState.PREFLIGHT):
        links.append(readable(preflight_task.si(run_id), run_id, set_id, "preflight"))
    links += [readable(run_step.si(run_id, kind.value), run_id, set_id, kind.value) for kind in remaining]
    if batched:  # a batch parent: its batches run the jobs (pipeline.batches)
        links.append(readable(run_batches.si(run_id), run_id, set_id, "batches"))
    links.append(readable(finish_run.si(run_id), run_id, set_id, "verify and finish"))
    return chain(*links)


def enqueue_run(run_id: int) -> None:
    """Send the chain for ``run_id`` (idempotent: finished steps are left out, and each task checks)."""
    build_chain(run_id).apply_async()
