"""Benchmark: 20 migrations enqueued at once on one worker (concurrency 2) against the sandbox.

A real ``celery -A workers.app worker --concurrency=2`` subprocess, a Redis broker (db 7, flushed at
start), a private SQLite database, and the Alma sandbox served from this process (uvicorn in a
thread, behind a small ASGI wrapper that counts every request; the sandbox itself is unchanged
except for two limit switches). Printed:

* wall time of N sets enqueued together against one set alone (goal ≤ 2×: a worker is never held
  while Alma works, so N runs overlap instead of queueing behind each other);
* Alma calls per set against the minimum the work needs (per step one ``op=run`` and one final
  instance GET; preflight one set GET, one member page and one bib batch per 100 members);
* the delay between an Alma instance ending and the next step's ``op=run`` (Alma's own times from
  the sandbox: ``end_time`` of step k, ``submit_time`` of step k+1), median and max, against one
  poll interval (POLL_MAX_SECONDS, the ceiling of the adaptive interval).

Alma allows 3 API-started jobs running and 5 runs of one job per hour; N sets could never pass
through real Alma within an hour. This measures the worker system, so both limits are raised, in the
project's job budget (ALMA_MAX_API_JOBS_RUNNING, ALMA_MAX_RUNS_PER_JOB_HOUR) and in the sandbox
(switches ``max_api_jobs_running``, ``max_runs_per_job_hour``); the output says so. Each set is an
itemized set of its own records (made through the sandbox's Alma set API), so Alma's 60347 "job
overlaps" rule and shared records play no part. One unmeasured warm-up run comes first, so the
baseline does not carry the worker processes' first imports and connections.

Alma's 25 requests/s stay in force (ALMA_RATE_LIMIT and the sandbox's own limit); ``--rate-limit``
changes both, to see how much of the result is that limit. Also printed: the worker's CPU over the
batch (low CPU with slow progress means workers wait, e.g. in the rate limiter) and the peak Alma
requests in one second.

Two modes, printed one after the other and side by side at the end, in the same run: **polling**
(no webhook: every step followed by polls) and **webhook** (``ALMA_WEBHOOK_SECRET`` set, the
sandbox sending signed JOB_END events to a real ``handles webhook`` process; polls only as the
fallback every WEBHOOK_FALLBACK_POLL_SECONDS). Webhook goals: Alma calls per set ≤ 1.25× the
minimum (the minimum without the final instance GETs: the events replace them), and from an
instance's end to the next ``op=run`` a median ≤ 0.5 s, max ≤ 1 s. ``--modes`` picks one.

    .venv/bin/python bench/pipeline.py [--sets 20] [--records 3] [--job-seconds 8]
                                       [--poll-min 1] [--poll-max 4] [--concurrency 2]
                                       [--rate-limit 25] [--keep-log FILE]
                                       [--modes polling,webhook] [--fallback 600]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alma_counter import API, CountingApp, serving_sandbox  # noqa: E402  (this folder: the script's own)
from pipeline_report import RAISED_HOURLY, RAISED_RUNNING, report, side_by_side  # noqa: E402
from pipeline_runs import BROKER, cpu_seconds, flush_broker, phase, submission_delays  # noqa: E402

from sandbox.seed import GROUP_ALL, case_for, mms_for  # noqa: E402
from store.db import make_engine, upgrade_schema  # noqa: E402
from tests.support import sandbox_env, webhook_listener, worker_process  # noqa: E402

KEY = {
    "Authorization": "apikey sandbox-key",
    "Accept": "application/json",
}  # the sandbox answers XML by default, as Alma
WEBHOOK_SECRET = "bench-webhook-secret"

CASE_MIX = (
    "already_migrated",
    "conflict",
    "needs_copy_typed",
    "needs_copy",
    "ready",
    "https",
    "missing",
    "hdl_form",
    "spaces",
    "bad_url",
)


def set_members(count: int, records: int) -> list[list[str]]:
    """``count`` lists of ``records`` distinct generated MMS ids, each list with the same mix of cases."""
    free: dict[str, list[int]] = {case: [] for case in CASE_MIX}
    need = {case: 0 for case in CASE_MIX}
    for i in range(records):
        need[CASE_MIX[i % len(CASE_MIX)]] += count
    index = 0
    while any(len(free[c]) < need[c] for c in CASE_MIX):
        case = case_for(GROUP_ALL, index)
        if case in free and len(free[case]) < need[case]:
            free[case].append(index)
        index += 1
    return [
        [mms_for(GROUP_ALL, free[CASE_MIX[i % len(CASE_MIX)]].pop()) for i in range(records)]
        for _ in range(count)
    ]


def make_sets(url: str, count: int, records: int) -> list[str]:
    """``count`` itemized sets of ``records`` records each: no record shared, the same mix in each."""
    ids = []
    with httpx.Client(base_url=url + API, headers=KEY, timeout=30) as alma:

        def post(path: str, **kwargs: Any) -> httpx.Response:
            while True:  # the sandbox keeps Alma's 25 requests/s: wait out a 429
                answer = alma.post(path, **kwargs)
                if answer.status_code != 429:
                    return answer.raise_for_status()
                time.sleep(1.0)

        for n, member_ids in enumerate(set_members(count, records)):
            made = post(
                "/conf/sets",
                json={"name": f"bench set {n}", "type": {"value": "ITEMIZED"}, "content": {"value": "IEP"}},
            )
            set_id = made.json()["id"]
            members = [{"id": mms} for mms in member_ids]
            post(f"/conf/sets/{set_id}", params={"op": "add_members"}, json={"members": {"member": members}})
            ids.append(set_id)
    time.sleep(1.1)  # leave the next second's request budget to the runs
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", type=int, default=20)
    parser.add_argument("--records", type=int, default=3, help="records per set")
    parser.add_argument(
        "--job-seconds",
        type=float,
        default=8.0,
        help="Alma job length in the sandbox (real jobs take minutes)",
    )
    parser.add_argument("--poll-min", type=float, default=1.0)
    parser.add_argument("--poll-max", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=25,
        help="Alma requests/s: ALMA_RATE_LIMIT and the sandbox's limit (Alma's is 25)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="per phase, seconds")
    parser.add_argument("--keep-log", type=Path, help="copy the worker's log here (FILE.MODE.log)")
    parser.add_argument("--modes", default="polling,webhook", help="polling, webhook or both")
    parser.add_argument(
        "--fallback", type=float, default=600.0, help="WEBHOOK_FALLBACK_POLL_SECONDS in webhook mode"
    )
    args = parser.parse_args()

    flush_broker()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    with (
        tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp,
        serving_sandbox(
            job_seconds=args.job_seconds,
            max_api_jobs_running=RAISED_RUNNING,
            max_runs_per_job_hour=RAISED_HOURLY,
            rate_limit_per_second=args.rate_limit,
            profile_api=True,  # step 3 by API (else Alma's 402248: the run waits for an operator)
        ) as (url, app),
    ):
        db_url = f"sqlite:///{Path(tmp) / 'handles.db'}"
        engine = make_engine(db_url)
        upgrade_schema(engine)
        env = sandbox_env(
            url,
            database_url=db_url,
            broker_url=BROKER,
            REDIS_URL=BROKER,
            POLL_MIN_SECONDS=str(args.poll_min),
            POLL_MAX_SECONDS=str(args.poll_max),
            ALMA_MAX_API_JOBS_RUNNING=str(RAISED_RUNNING),
            ALMA_MAX_RUNS_PER_JOB_HOUR=str(RAISED_HOURLY),
            ALMA_RATE_LIMIT=str(args.rate_limit),
            WEBHOOK_FALLBACK_POLL_SECONDS=str(args.fallback),
        )
        env.pop("ALMA_WEBHOOK_SECRET", None)
        all_sets = make_sets(url, (args.sets + 2) * len(modes), args.records)
        results = []
        for n, mode in enumerate(modes):
            sets = all_sets[n * (args.sets + 2) : (n + 1) * (args.sets + 2)]
            try:
                base, batch = measure(mode, args, env, engine, app, sets, Path(tmp))
            except (TimeoutError, RuntimeError) as exc:
                print(f"benchmark failed ({mode} mode): {exc}", file=sys.stderr)
                return 1
            results.append((mode, base, batch, submission_delays(engine, app, batch["run_ids"])))
        engine.dispose()
        ok = all([report(args, base, batch, delays) for _, base, batch, delays in results])
        side_by_side(args, results)
    return 0 if ok else 1


def measure(
    mode: str,
    args: argparse.Namespace,
    env: dict[str, str],
    engine: Any,
    app: CountingApp,
    sets: list[str],
    tmp: Path,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One mode: a warm-up run, one set alone, then the batch; the worker (and listener) fresh."""
    warmup, alone, *batch_sets = sets
    log_path = tmp / f"worker-{mode}.log"
    state = app.app.state.sandbox
    try:
        with ExitStack() as stack:
            if mode == "webhook":
                env = {**env, "ALMA_WEBHOOK_SECRET": WEBHOOK_SECRET}
                hook = stack.enter_context(webhook_listener(env, tmp / "webhook.log"))
                with state.lock:
                    state.config.update({"webhook_url": hook, "webhook_secret": WEBHOOK_SECRET})
            worker = stack.enter_context(worker_process(env, log_path=log_path, concurrency=args.concurrency))
            print(f"[{mode}] worker ready; warm-up run on set {warmup}", file=sys.stderr)
            phase(env, engine, app, [warmup], args.timeout)
            print(f"[{mode}] one set alone: {alone}", file=sys.stderr)
            base = phase(env, engine, app, [alone], args.timeout)
            base["delays"] = submission_delays(engine, app, base["run_ids"])
            print(f"[{mode}] {len(batch_sets)} sets at once", file=sys.stderr)
            cpu_before, self_before = cpu_seconds(worker.pid), time.process_time()
            batch = phase(env, engine, app, batch_sets, args.timeout)
            batch["worker_cpu"] = cpu_seconds(worker.pid) - cpu_before
            batch["bench_cpu"] = time.process_time() - self_before
    except (TimeoutError, RuntimeError) as exc:
        tail = log_path.read_text()[-4000:] if log_path.exists() else ""
        raise RuntimeError(f"{exc}\n--- worker log (tail) ---\n{tail}") from None
    finally:
        with state.lock:
            state.config.update({"webhook_url": None})
        if args.keep_log and log_path.exists():
            args.keep_log.with_suffix(f".{mode}.log").write_bytes(log_path.read_bytes())
    base["mode"] = batch["mode"] = mode
    batch["event_lags"] = event_lags(engine, app, batch["run_ids"])
    return base, batch


def event_lags(engine: Any, app: CountingApp, run_ids: list[int]) -> list[float]:
    """Seconds from each instance's end (Alma's time) to its JOB_END event's delivery."""
    from sqlalchemy import bindparam, text

    q = text("select instance_id from step where run_id in :ids").bindparams(bindparam("ids", expanding=True))
    with engine.connect() as conn:
        ids = [r.instance_id for r in conn.execute(q, {"ids": run_ids}) if r.instance_id]
    state = app.app.state.sandbox
    with state.lock:
        found = [state.instances[i] for i in ids if i in state.instances]
        return [i.events_sent[0] - i.end_time for i in found if i.events_sent and i.end_time is not None]


if __name__ == "__main__":
    sys.exit(main())
