"""Submitting a step exactly once, and settling a submission whose answer was lost.

Before ``op=run`` the step moves PENDING → SUBMITTING in one conditional UPDATE (only one worker can
win it) and an audit :class:`~store.models.Submission` row is written. The job is posted with a
unique ``job_name`` (:func:`pipeline.context.job_name_for`). If the answer is lost (a timeout, a
killed worker), the step is still SUBMITTING on the next visit: the job's instance list is read and
the instance with our ``job_name`` adopted (:func:`alma.naming.instance_matches`, the one rule the client's settle path uses too). Only when
none appears after a grace period is the step put back to PENDING and posted again.

Before the profile step: the order guard (:mod:`pipeline.order`), the Events Report hold and the
profile's set (:mod:`pipeline.profile_set`), and operator mode (:mod:`pipeline.operator`). In
``auto`` mode a profile that Alma will not run by API (402248, 402249, 402231) goes to the
operator path instead of failing the run.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col

from alma.errors import (
    AlmaApiError,
    AlmaAuthError,
    AlmaError,
    AlmaJobNotSubmittable,
    AlmaJobOverlap,
    AlmaJobThreshold,
    AlmaRateLimited,
)
from alma.naming import instance_matches
from pipeline.context import (
    QUOTA_WAIT,
    Next,
    PipelineContext,
    budget_member,
    job_name_for,
    poll_countdown,
    quota_countdown,
    touch_run,
)
from pipeline.migration_events import events_hold_reason
from pipeline.operator import operator_wait, switch_to_operator
from pipeline.order import profile_order_violation
from pipeline.profile_set import ProfileSetBusy, prepare_profile_set
from pipeline.runs import fail_run
from store.db import session_scope
from store.models import Run, RunState, Step, StepKind, StepStatus, Submission, utcnow
from store.runs import get_run, step_of

log = logging.getLogger("handles.pipeline")

__all__ = ["find_instance", "settle_submission", "submit_step"]


def _refuse(session: Session, run: Run, step: Step, reason: str) -> Next:
    step.status = StepStatus.REFUSED
    step.error = f"refused: {reason}"
    session.add(step)
    session.add(
        Submission(
            run_id=run.id,  # type: ignore[arg-type]  # stored row: SQLModel types its id as Optional
            step_id=step.id,  # type: ignore[arg-type]  # stored row: SQLModel types its id as Optional
            alma_job_id=step.alma_job_id or "",
            set_id=run.set_id,
            job_name="",
            result="refused",
            detail=reason,
            finished_at=utcnow(),
        )
    )
    fail_run(session, run, f"{step.kind} step refused: {reason}")
    log.warning("run %s: %s step refused: %s", run.id, step.kind, reason)
    return Next.stop(step.error)


def _before_profile(ctx: PipelineContext, run_id: int, kind: str) -> Next | str:
    """The profile's checks: a Next when the visit ends here, else the set the profile runs on."""
    with session_scope(ctx.engine) as session:
        run = get_run(session, run_id)
        violation = profile_order_violation(session, run)
        if violation:
            return _refuse(session, run, step_of(session, run_id, kind), violation)
    hold = events_hold_reason(ctx, run_id)
    if hold is not None:
        with session_scope(ctx.engine) as session:
            run = get_run(session, run_id)
            if run.wait_reason != hold:
                log.warning("run %s: %s", run_id, hold)
            touch_run(session, run, RunState.WAITING_OPERATOR, hold)
        return Next.retry(ctx.settings.poll_max_seconds, "waiting for the Events Report")
    try:
        target_set = prepare_profile_set(ctx, run_id)
    except ProfileSetBusy:  # made ahead by the task sent with the migration: nearly done
        return Next.retry(ctx.settings.poll_min_seconds, "the profile's set is being made")
    with session_scope(ctx.engine) as session:
        run = get_run(session, run_id)
        step = step_of(session, run_id, kind)
        if target_set is None:
            step.status, step.ended_at = StepStatus.SKIPPED, ctx.now()
            step.error = (
                "not run: no record is ready for it; repair the records, then their child run runs it"
            )
            session.add(step)
            log.warning("run %s: profile skipped: every record needs a repair first", run_id)
            return Next.cont()
        if run.profile_mode == "operator":
            return operator_wait(ctx, session, run, step)
    return target_set


