"""The step state machine: submit each Alma job exactly once, in order, and follow it to the end.

Each call of :func:`drive_step` does one short piece of work and says what should happen next
(:class:`Next`): the Celery task maps that to "continue the chain", "retry in N seconds" or "stop".
Nothing here sleeps, so no worker is held while Alma works.

Exactly-once submission. Before ``op=run`` the step moves PENDING → SUBMITTING in one conditional
UPDATE (only one worker can win it) and an audit :class:`~store.models.Submission` row is written.
The job is posted with a unique ``job_name`` (``handles run N <step>``). If the answer is lost (a
timeout, a killed worker), the step is still SUBMITTING on the next visit: the job's instance list
is read and the instance with our ``job_name`` adopted. Only when none appears after a grace period
is the step put back to PENDING and posted again.

Order. A step is submitted only after the previous one reached a successful terminal status. The
profile step is refused unless this run's migration ended after the latest copy run for the same
set, whatever a user, a retry or a redelivered message does (seed 001: the profile before the
migration leaves handles broken).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from pipeline.budget import JobBudget
from pipeline.runs import fail_run, get_run, run_steps
from store.db import session_scope
from store.models import Run, RunState, Step, StepKind, StepStatus, Submission, utcnow

log = logging.getLogger("handles.pipeline")

__all__ = [
    "Next",
    "PipelineContext",
    "confirm_operator",
    "drive_step",
    "end_step",
    "job_name_for",
    "poll_countdown",
    "record_instance_state",
]


@dataclass(frozen=True)
class Next:
    """What the task should do after one visit."""

    action: str  # "continue" (step done: next link), "retry" (visit again in countdown s), "stop"
    countdown: float = 0.0
    reason: str | None = None

    @classmethod
    def cont(cls) -> Next:
        return cls("continue")

    @classmethod
    def retry(cls, countdown: float, reason: str | None = None) -> Next:
        return cls("retry", countdown, reason)

    @classmethod
    def stop(cls, reason: str) -> Next:
        return cls("stop", 0.0, reason)


@dataclass
class PipelineContext:
    engine: Engine
    alma: Any  # alma.AlmaClient
    settings: Any  # config.settings.Settings
    budget: JobBudget
    now: Callable[[], datetime] = utcnow

    @property
    def submit_grace(self) -> timedelta:
        """How long a SUBMITTING step is left to the worker posting it before others look again."""
        return timedelta(seconds=self.settings.alma_timeout_seconds * 3 + 30)


def job_name_for(run: Run, kind: str) -> str:
    """The unique job name we send, by which a lost submission is found in the instance list."""
    return f"handles run {run.id} {kind} - set {run.set_id}"


def poll_countdown(settings: Any, polls: int) -> float:
    """Adaptive backoff: POLL_MIN_SECONDS rising ×1.5 per poll up to POLL_MAX_SECONDS."""
    return float(min(settings.poll_max_seconds, settings.poll_min_seconds * (1.5 ** max(0, polls))))


def _member(step: Step) -> str:
    return f"step:{step.id}"


def _touch(session: Session, run: Run, state: RunState | None = None, wait_reason: str | None = None) -> None:
    now = utcnow()
    if state is not None:
        run.state = state
    run.wait_reason = wait_reason
    run.heartbeat_at = run.updated_at = now
    session.add(run)


def drive_step(ctx: PipelineContext, *, run_id: int, kind: str) -> Next:
    """One visit to step ``kind`` of run ``run_id``; see the module docstring."""
    with session_scope(ctx.engine) as session:
        run = get_run(session, run_id)
        steps = {s.kind: s for s in run_steps(session, run_id)}
        step = steps[kind]
        if run.state == RunState.FAILED:
            return Next.stop(f"run {run_id} has failed: {run.error}")
        if step.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED):
            ctx.budget.release(_member(step))  # ended by a webhook: its slot is freed here (idempotent)
            return Next.cont()
        if step.status in (StepStatus.FAILED, StepStatus.REFUSED):
            ctx.budget.release(_member(step))
            return Next.stop(step.error or f"step {kind} {step.status}")
        blocker = _earlier_unfinished(steps, step)
        if blocker is not None:
            # a duplicate or early message: the legitimate chain will get here in order
            log.info("run %s: %s not started, %s is %s", run_id, kind, blocker.kind, blocker.status)
            return Next.stop(f"{kind} waits for {blocker.kind} ({blocker.status})")
        status = step.status
    if status == StepStatus.PENDING:
        return _submit(ctx, run_id, kind)
    if status == StepStatus.SUBMITTING:
        return _settle_submission(ctx, run_id, kind)
    return _poll(ctx, run_id, kind)


def _earlier_unfinished(steps: dict[str, Step], step: Step) -> Step | None:
    for other in sorted(steps.values(), key=lambda s: s.position):
        if other.position >= step.position:
            return None
        if other.status not in (StepStatus.SUCCEEDED, StepStatus.SKIPPED):
            return other
    return None


def _profile_order_violation(session: Session, run: Run, steps: dict[str, Step]) -> str | None:
    """Why the profile must not run now, or None. Checked against every run of the same set."""
    migration = steps[StepKind.MIGRATION]
    if migration.status != StepStatus.SUCCEEDED or migration.ended_at is None:
        return f"the migration step is {migration.status}, not completed"
    latest_copy = session.exec(
        select(func.max(Step.ended_at))
        .join(Run, col(Run.id) == col(Step.run_id))
        .where(
            Run.set_id == run.set_id,
            Step.kind == StepKind.COPY,
            col(Step.ended_at).is_not(None),
            col(Step.status).in_([StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.RUNNING]),
        )
    ).one()
    running_copy = session.exec(
        select(Step.run_id)
        .join(Run, col(Run.id) == col(Step.run_id))
        .where(
            Run.set_id == run.set_id,
            Step.kind == StepKind.COPY,
            col(Step.status).in_([StepStatus.SUBMITTING, StepStatus.RUNNING]),
        )
    ).first()
    if running_copy is not None:
        return f"a copy job is running on set {run.set_id} (run {running_copy}); run the migration again after it"
    if latest_copy is not None and latest_copy > migration.ended_at:
        return (
            f"a copy job on set {run.set_id} ended at {latest_copy:%Y-%m-%d %H:%M:%S} UTC, after this run's "
            f"migration ({migration.ended_at:%Y-%m-%d %H:%M:%S}); the migration must run again first"
        )
    return None


def _refuse(session: Session, run: Run, step: Step, reason: str) -> Next:
    step.status = StepStatus.REFUSED
    step.error = f"refused: {reason}"
    session.add(step)
    session.add(
        Submission(
            run_id=run.id,
            step_id=step.id,
            alma_job_id=step.alma_job_id or "",  # type: ignore[arg-type]  # stored row: SQLModel types its id as Optional
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


def _submit(ctx: PipelineContext, run_id: int, kind: str) -> Next:
    settings = ctx.settings
    job_id = settings.job_id(kind)
    target_set = None
    if kind == StepKind.PROFILE:
        with session_scope(ctx.engine) as session:
            run = get_run(session, run_id)
            steps = {s.kind: s for s in run_steps(session, run_id)}
            violation = _profile_order_violation(session, run, steps)
            if violation:
                return _refuse(session, run, steps[kind], violation)
        from pipeline.profile_set import events_hold_reason, prepare_profile_set

        hold = events_hold_reason(ctx, run_id)
        if hold is not None:
            with session_scope(ctx.engine) as session:
                run = get_run(session, run_id)
                if run.wait_reason != hold:
                    log.warning("run %s: %s", run_id, hold)
                _touch(session, run, RunState.WAITING_OPERATOR, hold)
            return Next.retry(settings.poll_max_seconds, "waiting for the Events Report")
        target_set = prepare_profile_set(ctx, run_id)
        with session_scope(ctx.engine) as session:
            run = get_run(session, run_id)
            step = {s.kind: s for s in run_steps(session, run_id)}[kind]
            if target_set is None:
                step.status, step.ended_at = StepStatus.SKIPPED, ctx.now()
                step.error = (
                    "not run: no record is ready for it; repair the records, then their child run runs it"
                )
                session.add(step)
                log.warning("run %s: profile skipped: every record needs a repair first", run_id)
                return Next.cont()
            if run.profile_mode == "operator":
                return _operator_wait(ctx, session, run, step)
    with session_scope(ctx.engine) as session:
        run = get_run(session, run_id)
        step = {s.kind: s for s in run_steps(session, run_id)}[kind]
        decision = ctx.budget.try_reserve(_member(step), job_id)
        if not decision.granted:
            if run.wait_reason != decision.reason:
                log.info("run %s: %s %s", run_id, kind, decision.reason)
            _touch(session, run, RunState.WAITING, decision.reason)
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
            step_id=step.id,
            alma_job_id=job_id,
            set_id=run.set_id,  # type: ignore[arg-type]  # stored row: SQLModel types its id as Optional
            job_name=name,
            intent_at=now,
        )
        session.add(submission)
        _touch(session, run, RunState.RUNNING)
        set_id, step_id = target_set or run.set_id, step.id
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
    from alma.errors import AlmaApiError, AlmaError, AlmaJobOverlap, AlmaJobThreshold, AlmaRateLimited

    params = [p.as_alma() for p in ctx.settings.job_parameters(kind)]
    try:
        instance_id = ctx.alma.run_job(job_id, set_id=set_id, job_name=name, parameters=params)
    except (AlmaJobThreshold, AlmaJobOverlap, AlmaRateLimited) as exc:
        # Alma said no before creating anything: give the slot back and wait
        with session_scope(ctx.engine) as session:
            session.execute(
                update(Step)
                .where(col(Step.id) == step_id, col(Step.status) == StepStatus.SUBMITTING)
                .values(status=StepStatus.PENDING, intent_at=None)
            )
            _finish_submission(session, submission_id, "refused", None, _alma_words(exc))
            run = get_run(session, run_id)
            _touch(session, run, RunState.WAITING, f"waiting: Alma answered {_alma_words(exc)}")
        ctx.budget.cancel(f"step:{step_id}", job_id)
        log.info("run %s: %s not accepted yet: %s", run_id, kind, _alma_words(exc))
        return Next.retry(ctx.settings.poll_max_seconds, _alma_words(exc))
    except AlmaApiError as exc:
        # a definite refusal (unknown job, multi-task job, bad parameters): the run cannot go on
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
        ctx.budget.cancel(f"step:{step_id}", job_id)
        log.error("run %s: %s step failed: Alma refused job %s: %s", run_id, kind, job_id, _alma_words(exc))
        return Next.stop(_alma_words(exc))
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
        _touch(session, get_run(session, run_id), RunState.RUNNING)
    log.info("run %s: %s submitted: job %s instance %s", run_id, kind, job_id, instance_id)
    return Next.retry(ctx.settings.poll_min_seconds)


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


def _settle_submission(ctx: PipelineContext, run_id: int, kind: str) -> Next:
    """A step left SUBMITTING: adopt the instance Alma created for it, or post again if none exists."""
    with session_scope(ctx.engine) as session:
        step = {s.kind: s for s in run_steps(session, run_id)}[kind]
        job_id, name, intent_at, step_id = step.alma_job_id, step.job_name, step.intent_at, step.id
        run = get_run(session, run_id)
        set_id = run.set_id
    assert job_id and name and intent_at and step_id
    found = _find_instance(ctx, job_id, name, intent_at)
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
            _touch(session, get_run(session, run_id), RunState.RUNNING)
        log.info("run %s: %s adopted instance %s from Alma's instance list", run_id, kind, found)
        return Next.retry(ctx.settings.poll_min_seconds)
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
    return _submit(ctx, run_id, kind)


def _find_instance(ctx: PipelineContext, job_id: str, name: str, since: datetime) -> str | None:
    for instance in ctx.alma.list_instances(job_id, submitted_since=since.date()):
        if instance.name == name:
            return instance.id
    return None


def _poll(ctx: PipelineContext, run_id: int, kind: str) -> Next:
    with session_scope(ctx.engine) as session:
        step = {s.kind: s for s in run_steps(session, run_id)}[kind]
        job_id, instance_id, step_id = step.alma_job_id, step.instance_id, step.id
        run = get_run(session, run_id)
        if step.instance_id is None and run.profile_mode == "operator" and kind == StepKind.PROFILE:
            return _operator_wait(ctx, session, run, step)
    assert job_id and instance_id and step_id
    instance = ctx.alma.get_instance(job_id, instance_id)
    with session_scope(ctx.engine) as session:
        polled = session.get(Step, step_id)
        run = get_run(session, run_id)
        assert polled is not None
        step = polled
        record_instance_state(step, instance)
        step.polls += 1
        if not instance.is_terminal:
            if step.deadline_at and ctx.now() > step.deadline_at:
                reason = (
                    f"{kind} job {job_id} instance {instance_id} still {instance.status} after "
                    f"{ctx.settings.step_deadline_hours:g} h"
                )
                step.status, step.error, step.ended_at = StepStatus.FAILED, reason, ctx.now()
                session.add(step)
                fail_run(session, run, reason)
                ctx.budget.release(_member(step))
                log.error("run %s: %s", run_id, reason)
                return Next.stop(reason)
            session.add(step)
            _touch(session, run, RunState.RUNNING)
            return Next.retry(poll_countdown(ctx.settings, step.polls))
        result = end_step(session, run, step, instance, now=ctx.now(), via="poll")
    ctx.budget.release(f"step:{step_id}")
    return result


def record_instance_state(step: Step, instance: Any) -> None:
    """Write what Alma says of ``instance`` (an ``alma.JobInstance``) into ``step``: poll or webhook."""
    step.alma_status, step.alma_status_desc = instance.status, instance.status_desc
    step.progress, step.alerts = instance.progress, list(instance.alerts)
    step.counters = {instance.counter_labels.get(k, k): v for k, v in instance.counters.items()}
    step.started_at = instance.start_time.replace(tzinfo=None) if instance.start_time else step.started_at


def end_step(session: Session, run: Run, step: Step, instance: Any, *, now: datetime, via: str) -> Next:
    """``instance`` is terminal: the step succeeded or failed (and with it the run); ``via`` says
    how the end was learned ("poll" | "webhook"). The caller releases the job budget."""
    run_id, kind, job_id, instance_id = run.id, step.kind, step.alma_job_id, step.instance_id
    step.ended_via = step.ended_via or via
    step.ended_at = instance.end_time.replace(tzinfo=None) if instance.end_time else now
    if instance.is_success:
        step.status = StepStatus.SUCCEEDED
        session.add(step)
        _touch(session, run, RunState.RUNNING)
        log.info(
            "run %s: %s finished: instance %s %s, counters %s",
            run_id,
            kind,
            instance_id,
            instance.status,
            _counters_text(step.counters),
        )
        return Next.cont()
    else:
        reason = f"{kind} job {job_id} instance {instance_id} ended {instance.status}"
        if instance.alerts:
            reason += f" ({'; '.join(str(a) for a in instance.alerts)})"
        step.status, step.error = StepStatus.FAILED, reason
        session.add(step)
        fail_run(session, run, reason)
        log.error("run %s: %s; later steps are not submitted", run_id, reason)
        return Next.stop(reason)


def _counters_text(counters: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in counters.items()) or "none"


# --- operator mode ---------------------------------------------------------------------------


def operator_instructions(settings: Any, run: Run) -> str:
    return (
        f"waiting for the operator: in Alma, open Configuration > General > Integration Profiles > "
        f"'{settings.alma_profile_name}' > Edit > Actions; set Set name = "
        f"'{f'handles run {run.id} profile set' if run.profile_set_id else (run.set_name or run.set_id)}' "
        f"(set {run.profile_set_id or run.set_id}), Action = 'Create and Update', DC metadata Upon Create = 'Do not add to "
        f"metadata'; click Run. The run goes on when the new run of job {settings.alma_profile_job_id} "
        f"appears, or after `handles confirm {run.id}`."
    )


def _operator_wait(ctx: PipelineContext, session: Session, run: Run, step: Step) -> Next:
    """Operator mode: pause with instructions; adopt the profile run the operator starts in Alma."""
    settings = ctx.settings
    now = ctx.now()
    if run.operator_paused_at is None:
        run.operator_paused_at = now
        step.alma_job_id = settings.alma_profile_job_id
        session.add(step)
        log.info("run %s: %s", run.id, operator_instructions(settings, run))
    _touch(session, run, RunState.WAITING_OPERATOR, operator_instructions(settings, run))
    session.commit()
    paused_at = run.operator_paused_at
    found = None
    for instance in ctx.alma.list_instances(settings.alma_profile_job_id, submitted_since=paused_at.date()):
        submitted = instance.submit_time.replace(tzinfo=None) if instance.submit_time else None
        if submitted and submitted >= paused_at - timedelta(seconds=5):
            found = instance
            break
    if found is not None:
        step.status, step.instance_id, step.submitted_at = StepStatus.RUNNING, found.id, now
        session.add(step)
        session.add(
            Submission(
                run_id=run.id,
                step_id=step.id,
                alma_job_id=settings.alma_profile_job_id,  # type: ignore[arg-type]  # stored row: SQLModel types its id as Optional
                set_id=run.set_id,
                job_name=found.name or "",
                result="adopted",
                instance_id=found.id,
                finished_at=now,
                detail=f"run in Alma's UI by {found.submitted_by or 'an operator'}",
            )
        )
        _touch(session, run, RunState.RUNNING)
        log.info("run %s: the operator's profile run found: instance %s", run.id, found.id)
        return Next.retry(settings.poll_min_seconds)
    if run.operator_confirmed_at is not None:
        step.status, step.ended_at = StepStatus.SUCCEEDED, now
        step.error = "confirmed by the operator (no instance found to follow)"
        session.add(step)
        _touch(session, run, RunState.RUNNING)
        log.info("run %s: profile run confirmed by the operator", run.id)
        return Next.cont()
    return Next.retry(settings.poll_max_seconds, "waiting for the operator")


def confirm_operator(session: Session, run_id: int) -> str:
    """``handles confirm``: the operator ran the profile in Alma's UI, or waives the Events Report.

    Returns what was confirmed, in words.
    """
    from pipeline.errors import NotWaiting

    run = get_run(session, run_id)
    if run.state != RunState.WAITING_OPERATOR:
        raise NotWaiting(f"run {run_id} is {run.state}, not waiting for the operator")
    if (run.wait_reason or "").startswith("waiting for the Events Report"):
        run.events_waived_at = utcnow()
        what = "going on without the Events Report"
    else:
        run.operator_confirmed_at = utcnow()
        what = "the profile was run in Alma's UI"
    session.add(run)
    return what
