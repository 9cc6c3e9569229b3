"""The sandbox's whole state: records, sets, job instances, the run log, the handle registry, counters.

One :class:`SandboxState` per sandbox; every method takes the one lock, so the HTTP handlers and
the background ticker can share it. The clock is injectable for unit tests.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox import effects, seed
from sandbox.config import SandboxConfig
from sandbox.dc import title as dc_title
from sandbox.jobs import JOBS_BY_ID, PROFILE, Instance, iso
from sandbox.limits import AlmaGate
from sandbox.registry import HandleRegistry

STAFF_USER = {"value": "000538225", "desc": "McFate, Mark"}
API_USER = {"value": "exl_api", "desc": "Ex Libris, API"}  # as recorded (alma-samples S01)
_JOB_ID = re.compile(r"^[MSO]\d+$")
INVENTED_WRONG_CONTENT = "402230"  # sandbox's own code: Alma's real one is UNCONFIRMED


class AlmaFault(Exception):
    """An Alma error answer: HTTP status, errorCode, errorMessage."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass
class Record:
    mms_id: str
    pid: str | None
    xml: str
    alma_handle: str | None
    case: str
    lock_once: bool = False

    @property
    def title(self) -> str:
        return dc_title(self.xml) or f"Record {self.mms_id}"


