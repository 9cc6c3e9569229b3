"""What the pipeline's end-to-end tests share: the sets, the job ids, the environment of
their worker and commands (tests/integration/conftest.py's ``env``), and looks at the database and at the sandbox's log of submissions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from sandbox.testing import reset
from tests.support import handles, sandbox_env, wait_for

SEED_SET = "7593466560004641"
DEMO_SET = "7600000000004641"
COPY, MIGRATION, PROFILE = "M48401", "M48402", "M48403"


def pipeline_env(
    sandbox: str, redis_url: str, tmp_path: Path, *, switches: dict[str, Any] | None = None, **extra: str
) -> dict[str, str]:
    """The sandbox reset (with ``switches``), a fresh SQLite database, Redis as broker and RedBeat
    store; ``extra`` settings on top."""
    reset(sandbox, **(switches or {}))
    return sandbox_env(
        sandbox,
        database_url=f"sqlite:///{tmp_path / 'handles.db'}",
        broker_url=redis_url,
        **{"REDIS_URL": redis_url, "STALL_SECONDS": "4", **extra},
    )


def status_json(env: dict[str, str], run_id: int) -> dict:
    result = handles(env, "status", str(run_id), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def submissions(sandbox: str) -> list[dict]:
    log = httpx.get(f"{sandbox}/sandbox/log", timeout=10).json()
    entries = log["entries"] if isinstance(log, dict) else log
    return [e for e in entries if e.get("job_id") in (COPY, MIGRATION, PROFILE)]


def run_state(db_url: str, run_id: int) -> dict:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        state = conn.execute(text("select state, error from run where id = :id"), {"id": run_id}).one()
        steps = {
            k: (s, i)
            for k, s, i in conn.execute(
                text("select kind, status, instance_id from step where run_id = :id"), {"id": run_id}
            )
        }
        outcomes = dict(
            conn.execute(text("select mms_id, outcome from record where run_id = :id"), {"id": run_id}).all()
        )
    engine.dispose()
    return {"state": state[0], "error": state[1], "steps": steps, "outcomes": outcomes}


def operator_pause(env: dict[str, str], run_id: int, *, what: str = "the operator pause") -> dict:
    """``handles status RUN_ID --json`` once the run waits for the operator.

    The database is watched (a command line each look would cost 0.8 s of a 2-core machine), then
    status is asked once: the run keeps waiting until the operator acts.
    """
    wait_for(
        lambda: run_state(env["DATABASE_URL"], run_id)["state"] == "waiting_operator", timeout=90, what=what
    )
    snap = status_json(env, run_id)
    assert snap["state"] == "waiting_operator", snap
    return snap
