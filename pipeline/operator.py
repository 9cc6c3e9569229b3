"""Operator mode: step 3 run by a person in Alma's UI, found in the job's instance list.

Ex Libris documents no API to run an integration profile, so where ``op=run`` is not used the run
pauses before step 3 with instructions (``handles status`` shows them), adopts the first new
instance of the profile's job after the pause, or goes on after ``handles confirm``. The same
command waives the Events Report hold (:func:`pipeline.migration_events.events_hold_reason`).

In ``auto`` mode the profile is first submitted by API; when Alma refuses it for what the job is
(402248, 402249, 402231), :func:`switch_to_operator` turns that run into an operator-mode run, and
the profile step's note keeps why (the first words of the wait reason repeat it).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import Session, select

from config.settings import Settings
from pipeline.context import Next, PipelineContext, touch_run
from pipeline.errors import NotWaiting
from store.models import Run, RunState, Step, StepStatus, Submission, utcnow
from store.runs import get_run

log = logging.getLogger("handles.pipeline")

__all__ = [
    "API_REFUSED",
    "confirm_operator",
    "operator_instructions",
    "operator_wait",
    "switch_to_operator",
]

# the profile step's note after an auto-mode switch; also what the wait reason says in brackets
API_REFUSED = "Alma refused the profile by API"


def operator_instructions(settings: Settings, run: Run, why: str | None = None) -> str:
    """What to click in Alma, in one paragraph; ``why`` (in brackets) says why a person must."""
    because = f" ({why})" if why else ""
    return (
        f"waiting for the operator{because}: in Alma, open Configuration > General > Integration Profiles > "
        f"'{settings.alma_profile_name}' > Edit > Actions; set Set name = "
        f"'{f'handles run {run.id} profile set' if run.profile_set_id else (run.set_name or run.set_id)}' "
        f"(set {run.profile_set_id or run.set_id}), Action = 'Create and Update', DC metadata Upon Create = 'Do not add to "
        f"metadata'; click Run. The run goes on when the new run of job {settings.alma_profile_job_id} "
        f"appears, or after `handles confirm {run.id}`."
    )


def switch_to_operator(
    ctx: PipelineContext, session: Session, run: Run, step: Step, code: str | None, message: str
) -> Next:
    """Auto mode, Alma refused ``op=run`` on the profile: the run goes on by the operator path.

    The caller has put the step back to PENDING and given back its budget slot; nothing reached
    Alma. From here the run is an operator-mode run (its ``profile_mode`` says so).
    """
    run.profile_mode = "operator"
    said = f"{code}: {message}" if code else message
    step.error = f"{API_REFUSED}, {said.rstrip('.')}; run in Alma's UI instead"
    session.add(step)
    log.warning(
        "run %s: Alma refused to run the profile job %s by API (%s); switching this run to the "
        "operator path: run the profile in Alma's UI, or `handles confirm %s`",
        run.id,
        ctx.settings.alma_profile_job_id,
        f"{code} {message}" if code else message,
        run.id,
    )
    return operator_wait(ctx, session, run, step)


def _why(step: Step) -> str | None:
    note = step.error or ""
    return note.split(":", 1)[0] if note.startswith(API_REFUSED) else None


def operator_wait(ctx: PipelineContext, session: Session, run: Run, step: Step) -> Next:
    """Operator mode: pause with instructions; adopt the profile run the operator starts in Alma."""
    settings = ctx.settings
    now = ctx.now()
    instructions = operator_instructions(settings, run, _why(step))
    if run.operator_paused_at is None:
        run.operator_paused_at = now
        step.alma_job_id = settings.alma_profile_job_id
        session.add(step)
        log.info("run %s: %s", run.id, instructions)
    # several runs waiting for a profile run in Alma's UI: an instance does not say which set it ran
    # on, so adopting one could give a run another run's profile run. Then the operator says which.
    ambiguous = bool(_others_waiting(session, run))
    if ambiguous:
        instructions += (
            f" Other runs also wait for a profile run in Alma's UI, so this run will not guess which"
            f" is its own: after running it, type `handles confirm {run.id}`."
        )
    touch_run(session, run, RunState.WAITING_OPERATOR, instructions)
    session.commit()
    paused_at = run.operator_paused_at
    found = None
    followed = _followed_instances(session, settings.alma_profile_job_id)
    candidates = (
        []
        if ambiguous
        else ctx.alma.list_instances(settings.alma_profile_job_id, submitted_since=paused_at.date())
    )
    for instance in candidates:
        submitted = instance.submit_time.replace(tzinfo=None) if instance.submit_time else None
        if not submitted or submitted < paused_at - timedelta(seconds=5):
            continue
        if instance.id in followed or _by_api(instance.submitted_by):
            continue  # another run's profile run, or one submitted by an application, not a person
        found = instance
        break
    if found is not None:
        step.status, step.instance_id, step.submitted_at = StepStatus.RUNNING, found.id, now
        session.add(step)
        session.add(
            Submission(
                run_id=run.id,  # type: ignore[arg-type]  # stored row: SQLModel types its id as Optional
                step_id=step.id,  # type: ignore[arg-type]  # stored row: SQLModel types its id as Optional
                alma_job_id=settings.alma_profile_job_id,
                set_id=run.set_id,
                job_name=found.name or "",
                result="adopted",
                instance_id=found.id,
                finished_at=now,
                detail=f"run in Alma's UI by {found.submitted_by or 'an operator'}",
            )
        )
        touch_run(session, run, RunState.RUNNING)
        log.info("run %s: the operator's profile run found: instance %s", run.id, found.id)
        return Next.retry(settings.poll_min_seconds)
    if run.operator_confirmed_at is not None:
        step.status, step.ended_at = StepStatus.SUCCEEDED, now
        step.error = "confirmed by the operator (no instance found to follow)"
        session.add(step)
        touch_run(session, run, RunState.RUNNING)
        log.info("run %s: profile run confirmed by the operator", run.id)
        return Next.cont()
    return Next.retry(settings.poll_max_seconds, "waiting for the operator")


def _others_waiting(session: Session, run: Run) -> list[int]:
    """Other runs that also wait for a profile run in Alma's UI (not for the Events Report)."""
    rows = session.exec(
        select(Run.id, Run.wait_reason).where(Run.state == RunState.WAITING_OPERATOR, Run.id != run.id)
    ).all()
    return [
        rid
        for rid, reason in rows
        if rid is not None and not (reason or "").startswith("waiting for the Events Report")
    ]


def _followed_instances(session: Session, job_id: str) -> set[str]:
    """Instances of ``job_id`` some step already follows: never adopted a second time."""
    rows = session.exec(select(Step.instance_id).where(Step.alma_job_id == job_id)).all()
    return {i for i in rows if i}


def _by_api(submitted_by: str | None) -> bool:
    """Alma's mark of a job run submitted through the API (recorded: ``exl_api``)."""
    return (submitted_by or "").strip().lower() in {"exl_api", "api"}


def confirm_operator(session: Session, run_id: int) -> str:
    """``handles confirm``: the operator ran the profile in Alma's UI, or waives the Events Report.

    Returns what was confirmed, in words.
    """
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