def submit_step(ctx: PipelineContext, run_id: int, kind: str) -> Next:
    """A PENDING step: reserve a budget slot, record the intent, post ``op=run``."""
    settings = ctx.settings
    job_id = settings.job_id(kind)
    target_set = None
    if kind == StepKind.PROFILE:
        checked = _before_profile(ctx, run_id, kind)
        if isinstance(checked, Next):
            return checked
        target_set = checked
    with session_scope(ctx.engine) as session:
        run = get_run(session, run_id)
        step = step_of(session, run_id, kind)
        decision = ctx.budget.try_reserve(budget_member(step.id), job_id)
        if not decision.granted:
            if run.wait_reason != decision.reason:
                log.info("run %s: %s %s", run_id, kind, decision.reason)
            touch_run(session, run, RunState.WAITING, decision.reason)
            return Next.retry(settings.poll_max_seconds, decision.reason)
        name = job_name_for(run, kind)
        now = ctx.now()
        won = session.exec(
            update(Step)
            .where(col(Step.id) == step.id, col(Step.status) == StepStatus.PENDING)
            .values(
                status=StepStatus.SUBMITTING,
                intent_at=now,
                job_name=name,
                alma_job_id=job_id,
                deadline_at=now + timedelta(hours=settings.step_deadline_hours),
            )
        ).rowcount
        if not won:
            return Next.retry(settings.poll_min_seconds, "another worker is submitting this step")
        submission = Submission(
            run_id=run_id,
            step_id=step.id,  # type: ignore[arg-type]  # stored row: SQLModel types its id as Optional
            alma_job_id=job_id,
            set_id=run.set_id,
            job_name=name,
            intent_at=now,
        )
        session.add(submission)
        touch_run(session, run, RunState.RUNNING)
        # copy and migration: the run's jobs set when preflight kept records out (pipeline.holdout)
        set_id, step_id = target_set or run.jobs_set_id or run.set_id, step.id
    # the intent is committed: from here a crash is settled by reading the instance list
    return _post(ctx, run_id, step_id, kind, job_id, set_id, name, submission.id)  # type: ignore[arg-type]  # committed row: SQLModel types its id as Optional


def _post(
    ctx: PipelineContext,
    run_id: int,
    step_id: int,
    kind: str,
    job_id: str,
    set_id: str,
    name: str,
    submission_id: int,
) -> Next:
    params = [p.as_alma() for p in ctx.settings.job_parameters(kind)]
    try:
        instance_id = ctx.alma.run_job(job_id, set_id=set_id, job_name=name, parameters=params)
    except (AlmaJobThreshold, AlmaJobOverlap, AlmaRateLimited) as exc:
        # Alma said no before creating anything: give the slot back and wait
        daily = isinstance(exc, AlmaRateLimited) and exc.daily
        reason = QUOTA_WAIT if daily else f"waiting: Alma answered {_alma_words(exc)}"
        with session_scope(ctx.engine) as session:
            _unpost(session, step_id, submission_id, exc)
            touch_run(session, get_run(session, run_id), RunState.WAITING, reason)
        ctx.budget.cancel(budget_member(step_id), job_id)
        log.info("run %s: %s not accepted yet: %s", run_id, kind, _alma_words(exc))
        if daily:
            return Next.retry(quota_countdown(ctx.now()), QUOTA_WAIT)
        return Next.retry(ctx.settings.poll_max_seconds, _alma_words(exc))
    except AlmaAuthError as exc:
        # the key is refused: nothing was created; the task stops the run (pipeline.holds)
        with session_scope(ctx.engine) as session:
            _unpost(session, step_id, submission_id, exc)
        ctx.budget.cancel(budget_member(step_id), job_id)
        raise
    except AlmaJobNotSubmittable as exc:
        # Alma does not run this job by API; in auto mode a person runs the profile in Alma's UI
        with session_scope(ctx.engine) as session:
            run = get_run(session, run_id)
            if kind == StepKind.PROFILE and run.profile_mode == "auto":
                _unpost(session, step_id, submission_id, exc)
                step = session.get(Step, step_id)
                assert step is not None
                ctx.budget.cancel(budget_member(step_id), job_id)
                return switch_to_operator(
                    ctx, session, run, step, exc.error_code, exc.error_message or str(exc)
                )
        return _refused_by_alma(ctx, run_id, step_id, kind, job_id, submission_id, exc)
    except AlmaApiError as exc:
        return _refused_by_alma(ctx, run_id, step_id, kind, job_id, submission_id, exc)
    except AlmaError as exc:
        # may or may not have landed: leave SUBMITTING; the next visit reads the instance list
        with session_scope(ctx.engine) as session:
            _finish_submission(session, submission_id, "unsettled", None, str(exc))
        log.warning(
            "run %s: %s submission unsettled (%s); will look for it in Alma's instance list",
            run_id,
            kind,
            exc,
        )
        return Next.retry(ctx.settings.poll_min_seconds, "submission unsettled")
    with session_scope(ctx.engine) as session:
        _record_instance(session, step_id, instance_id)
        _finish_submission(session, submission_id, "posted", instance_id, None)
        touch_run(session, get_run(session, run_id), RunState.RUNNING)
    log.info("run %s: %s submitted: job %s instance %s", run_id, kind, job_id, instance_id)
    first_look = poll_countdown(ctx.settings, 0)  # the fallback's, with the webhook
    if kind == StepKind.MIGRATION:
        # step 3's set is made while the migration runs (pipeline.profile_set), once the burst of
        # submissions is past: the longest poll interval after this one
        return Next.retry(first_look, prepare_after=ctx.settings.poll_max_seconds)
    return Next.retry(first_look)


