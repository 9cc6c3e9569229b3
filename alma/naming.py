"""How the product recognises its own job instance under Alma's naming.

Alma names an API run's instance after the ``job_name`` parameter, followed by the local date and
time of the submission: ``"<job_name> - 2025-10-05 4:11 AM"`` (recorded: alma-samples S01). Older
tenants and other jobs show other date forms (S14: ``"… - 04/15/2015 16:07"``), and an instance may
also carry the bare name. One function decides, for the client's settle path and the pipeline's
recovery path alike; it prefers a false "found" (which the caller then checks, e.g. by set id and
submit time) over a second submission.
"""

from __future__ import annotations

__all__ = ["instance_matches"]

_SEPARATOR = " - "


def instance_matches(instance_name: str, job_name: str) -> bool:
    """True when ``instance_name`` is ``job_name`` exactly or ``job_name`` + `` - `` + any text.

    Whitespace at either end and runs of inner spaces are not significant (Alma trims names). An
    empty ``job_name`` matches nothing: without a name there is nothing to recognise.
    """
    wanted = " ".join((job_name or "").split())
    if not wanted:
        return False
    got = " ".join((instance_name or "").split())
    if got == wanted:
        return True
    return got.startswith(wanted + _SEPARATOR) and bool(got[len(wanted) + len(_SEPARATOR) :].strip())
