"""The sandbox's switches: limits, fault injection, job timing.

Set at start-up (``running_sandbox(**config)``, ``handles sandbox --…``) and changed at run time
with ``POST /sandbox/config``. Unknown names and wrong types are refused with ``ValueError``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

JOB_FAILURE_STATUSES = ("FAILED", "COMPLETED_FAILED", "SYSTEM_ABORTED", "COMPLETED_WARNING")


@dataclass
class SandboxConfig:
    """Every switch, with its default. ``base_url`` is where the sandbox is served (for links)."""

    base_url: str = "http://127.0.0.1:8780"
    api_key: str = "sandbox-key"
    handle_prefix: str = "11084"
    target_template: str | None = (
        None  # default: {base_url}/discovery/fulldisplay/alma{mms_id}/01GCL_INST:GCL
    )
    sequence_start: int = 1742400001
    rate_limit_per_second: int = 25
    daily_quota: int = 100_000
    burst_429: int = 0  # the next N Alma requests answer 429 PER_SECOND_THRESHOLD
    burst_5xx: int = 0  # the next N Alma requests answer 500
    burst_5xx_landed: bool = False  # the 5xx comes after the request was carried out (ambiguous)
    events_api: bool = False  # serve /events instead of 60332
    job_seconds: float = 3.0
    fail_job: dict[str, Any] = field(default_factory=dict)  # {job_id: status | {"status","times"}}
    resolver_latency_ms: float = 0.0
    resolver_fail_every: int = 0
    profile_api: bool = False  # op=run allowed on the profile job (Alma: 402248, field-notes §10)
    hold_run_answer_seconds: float = 0.0  # answer op=run this late, after the job has started
    max_api_jobs_running: int = 3  # Alma's 402222: API-started jobs running at once
    max_runs_per_job_hour: int = 5  # Alma's 402223: API runs of one job in the past hour
    # JOB_END webhook (sandbox/webhooks.py): POST a signed event to this URL for each ended instance
    webhook_url: str | None = None
    webhook_secret: str = "sandbox-webhook-secret"
    webhook_drop: bool = False  # send nothing (the run must finish by polling alone)
    webhook_delay: float = 0.0  # seconds between an instance's end and its event
    webhook_duplicate: bool = False  # send every event twice
    webhook_reorder: bool = False  # send events in pairs, the later end first
    # a bulk edit's damage (field-notes §6): "ns0" stores a bib PUT's <record> with ns0:-style
    # prefixes (ElementTree's own), as Alma once did; "" stores it as sent
    bib_put_mangle: str = ""
    bib_put_mangle_times: int = 0  # only the next N PUTs are mangled (0: every PUT)

    def target_url(self, mms_id: str) -> str:
        """Where the profile points a record's handle."""
        template = self.target_template or (
            self.base_url.rstrip("/") + "/discovery/fulldisplay/alma{mms_id}/01GCL_INST:GCL"
        )
        return template.format(mms_id=mms_id)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``changes`` (validated first: nothing changes when one entry is wrong)."""
        known = {f.name: f for f in fields(self)}
        clean: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown sandbox switch {name!r}")
            clean[name] = _coerce(name, known[name].type, value)
        for name, value in clean.items():
            setattr(self, name, value)


def _coerce(name: str, annotation: Any, value: Any) -> Any:
    kind = str(annotation)
    try:
        if kind.startswith("bool"):
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if kind.startswith("int"):
            if isinstance(value, bool):
                raise TypeError
            result = int(value)
            if result < 0:
                raise ValueError
            return result
        if kind.startswith("float"):
            number = float(value)
            if number < 0:
                raise ValueError
            return number
        if kind.startswith("dict"):
            if not isinstance(value, dict):
                raise TypeError
            for job_id, spec in value.items():
                status = spec.get("status") if isinstance(spec, dict) else spec
                if status not in JOB_FAILURE_STATUSES:
                    raise ValueError
                if isinstance(spec, dict) and int(spec.get("times", 1)) < 0:
                    raise ValueError
                _ = job_id
            return dict(value)
        if kind.startswith("str | None"):
            return None if value in (None, "") else str(value)
        if name == "bib_put_mangle" and str(value) not in ("", "ns0"):
            raise ValueError
        return str(value)
    except (TypeError, ValueError):
        raise ValueError(f"bad value for sandbox switch {name!r}: {value!r}") from None