class SandboxState:
    """Everything the sandbox knows; fresh and deterministic after construction or :meth:`reset`."""

    def __init__(
        self, config: SandboxConfig | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.initial_config = SandboxConfig(**(config or SandboxConfig()).as_dict())
        self.registry = HandleRegistry()
        self.on_instance_end: Callable[[Instance], None] | None = None  # sandbox.webhooks sets it
        self.reset()

    # --- lifecycle -------------------------------------------------------------------------------
    def reset(self, changes: dict[str, Any] | None = None) -> None:
        """Back to the seed and the start-up config (plus ``changes``)."""
        with self.lock:
            config = SandboxConfig(**self.initial_config.as_dict())
            if changes:
                config.update(changes)
            self.config = config
            self.gate = AlmaGate()
            self.records: dict[str, Record] = {}
            for rec in seed.seed_000_records():
                self.records[rec.mms_id] = Record(rec.mms_id, rec.pid, rec.xml, rec.alma_handle, rec.case)
            self.sets = {s.id: s for s in seed.seed_sets()}
            self.instances: dict[str, Instance] = {}
            self.log: list[dict[str, Any]] = []
            self.next_sequence = config.sequence_start
            self._instance_counter = 0
            self._set_counter = 0
            self.resolver_lookups = 0
            self.registry.clear()
            for handle, mms in seed.preexisting_handles():
                self.registry.set_url(
                    handle, config.target_url(mms), source="alma", prefix=config.handle_prefix
                )

    # --- records and sets ------------------------------------------------------------------------
    def record(self, mms_id: str) -> Record | None:
        with self.lock:
            rec = self.records.get(mms_id)
            if rec is None:
                gen = seed.generated_record(mms_id)
                if gen is None:
                    return None
                rec = Record(gen.mms_id, gen.pid, gen.xml, gen.alma_handle, gen.case, gen.lock_once)
                self.records[mms_id] = rec
            return rec

    def get_set(self, set_id: str) -> seed.SeedSet:
        with self.lock:
            found = self.sets.get(set_id) if set_id.isdigit() else None
            if found is None:
                raise AlmaFault("60107", f"Set {set_id} is invalid or does not exist.")
            return found

    def member_ids(self, set_id: str) -> list[str]:
        with self.lock:
            return list(self.get_set(set_id).members)

    def create_set(self, *, name: str, description: str, content: str, set_type: str) -> seed.SeedSet:
        with self.lock:
            if not name:
                raise AlmaFault("402265", "Failed to create set: name is mandatory.")
            if set_type != "ITEMIZED":
                raise AlmaFault("402262", f"Set type {set_type} is not supported; create an ITEMIZED set.")
            if any(s.name == name for s in self.sets.values()):
                raise AlmaFault("402263", f"A set with the name '{name}' already exists.")
            self._set_counter += 1
            set_id = f"7610{self._set_counter:07d}04641"
            new = seed.SeedSet(
                set_id,
                name,
                description,
                content or "BIB_MMS",
                [],
                origin="API",
                created=iso(self.clock()) or "",
            )
            self.sets[set_id] = new
            return new

    def delete_set(self, set_id: str) -> None:
        with self.lock:
            self.get_set(set_id)
            del self.sets[set_id]

    def add_members(self, set_id: str, ids: list[str], *, fail_on_invalid_id: bool = True) -> seed.SeedSet:
        with self.lock:
            target = self.get_set(set_id)
            if len(ids) > 1000:
                raise AlmaFault("60118", "The number of members exceeds the limit of 1000 per request.")
            present = set(target.members)
            seen: set[str] = set()
            to_add = []
            for mms in ids:
                if mms in seen:
                    if fail_on_invalid_id:
                        raise AlmaFault("60119", f"Member {mms} appears more than once in the request.")
                    continue
                seen.add(mms)
                if mms in present:
                    if fail_on_invalid_id:
                        raise AlmaFault("60115", f"Member {mms} is already in the set.")
                    continue
                if target.content != "USER" and self.record(mms) is None:
                    if fail_on_invalid_id:
                        raise AlmaFault("60120", f"Member {mms} is not valid for the set content type.")
                    continue
                to_add.append(mms)
            target.members.extend(to_add)
            return target

    def mint_handle(self) -> str:
        """The next handle of the control number sequence not already taken."""
        with self.lock:
            while True:
                handle = f"{self.config.handle_prefix}/{self.next_sequence}"
                self.next_sequence += 1
                if self.registry.get_any(handle) is None:
                    return handle

    # --- jobs ------------------------------------------------------------------------------------
    def run_job(
        self,
        job_id: str,
        *,
        parameters: list[dict[str, Any]],
        via_api: bool = True,
        submitted_by: dict[str, str] | None = None,
    ) -> Instance:
        """Start an instance, with Alma's checks (raises :class:`AlmaFault`)."""
        with self.lock:
            now = self.clock()
            self.tick(now)
            job = self.job(job_id)
            values = {_param_name(p): p.get("value") for p in parameters if isinstance(p, dict)}
            if "set_id" not in values:
                raise AlmaFault("402228", "Mandatory parameter set_id is missing.")
            set_id = str(values.get("set_id") or "").strip()
            if not set_id:
                raise AlmaFault("402229", "Mandatory parameter set_id is empty.")
            the_set = self.get_set(set_id)
            if via_api and job.id == PROFILE and not self.config.profile_api:
                raise AlmaFault("402248", "Cannot submit scheduled job.")
            if job.effect and the_set.content == "USER":
                raise AlmaFault(
                    INVENTED_WRONG_CONTENT, f"The set content type USER is not valid for job {job.name}."
                )
            active = [i for i in self.instances.values() if not i.is_terminal()]
            if any(i.job.id == job.id and i.set_id == set_id for i in active):
                raise AlmaFault("60347", "Job overlapps with running job - cannot execute.")
            limit = self.config.max_api_jobs_running
            if via_api and sum(1 for i in active if i.via_api) >= limit:
                raise AlmaFault(
                    "402222", f"Execution threshold reached: {limit} API jobs are already running."
                )
            recent = [
                i
                for i in self.instances.values()
                if i.via_api and i.job.id == job.id and i.submit_time > now - 3600
            ]
            hourly = self.config.max_runs_per_job_hour
            if via_api and len(recent) >= hourly:
                raise AlmaFault(
                    "402223", f"Execution threshold reached: this job ran {hourly} times in the last hour."
                )
            self._instance_counter += 1
            iid = f"760{100000 + self._instance_counter:06d}0004641"
            job_name = str(values.get("job_name") or "").strip()
            name = alma_instance_name(job_name or f"{job.name} - {the_set.name}", now)
            fail_status = self._take_failure(job.id)
            inst = Instance(
                id=iid,
                external_id=f"760{200000 + self._instance_counter:06d}0004641",
                job=job,
                name=name,
                set_id=set_id,
                parameters=list(parameters),
                submitted_by=dict(submitted_by or (API_USER if via_api else STAFF_USER)),
                via_api=via_api,
                submit_time=now,
                duration=self.config.job_seconds,
                fail_status=fail_status,
            )
            self.instances[iid] = inst
            self.log.append(
                {
                    "job_id": job.id,
                    "set_id": set_id,
                    "job_name": job_name,
                    "instance_name": name,
                    "instance_id": iid,
                    "submitted_by": inst.submitted_by["value"],
                    "time": iso(now),
                }
            )
            return inst

    def _take_failure(self, job_id: str) -> str | None:
        spec = self.config.fail_job.get(job_id)
        if spec is None:
            return None
        if isinstance(spec, dict):
            times = int(spec.get("times", 1))
            status = str(spec["status"])
            if times <= 1:
                self.config.fail_job.pop(job_id)
            else:
                self.config.fail_job[job_id] = {"status": status, "times": times - 1}
            return status
        return str(spec)

    def job(self, job_id: str):  # -> JobDef
        if not _JOB_ID.match(job_id or ""):
            raise AlmaFault("402215", f"Job ID {job_id} is not in a valid format.")
        job = JOBS_BY_ID.get(job_id)
        if job is None:
            raise AlmaFault("402216", f"Job ID {job_id} is invalid.")
        return job

    def instance(self, job_id: str, instance_id: str) -> Instance:
        with self.lock:
            self.tick()
            if job_id != "ALL":
                self.job(job_id)
            inst = self.instances.get(instance_id)
            if inst is None or (job_id != "ALL" and inst.job.id != job_id):
                raise AlmaFault("402218", f"Instance ID {instance_id} is invalid.")
            return inst

    def tick(self, now: float | None = None) -> int:
        """Finish every due instance: apply its effects exactly once. Returns how many finished."""
        with self.lock:
            now = self.clock() if now is None else now
            finished = 0
            for inst in sorted(self.instances.values(), key=lambda i: i.submit_time):
                if not inst.due(now):
                    continue
                end = inst.submit_time + inst.duration
                if inst.fail_status:
                    effects.apply_failure(inst, inst.fail_status)
                    inst.final_status = inst.fail_status
                else:
                    effects.apply(self, inst, end)
                    inst.final_status = "COMPLETED_SUCCESS"
                inst.end_time = end
                finished += 1
                if self.on_instance_end is not None:
                    self.on_instance_end(inst)
            return finished

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Unit-test helper: tick until no instance is running (real clock)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.tick()
            with self.lock:
                if all(i.is_terminal() for i in self.instances.values()):
                    return True
            time.sleep(0.02)
        return False


def alma_instance_name(job_name: str, now: float) -> str:
    """Alma's instance name: the run's ``job_name`` + `` - `` + the tenant's local date and time,
    ``"… - 2025-10-05 4:11 AM"`` (recorded: alma-samples S01). The sandbox's local time stands in
    for the tenant's time zone."""
    local = time.localtime(now)
    hour = local.tm_hour % 12 or 12
    noon = "AM" if local.tm_hour < 12 else "PM"
    return f"{job_name} - {time.strftime('%Y-%m-%d', local)} {hour}:{local.tm_min:02d} {noon}"


def _param_name(param: dict[str, Any]) -> str:
    name = param.get("name")
    if isinstance(name, dict):
        return str(name.get("value", ""))
    return str(name or "")
