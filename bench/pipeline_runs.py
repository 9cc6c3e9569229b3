"""Driving the benchmark's worker: enqueueing runs, waiting for them, and what Alma and /proc say.

Used by ``bench/pipeline.py``. Runs are made and enqueued by a child process (as ``handles
migrate`` would), read back from the database, and their instances' times read from the sandbox.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from alma_counter import CountingApp

ROOT = Path(__file__).resolve().parents[1]
BROKER = "redis://127.0.0.1:6379/7"
STEPS = ("copy", "migration", "profile")

ENQUEUE = """
import sys
from pipeline.runs import create_run
from store.db import session_scope
from tasks.pipeline import enqueue_run
from workers import resources

ids = []
with session_scope(resources.engine()) as session:
    for set_id in sys.argv[1:]:
        ids.append(create_run(session=session, set_id=set_id, set_name=f"bench {set_id}").id)
for run_id in ids:
    enqueue_run(run_id)
print(" ".join(map(str, ids)))
"""


def flush_broker() -> None:
    import redis

    client = redis.Redis.from_url(BROKER, socket_connect_timeout=2)
    client.flushdb()
    client.close()


def enqueue(env: dict[str, str], set_ids: list[str]) -> list[int]:
    done = subprocess.run(
        [sys.executable, "-c", ENQUEUE, *set_ids],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"enqueue failed:\n{done.stderr[-3000:]}")
    return [int(x) for x in done.stdout.split()]


def runs_table(engine: Any, run_ids: list[int]) -> dict[int, dict[str, Any]]:
    from sqlalchemy import bindparam, text

    q = text("select id, state, error, created_at, finished_at from run where id in :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    sq = text("select run_id, kind, status, polls from step where run_id in :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    with engine.connect() as conn:
        runs = {
            r.id: {
                "state": r.state,
                "error": r.error,
                "created": _dt(r.created_at),
                "finished": _dt(r.finished_at),
                "polls": 0,
            }
            for r in conn.execute(q, {"ids": run_ids})
        }
        for s in conn.execute(sq, {"ids": run_ids}):
            runs[s.run_id]["polls"] += s.polls or 0
    return runs


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def wait_runs(engine: Any, run_ids: list[int], timeout: float) -> dict[int, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        runs = runs_table(engine, run_ids)
        if all(r["state"] in ("succeeded", "failed") for r in runs.values()):
            return runs
        if time.monotonic() > deadline:
            left = {i: r["state"] for i, r in runs.items() if r["state"] not in ("succeeded", "failed")}
            raise TimeoutError(f"runs not finished after {timeout:g}s: {left}")
        time.sleep(0.25)


def phase(
    env: dict[str, str], engine: Any, app: CountingApp, set_ids: list[str], timeout: float
) -> dict[str, Any]:
    """Enqueue ``set_ids`` together, wait for every run; wall time (DB clock) and Alma calls."""
    before, answers_before, other_before, mark = app.snapshot()
    run_ids = enqueue(env, set_ids)
    runs = wait_runs(engine, run_ids, timeout)
    after, answers_after, other_after, _ = app.snapshot()
    start = min(r["created"] for r in runs.values())
    end = max(r["finished"] or r["created"] for r in runs.values())
    per_run = [((r["finished"] or start) - r["created"]).total_seconds() for r in runs.values()]
    return {
        "set_ids": set_ids,
        "run_ids": run_ids,
        "runs": runs,
        "wall": (end - start).total_seconds(),
        "per_run": per_run,
        "calls": after - before,
        "answers": answers_after - answers_before,
        "other": other_after - other_before,
        "peak": app.peak_per_second(mark),
        "failed": {i: r["error"] for i, r in runs.items() if r["state"] != "succeeded"},
    }


def submission_delays(engine: Any, app: CountingApp, run_ids: list[int]) -> dict[str, list[float]]:
    """Alma's view: submit_time of step k+1's instance − end_time of step k's, per run.

    The instances are those the database recorded for each run (the profile may run on a set of its
    own); their times are read from the sandbox's state, not from our database.
    """
    from sqlalchemy import bindparam, text

    q = text("select run_id, kind, instance_id from step where run_id in :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    with engine.connect() as conn:
        found: dict[int, dict[str, str]] = {}
        for r in conn.execute(q, {"ids": run_ids}):
            if r.instance_id:
                found.setdefault(r.run_id, {})[r.kind] = r.instance_id
    state = app.app.state.sandbox
    delays: dict[str, list[float]] = {f"{a} → {b}": [] for a, b in zip(STEPS, STEPS[1:], strict=False)}
    with state.lock:
        for steps in found.values():
            for a, b in zip(STEPS, STEPS[1:], strict=False):
                if a in steps and b in steps:
                    prev, nxt = state.instances[steps[a]], state.instances[steps[b]]
                    if prev.end_time is not None:
                        delays[f"{a} → {b}"].append(nxt.submit_time - prev.end_time)
    return delays


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and all its descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    family, grew = {pid}, True
    while grew:
        more = {p for p, (ppid, _) in stats.items() if ppid in family} - family
        family |= more
        grew = bool(more)
    return sum(stats[p][1] for p in family if p in stats)