def _refused_by_alma(
    ctx: PipelineContext,
    run_id: int,
    step_id: int,
    kind: str,
    job_id: str,
    submission_id: int,
    exc: AlmaApiError,
) -> Next:
    """A definite refusal (unknown job, multi-task job, bad parameters): the run cannot go on."""
    with session_scope(ctx.engine) as session:
        _finish_submission(session, submission_id, "refused", None, _alma_words(exc))
        run = get_run(session, run_id)
        step = session.get(Step, step_id)
        assert step is not None
        step.status, step.error, step.ended_at = (
            StepStatus.FAILED,
            f"Alma refused the job: {_alma_words(exc)}",
            utcnow(),
        )
        session.add(step)
        fail_run(session, run, f"{kind} step: Alma refused the job: {_alma_words(exc)}")
    ctx.budget.cancel(budget_member(step_id), job_id)
    log.error("run %s: %s step failed: Alma refused job %s: %s", run_id, kind, job_id, _alma_words(exc))
    return Next.stop(_alma_words(exc))


def _unpost(session: Session, step_id: int, submission_id: int, exc: Exception) -> None:
    """Alma created nothing: the step is PENDING again, the submission recorded as refused."""
    session.execute(
        update(Step)
        .where(col(Step.id) == step_id, col(Step.status) == StepStatus.SUBMITTING)
        .values(status=StepStatus.PENDING, intent_at=None)
    )
    _finish_submission(session, submission_id, "refused", None, _alma_words(exc))


def _alma_words(exc: Exception) -> str:
    code = getattr(exc, "error_code", None)
    message = getattr(exc, "error_message", None) or str(exc)
    return f"{code} {message}".strip() if code else message


def _finish_submission(
    session: Session, submission_id: int, result: str, instance_id: str | None, detail: str | None
) -> None:
    sub = session.get(Submission, submission_id)
    if sub is not None:
        sub.result, sub.instance_id, sub.detail, sub.finished_at = result, instance_id, detail, utcnow()
        session.add(sub)


def _record_instance(session: Session, step_id: int, instance_id: str) -> None:
    session.execute(
        update(Step)
        .where(col(Step.id) == step_id, col(Step.status) == StepStatus.SUBMITTING)
        .values(status=StepStatus.RUNNING, instance_id=instance_id, submitted_at=utcnow())
    )


def settle_submission(ctx: PipelineContext, run_id: int, kind: str) -> Next:
    """A step left SUBMITTING: adopt the instance Alma created for it, or post again if none exists."""
    with session_scope(ctx.engine) as session:
        step = step_of(session, run_id, kind)
        job_id, name, intent_at, step_id = step.alma_job_id, step.job_name, step.intent_at, step.id
        run = get_run(session, run_id)
        set_id = run.set_id
    assert job_id and name and intent_at and step_id
    found = find_instance(ctx, job_id, name, intent_at)
    if found is not None:
        with session_scope(ctx.engine) as session:
            _record_instance(session, step_id, found)
            session.add(
                Submission(
                    run_id=run_id,
                    step_id=step_id,
                    alma_job_id=job_id,
                    set_id=set_id,
                    job_name=name,
                    intent_at=intent_at,
                    result="adopted",
                    instance_id=found,
                    finished_at=utcnow(),
                    detail="found in Alma's instance list after an unsettled submission",
                )
            )
            touch_run(session, get_run(session, run_id), RunState.RUNNING)
        log.info("run %s: %s adopted instance %s from Alma's instance list", run_id, kind, found)
        # a first look soon, webhook or not: its JOB_END event may have come while the step was
        # still SUBMITTING, when the listener had no instance id to match it to
        prepare_after = ctx.settings.poll_max_seconds if kind == StepKind.MIGRATION else None
        return Next.retry(ctx.settings.poll_min_seconds, prepare_after=prepare_after)
    if ctx.now() - intent_at < ctx.submit_grace:
        return Next.retry(ctx.settings.poll_min_seconds, "submission in progress")
    # nothing reached Alma: it is safe to post again
    with session_scope(ctx.engine) as session:
        session.execute(
            update(Step)
            .where(
                col(Step.id) == step_id,
                col(Step.status) == StepStatus.SUBMITTING,
                col(Step.intent_at) == intent_at,
            )
            .values(status=StepStatus.PENDING)
        )
    log.info("run %s: %s: no instance named %r in Alma; submitting again", run_id, kind, name)
    return submit_step(ctx, run_id, kind)


def find_instance(ctx: PipelineContext, job_id: str, name: str, since: datetime) -> str | None:
    """The id of the instance of ``job_id`` we posted as ``name`` since ``since``, or None."""
    for instance in ctx.alma.list_instances(job_id, submitted_since=since.date()):
        if instance_matches(instance.name, name):
            return instance.id
    return None
